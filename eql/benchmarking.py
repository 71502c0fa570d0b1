"""Helpers of the scripts in benchmarks/: this process's memory from /proc, and running one
measurement in a fresh process that prints its result as a json line."""

import json
import subprocess
from typing import Dict, List


def proc_status_mb(field: str = "VmHWM") -> float:
    """A memory field of /proc/self/status in MB (Linux): VmHWM, the peak resident set size of
    this process's own address space (unlike ``ru_maxrss``, not inherited from the parent that
    started it), or VmRSS, the current one."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def run_json_child(cmd: List[str], what: str) -> Dict:
    """Runs ``cmd`` (a fresh process, so that its peak memory is its own) and returns the json on
    the last line of its output; raises RuntimeError naming ``what`` with the end of its stderr."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
