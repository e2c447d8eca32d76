"""``AtomicCheckpointHook``: mmengine's CheckpointHook with checkpoints you can trust.

Enable it in any config that imports the plugin (the project's ``tools/train.py`` does this for
you when the config uses mmengine's ``CheckpointHook``)::

    default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))

What it changes, and nothing else (every ``CheckpointHook`` argument works as before):

* checkpoints are written with the ``'atomic_local'`` file backend (temporary file, fsync,
  ``os.replace``; see :mod:`.atomic_io`) unless the config gives ``backend_args`` or a remote
  ``out_dir``; ``last_checkpoint`` is then updated the same way;
* with ``max_keep_ckpts`` the oldest checkpoint is deleted *after* the new one is in place
  (mmengine deletes it first, so a kill during the save could leave none);
* stale temporary files of a killed writer are removed when training starts;
* when resuming without a path (``--resume`` or ``resume=True`` with no ``load_from``), it picks
  the newest checkpoint that loads (:func:`.resume.find_intact_checkpoint`) instead of trusting
  ``last_checkpoint``. ``before_run`` runs before ``Runner.load_or_resume`` in both
  ``Runner.train`` and ``Runner.test``, so setting the runner's ``_load_from`` (the only way the
  Runner takes a path; it has no setter) is what mmengine then resumes from.
"""
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from .atomic_io import AtomicLocalBackend, remove_stale_temporaries
from .resume import find_intact_checkpoint


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` with atomic saves and resume that finds the newest
    intact checkpoint (see the module docstring). Same arguments."""

    def __init__(self, *args, out_dir=None, backend_args: Optional[dict] = None,
                 file_client_args: Optional[dict] = None, **kwargs) -> None:
        local = out_dir is None or '://' not in str(out_dir)
        if backend_args is None and file_client_args is None and local:
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, out_dir=out_dir, backend_args=backend_args,
                         file_client_args=file_client_args, **kwargs)

    def before_run(self, runner) -> None:
        if runner._resume and runner._load_from is None:
            found = find_intact_checkpoint(runner.work_dir, logger=runner.logger)
            if found is not None:
                runner._load_from = found

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, AtomicLocalBackend):
            for directory in {self.out_dir, runner.work_dir}:
                for path in remove_stale_temporaries(directory):
                    runner.logger.info(f'removed {path}, left by a save that was interrupted')

    def _pointer_backend(self) -> AtomicLocalBackend:
        """The backend that writes ``work_dir/last_checkpoint`` (always a local file)."""
        if isinstance(self.file_backend, AtomicLocalBackend):
            return self.file_backend
        return get_file_backend(backend_args=dict(backend='atomic_local'))

    def _next_to_delete(self, runner, step) -> Optional[int]:
        """mmengine's ``max_keep_ckpts`` bookkeeping; returns the step whose file must go."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return None
        dropped = None
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            dropped = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return dropped

    def _delete(self, step: int) -> None:
        path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step))
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed are directories
            self.file_backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine's method, reordered: save, then point last_checkpoint at it, then delete
        dropped = self._next_to_delete(runner, step)
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, ckpt_filename, self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        self._pointer_backend().put_text(self.last_ckpt, osp.join(runner.work_dir,
                                                                  'last_checkpoint'))
        if dropped is not None:
            self._delete(dropped)
