"""Running a python script as ``python SCRIPT ARGS...`` would, without paying its imports each time.

A tool such as tools/train_net.py spends ~7 CPU-seconds importing torch, torchvision and
detectron2 before it reads its first argument. A sweep starts tens of them, each a process of its
own. :func:`run_script` starts each one as a fork of a *warm* process, a ``python`` that has
imported the script's top-level modules once (its imports only: no code of the script runs in it)
and then waits for work on its stdin. The fork runs the script as ``__main__`` with ``sys.argv``,
``sys.path[0]``, the working directory and the environment a fresh ``python SCRIPT ARGS`` gets, its
output in a log file, re-seeds the RNGs a fresh interpreter seeds from entropy, runs the atexit
handlers and exits with the script's exit code. Nothing has run in the warm process but imports
(no CUDA context, no torch op), so a fork starts from the state a fresh process reaches after the
same imports: a run started warm gives the numbers of one started cold, bit for bit
(tests/utils/test_warm_start.py checks a training run both ways).

A warm process runs one script at a time; callers running several at once each get their own.
Idle ones are kept for the next call with the same script, directory and environment (at most
``MAX_IDLE``), and end when this process exits. A caller that goes away during a run (killed,
say) takes the run with it: the warm process sees its requests pipe close, kills the fork and
exits (a plain ``subprocess`` child would go on running).
"""

import ast
import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence

# the warm process loads this file by its path, not as eql.utils.warm_start: importing the eql
# package would import torch & co. for any script, not only for one that imports them
_SERVE = (
    "import importlib.util, sys; spec = importlib.util.spec_from_file_location('warm_start', "
    "sys.argv.pop(1)); module = importlib.util.module_from_spec(spec); "
    "spec.loader.exec_module(module); module.serve()"
)
MAX_IDLE = 2  # warm processes kept between calls (each holds torch & co. in memory: ~0.5 GB)
POLL_SECONDS = 0.5


def top_level_imports(script: str) -> List[str]:
    """The absolute modules the script imports at its top level (``import a.b``, ``from a import
    b``), in order; [] when it does not parse (its fork then reports the error)."""
    try:
        with open(script, "rb") as f:
            tree = ast.parse(f.read(), script)
    except (OSError, SyntaxError, ValueError):
        return []
    modules = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
    return modules


class WarmProcess:
    """One warm ``python`` for ``script`` in ``cwd`` with ``env``; :meth:`run` forks it once."""

    def __init__(self, script: str, cwd: str, env: Mapping[str, str]):
        self.key = _key(script, cwd, env)
        self.running = 0  # the pid of the fork under way
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, __file__, script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # unbuffered: select() then sees every reply that has come
            stderr=subprocess.DEVNULL,  # its imports' warnings; each fork's go to its log
            cwd=cwd,
            env=dict(env),
        )

    def run(
        self,
        args: Sequence[str],
        log_path: str,
        on_line: Optional[Callable[[str], None]],
        timeout: Optional[float],
    ) -> int:
        """The exit code of ``SCRIPT ARGS`` forked from this process (-9 when ``timeout`` seconds
        passed and it was killed); its output appended to ``log_path`` (which must exist), each
        complete line of it passed to ``on_line`` as it comes."""
        tail = _LogTail(log_path, os.path.getsize(log_path), on_line)  # before the fork writes
        request = {"args": list(args), "log": os.path.abspath(log_path)}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        pid = self.running = self._reply()["pid"]
        deadline = None if timeout is None else time.monotonic() + timeout
        while not select.select([self.proc.stdout], [], [], POLL_SECONDS)[0]:
            tail.read()
            if deadline is not None and time.monotonic() > deadline:
                _kill(pid)
                deadline = None
        code = self._reply()["exit"]
        self.running = 0
        tail.read(final=True)
        return code

    def _reply(self) -> Dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the warm process of {self.key[0]} ended (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        """Ends the process (and kills a fork still under way: its caller has gone)."""
        if self.running:
            _kill(self.running)
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class _LogTail:
    """Reads a growing log file's new complete lines (the last one too when ``final``)."""

    def __init__(self, path: str, offset: int, on_line: Optional[Callable[[str], None]]):
        self.path, self.offset, self.on_line, self.partial = path, offset, on_line, b""

    def read(self, final: bool = False) -> None:
        if self.on_line is None:
            return
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = b"" if final else lines.pop()
        for line in lines:
            if line:
                self.on_line(line.decode("utf-8", "replace") + "\n")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


_idle: List[WarmProcess] = []
_lock = threading.Lock()


def _key(script: str, cwd: str, env: Mapping[str, str]) -> tuple:
    """What a warm process serves: one script, in one directory, with one environment."""
    return script, cwd, tuple(sorted(env.items()))


def _acquire(script: str, cwd: str, env: Mapping[str, str]) -> WarmProcess:
    key = _key(script, cwd, env)
    with _lock:
        for k, warm in enumerate(_idle):
            if warm.key == key and warm.proc.poll() is None:
                return _idle.pop(k)
    return WarmProcess(script, cwd, env)


def _release(warm: WarmProcess) -> None:
    with _lock:
        _idle.append(warm)
        surplus = _idle[:-MAX_IDLE] if len(_idle) > MAX_IDLE else []
        del _idle[: len(surplus)]
    for old in surplus:
        old.close()


@atexit.register
def close_all() -> None:
    """Ends the idle warm processes (at exit; also to free their memory)."""
    with _lock:
        idle = list(_idle)
        _idle.clear()
    for warm in idle:
        warm.close()


def run_script(
    script: str,
    args: Sequence[str],
    log_path: str,
    append: bool = False,
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    on_line: Optional[Callable[[str], None]] = None,
    timeout: Optional[float] = None,
) -> int:
    """``python SCRIPT ARGS`` in ``cwd`` (default: this process's) with ``env`` (default: this
    process's), its stdout and stderr written (or appended) to ``log_path``, forked from a warm
    process; returns its exit code. ``on_line`` receives its output line by line as it comes;
    after ``timeout`` seconds it is killed (exit code -9)."""
    script = os.path.abspath(script)
    cwd = os.path.abspath(cwd or os.getcwd())
    env = dict(os.environ if env is None else env)
    with open(log_path, "ab" if append else "wb"):
        pass  # created or emptied here, once; the fork appends to it
    warm = _acquire(script, cwd, env)
    try:
        code = warm.run(args, log_path, on_line, timeout)
    except BaseException:
        warm.close()
        raise
    _release(warm)
    return code


# --- the warm process


def serve() -> None:
    """The warm process's loop (``python -c _SERVE THIS_FILE SCRIPT``): imports SCRIPT's
    top-level modules, then forks once per request line and answers its pid and, when it ends,
    its exit code."""
    import importlib
    import warnings

    script = sys.argv[1]
    # the script's directory, not the working one: imports resolve as the script's (and its forks
    # inherit it)
    sys.path[0] = os.path.dirname(script)
    replies = os.fdopen(os.dup(1), "w")  # fd 1 becomes stderr: a stray print cannot break replies
    os.dup2(2, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in top_level_imports(script):
            try:
                importlib.import_module(module)
            except BaseException:  # the fork meets it again and reports it in its log
                pass
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    while True:
        line = _read_line(requests)
        if not line:
            return  # the caller closed its end or went away
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            replies.close()
            requests.close()
            _run_as_main(script, request)  # never returns
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        status = _wait_or_stop(pid, requests)
        if status is None:
            return  # the caller went away during the run: the run was stopped
        replies.write(json.dumps({"exit": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


def _read_line(stream) -> bytes:
    """One request line from the caller (b"" at its end), read unbuffered: select() on the stream
    then tells whether more has come."""
    line = b""
    while not line.endswith(b"\n"):
        byte = stream.read(1)
        if not byte:
            return b""
        line += byte
    return line


def _wait_or_stop(pid: int, requests) -> Optional[int]:
    """The fork's wait status; None when the caller's end of the requests pipe closed first (it
    was killed, or ended without waiting): the fork is then killed, as a run whose caller has gone
    (a caller sends nothing while a run is under way, so a readable pipe means its end)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if select.select([requests], [], [], POLL_SECONDS)[0]:
            _kill(pid)
            os.waitpid(pid, 0)
            return None


def _run_as_main(script: str, request: Dict) -> None:
    """In the fork: ``python SCRIPT ARGS`` with fds 1 and 2 on the log, then ``os._exit``."""
    code = 1
    try:
        import random
        import runpy
        import traceback

        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = open(0, closefd=False)
        sys.argv = [script, *request["args"]]
        random.seed()  # a fresh interpreter seeds these from entropy; the fork would share them
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF if code >= 0 else 1)
