"""``python tools/X.py ARGS`` for the tests, without paying the framework's import for each run.

A tool's process spends most of a tiny run importing torch, mmengine, mmcv and mmseg (6-10 s on
2 cores), and the suite runs a few hundred of them. A server process (this file, run as a
script) imports those once and forks one child per run; the child is the tool's process: its
own cwd, environment, argv, ``sys.path[0]`` (the tool's folder, then PYTHONPATH), stdout and
stderr files, warnings filter from PYTHONWARNINGS, exit code (``SystemExit``, or 1 with the
traceback on stderr, as Python does), atexit handlers. The fork is a copy of the server, which
has run nothing, so no state passes between runs.

A run whose environment differs from the server's in anything else than ``FORK_SAFE`` (what is
read at import, such as thread counts, cannot change after it) runs as a real subprocess, as
does everything with ``MMSEG_RGA_TEST_NO_FORK=1``.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORK_SAFE = {'PYTHONWARNINGS', 'PYTHONPATH', 'PORT', 'PYTHON'}
PRELOAD = ('torch', 'numpy', 'cv2', 'mmengine.runner', 'mmcv.ops', 'mmseg.models', 'mmseg.apis',
           'mmseg.datasets', 'mmseg.evaluation', 'mmseg_rga')
_server = {}
START = {}  # the server's warnings filters and sys.path (less its own folder) before it imports
_lock = threading.Lock()


def forkable(argv, env, also=()) -> bool:
    """Whether ``argv`` (``[python, tool.py, ...]``) may run in a fork of the server; ``also``:
    more variables the run reads only after its start."""
    if os.environ.get('MMSEG_RGA_TEST_NO_FORK') == '1' or not hasattr(os, 'fork'):
        return False
    if len(argv) < 2 or argv[0] != sys.executable or not str(argv[1]).endswith('.py'):
        return False
    base = tool_env()
    changed = {k for k in set(env) | set(base) if env.get(k) != base.get(k)}
    return changed <= FORK_SAFE | set(also)


def tool_env():
    """A tool's environment in the tests: this one less PYTHONPATH and the launcher's rank
    variables, one OpenMP thread (on 2 shared cores OpenMP's spinning threads made an iteration
    10x slower under load; torchrun sets the same for the distributed test)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK')}
    env['OMP_NUM_THREADS'] = '1'
    return env


def _start():
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())],
                            cwd=tempfile.gettempdir(), env=tool_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = proc.stdout.readline()
    assert ready.strip() == 'ready', f'the tool runner did not start: {ready!r}'
    return proc


def _watch(pid, done, timed_out, timeout, kill_when):
    """SIGKILL ``pid`` after ``timeout`` seconds (setting ``timed_out``) or once ``kill_when()``."""
    deadline = time.monotonic() + timeout
    while not done.wait(0.05):
        late = time.monotonic() > deadline
        if late or (kill_when is not None and kill_when()):
            if late:
                timed_out.set()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return


def run_forked(argv, cwd, env, timeout, kill_when=None):
    """Run ``argv`` in a fork of the server: ``(returncode, stdout, stderr)``. The run is killed
    (SIGKILL, return code -9) once ``kill_when()`` is true; after ``timeout`` seconds too, and
    then ``subprocess.TimeoutExpired`` is raised."""
    with _lock:
        if 'proc' not in _server or _server['proc'].poll() is not None:
            _server['proc'] = _start()
        proc = _server['proc']
        with tempfile.TemporaryDirectory() as tmp:
            out, err = os.path.join(tmp, 'out'), os.path.join(tmp, 'err')
            request = dict(argv=[str(a) for a in argv[1:]], cwd=str(cwd), env=env, out=out,
                           err=err)
            proc.stdin.write(json.dumps(request) + '\n')
            proc.stdin.flush()
            pid = json.loads(proc.stdout.readline())['pid']
            done, timed_out = threading.Event(), threading.Event()
            watcher = threading.Thread(target=_watch, args=(pid, done, timed_out, timeout,
                                                            kill_when), daemon=True)
            watcher.start()
            try:
                rc = json.loads(proc.stdout.readline())['rc']
            finally:
                done.set()
                watcher.join()
            stdout = Path(out).read_text(errors='replace')
            stderr = Path(err).read_text(errors='replace')
    if timed_out.is_set():
        raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr)
    return rc, stdout, stderr


def run_python(args, cwd=None, timeout=600, env=None):
    """``python ARGS`` (a tool and its arguments) as ``subprocess.run(..., capture_output=True,
    text=True)`` returns it, in a fork where it can; ``env`` defaults to this process's
    environment with one OpenMP thread and no PYTHONPATH."""
    return run([sys.executable, *args], cwd, timeout, tool_env() if env is None else env)


def run(argv, cwd, timeout, env):
    """``argv`` as ``subprocess.run(..., capture_output=True, text=True)`` returns it, in a fork
    of the server where ``forkable``."""
    argv = [str(a) for a in argv]
    cwd = str(cwd or os.getcwd())
    if forkable(argv, env):
        returncode, stdout, stderr = run_forked(argv, cwd, env, timeout)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _child(request):
    """The tool's process: never returns."""
    import atexit
    import runpy
    import traceback
    import warnings
    code = 1
    try:
        for fd, path in ((1, request['out']), (2, request['err'])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, 'w', encoding='utf-8', closefd=False)
        sys.stderr = open(2, 'w', encoding='utf-8', closefd=False, buffering=1)
        os.chdir(request['cwd'])
        os.environ.clear()
        os.environ.update(request['env'])
        script = request['argv'][0]
        extra = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
        sys.path[:] = [os.path.dirname(os.path.abspath(script))] + extra + START['path']
        warnings.filters[:] = START['filters']
        sys.warnoptions[:] = [o for o in os.environ.get('PYTHONWARNINGS', '').split(',') if o]
        for option in sys.warnoptions:
            warnings._setoption(option)  # as the interpreter's start does
        sys.argv = list(request['argv'])
        try:
            runpy.run_path(script, run_name='__main__')
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: B036  what Python does with an uncaught exception
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _serve():
    import warnings
    START.update(filters=list(warnings.filters), path=sys.path[1:])  # as Python starts a tool
    sys.path.insert(0, str(REPO))
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    print('ready', flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({'pid': pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({'rc': os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == '__main__':
    _serve()
