"""A test-only mmengine hook recording what ``tools/test.py`` really ran (for test_tools.py).

``tests/test_tools.py`` copies this file next to a config that lists it in ``custom_imports`` and
``custom_hooks``, and puts that folder on the tool's PYTHONPATH. Before testing, the hook records
a checksum of every weight and buffer of the tested segmentor (inside a TTA wrapper, if any) and
the input shape of every segmentor call (whole images, TTA scales and flips) and every backbone
call (the sliding-window crops); after testing it writes them to ``path`` as JSON.
"""
import json

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RecordTestForwardHook(Hook):
    """Writes {'segmentor': [shapes], 'backbone': [shapes], 'weights': {key: [sum, abs sum]}}."""

    def __init__(self, path: str):
        self.path = path
        self.record = dict(segmentor=[], backbone=[], weights={})

    def _recorder(self, kind):
        def hook(module, args, kwargs):
            inputs = args[0] if args else kwargs['inputs']
            self.record[kind].append(list(inputs.shape))
        return hook

    def before_test(self, runner) -> None:
        segmentor = getattr(runner.model, 'module', runner.model)  # SegTTAModel wraps it
        self.record['weights'] = {
            key: [value.double().sum().item(), value.double().abs().sum().item()]
            for key, value in segmentor.state_dict().items() if value.is_floating_point()}
        segmentor.register_forward_pre_hook(self._recorder('segmentor'), with_kwargs=True)
        segmentor.backbone.register_forward_pre_hook(self._recorder('backbone'),
                                                     with_kwargs=True)

    def after_test(self, runner) -> None:
        with open(self.path, 'w') as f:
            json.dump(self.record, f)
