"""The README reports the sweeps whose run records are in git (benchmarks/results/<sweep>) as those
records say: for every label with a finished run, its row — seeds, AP / APr / APc / APf mean ± std,
its differences to the sweep's baseline with their 95% intervals and the claim's verdict — is in
README.md with the numbers the records give (the README may leave out the ΔAP column and writes
minus signs as −). A record committed without its README row, or a README number edited by hand,
fails here."""

import glob
import json
import os

import pytest
from common import REPO, load_script

from eql.benchmark.long_tail_sizes import SIZES
from eql.benchmark.long_tail_sweep import Sweep, finished_runs
from eql.benchmark.run_summary import summarize
from eql.benchmark.run_summary_report import claim_verdict, difference_cell, mean_cell

RESULTS = os.path.join(REPO, "benchmarks", "results")
SWEEPS = sorted(
    os.path.dirname(p) for p in glob.glob(os.path.join(RESULTS, "**", "sweep.json"), recursive=True)
)


def _recorded_sweep(folder: str) -> Sweep:
    """The sweep of a folder of records: its size and labels from sweep.json, its seeds from the
    run folders."""
    with open(os.path.join(folder, "sweep.json")) as f:
        recorded = json.load(f)
    seeds = {
        int(d.rsplit("seed", 1)[1]) for d in glob.glob(os.path.join(folder, "runs", "*", "seed*"))
    }
    size = recorded["size"]
    return Sweep(folder, size, SIZES[size], list(recorded["loss_opts"]), sorted(seeds))


def _readme_rows():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read().replace("−", "-")
    return [line for line in text.splitlines() if line.startswith("| ")]


def test_there_are_sweeps_in_git():
    assert SWEEPS, RESULTS


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda p: os.path.relpath(p, RESULTS))
def test_the_readme_has_each_finished_label_as_its_records_give_it(sweep):
    recorded = _recorded_sweep(sweep)
    baseline = load_script("benchmarks/long_tail.py").baseline_of(recorded)  # the tables' own
    runs = finished_runs(recorded)
    assert runs, f"{sweep}: no finished run"
    readme = _readme_rows()
    for row in summarize(runs, baseline):
        start = f"| {row.label} | {row.n} | " + " | ".join(
            mean_cell(row.mean[m], row.std[m], row.undefined[m])
            for m in ("AP", "APr", "APc", "APf")
        )
        found = [line for line in readme if line.startswith(start + " |")]
        assert found, f"README.md has no row starting {start!r} ({sweep})"
        if row.label == baseline:
            continue
        cells = [c.strip() for c in found[0].split("|")[1:-1]]
        for m in ("APr", "APc", "APf"):
            assert difference_cell(row, m) in cells, (row.label, m, found[0])
        assert cells[-1] == claim_verdict(row, baseline), (row.label, found[0])
