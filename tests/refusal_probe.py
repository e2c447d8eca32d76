"""Every tool that loads a checkpoint, run in one process on the hostile corpus (for
``test_hostile_checkpoints.py``; one process instead of one per run keeps the test short).

    python tests/refusal_probe.py OUT.json FOLDER

``tools/test.py`` runs on every case of ``hostile_checkpoints.CASES``; ``tools/train.py``
(``--resume`` and ``load_from``), ``tools/visualize_attention.py``,
``tools/deployment/pytorch2onnx.py`` (its loader), ``tools/demo.py`` (trained models replaced
by the file) and ``mmseg_rga.tooling.inference.load_model`` run on the TorchScript archive. Each
goes through the tools' ``run_main``; OUT.json maps a label to ``{'error': what the tool printed,
'marker': whether the case's marker appeared}``. What makes a Runner slow to start and has
nothing to do with loading is cut (:func:`quick_configs`).
"""
import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / 'tests')]
CONFIG = str(REPO / 'configs' / 'demo' / 'pspnet-rga_r18-d8_synthetic.py')


def quick_configs() -> None:
    """mmengine formats every config with yapf (4 times per Runner) and reads mmseg's model
    index (212 YAML files) for each ``mmseg::`` base: 27 of the 29 s of one refused tools/test.py
    run (cProfile, OMP_NUM_THREADS=1, AMD EPYC (family 26, model 2), 2 cores shared with other
    jobs, 2026-12-04). Here configs print as their text and each YAML file is read once."""
    import functools

    from mmengine.config import Config, utils
    Config.pretty_text = property(lambda self: self.text)
    utils.load = functools.lru_cache(maxsize=None)(utils.load)  # by path: read, never changed


def tool(relative: str):
    spec = importlib.util.spec_from_file_location(Path(relative).stem + '_probe', REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outcome(main, argv) -> str:
    """What ``run_main(main, argv)`` prints on exit (an error line), or how it ended."""
    from mmseg_rga.tooling.errors import run_main
    try:
        run_main(main, argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, str) else f'exit status {exit_.code}'
    return 'returned'


def torchscript_runs(ts: str, folder: Path) -> dict:
    """label -> (main, argv) of every loader on the TorchScript archive ``ts``."""
    from mmseg_rga.tooling.inference import load_model
    data = ['--synthetic-data', str(folder / 'data'), '--synthetic-size', '64', '128']
    resume = folder / 'resume'
    resume.mkdir()
    (resume / 'iter_2.pth').write_bytes(Path(ts).read_bytes())
    (resume / 'last_checkpoint').write_text(str(resume / 'iter_2.pth'))
    image = str(next((folder / 'data' / 'leftImg8bit' / 'val').rglob('*.png')))
    train, export, demo = (tool('tools/train.py'), tool('tools/deployment/pytorch2onnx.py'),
                           tool('tools/demo.py'))
    demo.train = lambda config, work_dir, args: dict(checkpoint=ts, train_time_s=0.0,
                                                     train_cmd=[])
    demo.test = lambda *args: dict(mIoU=0.0, aAcc=0.0, mAcc=0.0, test_time_s=0.0, test_cmd=[])
    return {
        'train --resume': (train.main, [CONFIG, '--work-dir', str(resume), '--resume', *data]),
        'train load_from': (train.main, [CONFIG, '--work-dir', str(folder / 'load_from'), *data,
                                         '--cfg-options', f'load_from={ts}']),
        'visualize_attention': (tool('tools/visualize_attention.py').main,
                                [CONFIG, ts, image, '--out', str(folder / 'gates')]),
        'pytorch2onnx': (lambda argv: export.build_segmentor(export.parse_args(argv)),
                         [CONFIG, ts, '--shape', '64', '64']),
        'demo': (demo.main, ['--tiny', '--work-dir', str(folder / 'demo')]),
        'inference.load_model': (lambda argv: load_model(CONFIG, ts), []),
    }


def main(out: str, folder: str) -> None:
    import hostile_checkpoints as hostile
    quick_configs()
    folder = Path(folder)
    files = {}
    for name, case in hostile.CASES.items():
        (folder / name).mkdir(parents=True)
        files[name] = case.write(folder / name)
    undo = hostile.arm(folder)
    test = tool('tools/test.py')
    data = ['--synthetic-data', str(folder / 'data'), '--synthetic-size', '64', '128']
    report = {}
    for name, (path, marker) in files.items():
        error = outcome(test.main, [CONFIG, str(path), '--work-dir', str(folder / 'wd'), *data])
        report[f'test.py {name}'] = dict(error=error, marker=marker())
    ts, marker = files['torchscript']
    for label, (main_fn, argv) in torchscript_runs(str(ts), folder).items():
        report[label] = dict(error=outcome(main_fn, argv), marker=marker())
    undo()
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == '__main__':
    main(*sys.argv[1:])
