"""eql.benchmark.processes.run_json_child: a measurement in a process of its own (forked from a
warm one), its json result read back from its output, its failures one error naming it."""

import os

import pytest

from eql.benchmark.processes import proc_status_mb, run_json_child

CHILD = """\
import json
import os
import sys

mode = sys.argv[1]
if mode == "fail":
    print("the child's own message", file=sys.stderr)
    sys.exit(3)
if mode == "nothing":
    print("no result here")
    sys.exit(0)
with open("/proc/self/status") as f:
    status = dict(line.split(":", 1) for line in f)
kb = {k: int(status[k].split()[0]) for k in ("VmHWM", "VmRSS")}
print(json.dumps({"not": "the last"}))
print(json.dumps({"argv": sys.argv[1:], "pid": os.getpid(), **kb}))
print("a warning after the result", file=sys.stderr)
"""


@pytest.fixture
def child(tmp_path):
    path = tmp_path / "child.py"
    path.write_text(CHILD)
    return str(path)


def test_the_last_json_line_is_the_result_and_the_process_is_its_own(child):
    result = run_json_child(child, ["measure", "a b"], "the child")
    assert result["argv"] == ["measure", "a b"] and result["pid"] != os.getpid()
    # its peak memory is its own: no higher than what it holds (its start is not this process's)
    assert result["VmHWM"] >= result["VmRSS"] > 0
    assert result["VmHWM"] / 1024 < proc_status_mb("VmHWM") + 1


@pytest.mark.parametrize(
    "mode, message",
    [
        ("fail", r"the child failed \(exit code 3\):\n(.|\n)*the child's own message"),
        ("nothing", r"the child printed no json result:\n(.|\n)*no result here"),
    ],
)
def test_a_failed_child_or_one_without_a_result_is_one_error_naming_it(child, mode, message):
    with pytest.raises(RuntimeError, match=message):
        run_json_child(child, [mode], "the child")
