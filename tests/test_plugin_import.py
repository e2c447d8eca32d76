"""``import mmseg_rga`` (what ``custom_imports`` runs) registers modules and, its one global effect,
the checkpoint allowlist with torch; it loads no tool or reference code."""
import json
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROBE = """
import json, os, sys, warnings
import torch, mmcv.transforms, mmengine.model, mmseg.datasets, mmseg.models  # what we build on
env, filters, set_device = dict(os.environ), list(warnings.filters), torch.cuda.set_device
has_safe = hasattr(torch.serialization, 'get_safe_globals')  # torch >= 2.4
def safe_globals():
    return set(torch.serialization.get_safe_globals()) if has_safe else set()
torch_safe = safe_globals()  # torch registers a few itself
before = set(sys.modules)
import mmseg_rga
new = sorted(set(sys.modules) - before)
from mmseg_rga.engine.safe_load import SAFE_GLOBALS
safe = safe_globals()
if has_safe:
    from torch._weights_only_unpickler import _get_user_allowed_globals
    getattr_name = _get_user_allowed_globals()['builtins.getattr'].__name__
else:
    getattr_name = '_history_buffer_getattr'  # nothing to register; load_checkpoint_file maps it
from mmseg.registry import HOOKS, MODELS, TRANSFORMS
from mmengine.fileio.backends import backends
print(json.dumps(dict(
    new=new, env=dict(os.environ) == env,
    filters=list(warnings.filters) == filters, set_device=torch.cuda.set_device is set_device,
    has_safe=has_safe, safe_globals=[torch_safe <= safe, safe - torch_safe == set(SAFE_GLOBALS)],
    getattr=[getattr in safe, getattr_name],
    registered=[MODELS.get(n) is not None for n in ('RGABlock', 'RGANeck', 'RGAPSPHead')]
    + [TRANSFORMS.get('CheckSegLabelRange') is not None,
       HOOKS.get('AtomicCheckpointHook') is not None, 'atomic_local' in backends])))
"""
PLUGIN = ('mmseg_rga', 'mmseg_rga.checks', 'mmseg_rga.compat', 'mmseg_rga.version',
          'mmseg_rga.datasets',
          'mmseg_rga.datasets.transforms')


def test_import_registers_and_loads_no_tool_code():
    proc = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,
                          cwd=REPO, env={'PYTHONPATH': REPO, 'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(report['registered'])
    new = report['new']
    # only the plugin's models, transforms and engine (checkpoint hook, file backend, safe
    # loading): no tooling, visualization, synthetic data
    ours = [m for m in new if m.startswith('mmseg_rga')]
    assert [m for m in ours if not (m in PLUGIN or m.startswith(('mmseg_rga.models',
                                                                  'mmseg_rga.engine')))] == []
    assert 'argparse' not in new
    assert [m for m in new if m.startswith('mmseg_rga.testing')] == []  # references: tests only
    assert report['env'] and report['filters'] and report['set_device']
    # the one global effect: torch's weights-only allowlist gets SAFE_GLOBALS, nothing else;
    # a file's builtins.getattr resolves to the narrowed stand-in, never the real getattr
    # (torch < 2.4 has no such list: there the import registers nothing)
    if report['has_safe']:
        assert report['safe_globals'] == [True, True]
        assert report['getattr'] == [False, '_history_buffer_getattr']
    else:
        assert report['safe_globals'] == [True, False]
