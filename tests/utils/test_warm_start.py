"""eql.utils.warm_start: a script forked from a warm process behaves as ``python SCRIPT ARGS``
(argv, sys.path[0], directory, environment, exit code, output, fresh RNGs), and a training run
started warm gives the numbers of one started cold, bit for bit."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from common import REPO, TRAIN_NET, synthetic_args

from eql.utils import warm_start
from eql.utils.warm_start import run_script, top_level_imports

SCRIPT = """\
import json
import os
import random
import sys
import time

import helper  # next to the script: found through sys.path[0], in the warm process too

print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "cwd": os.getcwd(), "name": __name__,
                  "env": os.environ.get("WARM_TEST"), "random": random.random(),
                  "parent": os.getppid(), "pid": os.getpid(),
                  "modules_from": os.path.dirname(helper.__file__)}))
print("to stderr", file=sys.stderr)
action = sys.argv[1]
if action == "raise":
    raise ValueError("bad input")
if action == "sleep":
    import time
    time.sleep(60)
sys.exit(int(action) if action.isdigit() else action)
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "bin" / "tool.py"
    path.parent.mkdir()
    path.write_text(SCRIPT)
    (path.parent / "helper.py").write_text("")
    return str(path)


def _run(script, tmp_path, *args, **kwargs):
    lines = []
    log = tmp_path / "log.txt"
    code = run_script(script, list(args), str(log), on_line=lines.append, **kwargs)
    return code, log.read_text(), lines


def test_a_fork_sees_what_a_fresh_python_sees(script, tmp_path):
    env = {**os.environ, "WARM_TEST": "seven"}
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "helper.py").write_text("")  # a fresh python SCRIPT does not import this one
    code, log, lines = _run(script, tmp_path, "3", "a b", cwd=str(workdir), env=env)
    assert code == 3
    first = json.loads(log.splitlines()[0])
    assert first["argv"] == [script, "3", "a b"] and first["name"] == "__main__"
    assert first["path0"] == os.path.dirname(script) and first["cwd"] == str(workdir)
    assert first["env"] == "seven" and log.endswith("to stderr\n")
    assert first["modules_from"] == os.path.dirname(script)  # the warm process's imports too
    assert lines == log.splitlines(keepends=True)  # every line passed on as it came
    # the same script, directory and environment: the same warm process, forked again, with a
    # random module seeded afresh (a fresh interpreter's is seeded from entropy)
    code, log, _ = _run(script, tmp_path, "0", cwd=str(workdir), env=env)
    second = json.loads(log.splitlines()[0])
    assert code == 0 and second["parent"] == first["parent"] != os.getpid()
    assert second["random"] != first["random"]
    # another environment: another warm process
    code, log, _ = _run(script, tmp_path, "0", cwd=str(workdir), env={**env, "WARM_TEST": "8"})
    third = json.loads(log.splitlines()[0])
    assert third["env"] == "8" and third["parent"] != first["parent"]


def test_exit_codes_errors_appending_and_the_timeout(script, tmp_path):
    code, log, _ = _run(script, tmp_path, "raise")
    assert code == 1 and "Traceback" in log and log.endswith("ValueError: bad input\n")
    code, log, _ = _run(script, tmp_path, "stopped: bad key")  # sys.exit("message")
    assert code == 1 and log.endswith("stopped: bad key\n")
    log, lines = tmp_path / "log.txt", []
    before = log.read_text()
    code = run_script(script, ["4"], str(log), append=True, on_line=lines.append)
    assert code == 4 and log.read_text().count("to stderr") == 2  # appended to the last one
    assert "".join(lines) == log.read_text()[len(before) :]  # only the new lines passed on
    code, _, _ = _run(script, tmp_path, "sleep", timeout=2)
    assert code == -9  # killed
    assert len(warm_start._idle) <= warm_start.MAX_IDLE


def test_top_level_imports_are_what_the_warm_process_imports(tmp_path):
    assert top_level_imports(TRAIN_NET)[:3] == ["logging", "os", "detectron2.engine"]
    assert "eql.engine.launch" in top_level_imports(TRAIN_NET)
    bad = tmp_path / "bad.py"
    bad.write_text("import os\ndef broken(:\n")
    assert top_level_imports(str(bad)) == []


@pytest.mark.slow
def test_a_training_run_started_warm_equals_one_started_cold(tiny_synthetic, tmp_path):
    """tools/train_net.py forked from a warm process and run as a fresh process: the same
    weights and the same metrics, bit for bit."""
    opts = ["SOLVER.MAX_ITER", "3", "TEST.DETECTIONS_PER_IMAGE", "20", "SEED", "5"]
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, TRAIN_NET, *synthetic_args(tiny_synthetic, cold), *opts],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = tmp_path / "warm.log"
    args = [*synthetic_args(tiny_synthetic, warm), *opts]
    assert run_script(TRAIN_NET, args, str(log), cwd=REPO, env=env) == 0, log.read_text()[-3000:]
    a, b = (
        torch.load(str(d / "model_final.pth"), weights_only=False)["model"] for d in (cold, warm)
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    final = [json.loads((d / "metrics.json").read_text().splitlines()[-1]) for d in (cold, warm)]
    assert "segm/APr" in final[0] and final[0] == final[1]


def test_a_run_stops_when_its_caller_is_killed(script, tmp_path):
    """A caller killed during a run (kill -9: no atexit, no cleanup) takes its run with it: the
    warm process sees the end of its requests pipe, kills the fork and exits."""
    caller = tmp_path / "caller.py"
    caller.write_text(
        "import sys\n"
        f"sys.path.insert(0, {os.path.join(REPO)!r})\n"
        "from eql.utils.warm_start import run_script\n"
        f"run_script({script!r}, ['sleep'], {str(tmp_path / 'sleep.log')!r})\n"
    )
    proc = subprocess.Popen([sys.executable, str(caller)])
    deadline = time.monotonic() + 60
    fork = None
    while fork is None and time.monotonic() < deadline:
        text = (tmp_path / "sleep.log").read_text() if (tmp_path / "sleep.log").exists() else ""
        if text.startswith("{"):
            fork = json.loads(text.splitlines()[0])
        time.sleep(0.1)
    assert fork is not None and proc.poll() is None  # the run is under way
    server = fork["parent"]
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in (server, fork["pid"])):
        time.sleep(0.1)
    left = [p for p in (fork["pid"], server) if _alive(p)]
    for pid in left:
        os.kill(pid, 9)
    assert not left


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
