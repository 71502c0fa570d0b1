"""The robustness table (docs/robustness.md): every bad input ends in one clear error that names
the culprit, a non-zero exit and no partial output. Each case builds its bad input in a temporary
folder and runs the user's command in-process (tools' ``main``/``cli``). The cases are in
tests/robustness/robustness_*_cases.py."""

import ast
import glob
import json
import os
import re

import pytest
from common import REPO, Env, environ_kept, run_tool
from robustness_cli_cases import CLI_CASES
from robustness_config_cases import CONFIG_CASES, COUNT_CASES
from robustness_dataset_cases import DATASET_CASES
from robustness_file_cases import FILE_CASES
from robustness_tool_cases import TOOL_CASES, WEIGHT_CASES

DOCS = os.path.join(REPO, "docs", "robustness.md")
CASES = (
    DATASET_CASES + FILE_CASES + CONFIG_CASES + COUNT_CASES + WEIGHT_CASES + TOOL_CASES + CLI_CASES
)
# argparse's own form of the one error line: "<prog>: error: argument --x: ..."
ERROR_LINE = re.compile(r"^(error: |\S+: error: )")


def _snapshot(folder):
    if not os.path.isdir(folder):
        return None
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs
    )


@pytest.fixture
def kept_environ():
    """A case's builder may set environment variables (a registry file): gone after the case."""
    with environ_kept():
        yield


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tiny_synthetic, tmp_path, kept_environ):
    env = Env(tmp_path, tiny_synthetic)
    tool, argv, culprits, *expect = case.build(env)
    expect = expect[0] if expect else "error"
    before = _snapshot(env.out)
    code, err, out = run_tool(tool, argv)
    assert "Traceback" not in err, err[-3000:]
    if expect == "error":  # one "error: ..." line, exit 2
        assert code == 2, err[-3000:]
        lines = [ln for ln in err.splitlines() if ERROR_LINE.match(ln)]
        assert len(lines) == 1, err[-3000:]
        text = lines[0]
    elif expect == "problems":  # the validator lists problems, exit 1
        assert code == 1, (err + out)[-3000:]
        text = out
    else:  # "warning": valid, exit 0, one warning line
        assert code == 0, (err + out)[-3000:]
        (text,) = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    for culprit in culprits:
        assert culprit in text, (culprit, text)
    assert _snapshot(env.out) == before  # no partial output
    if getattr(env, "after", None):
        env.after()  # the case's own check (an input left untouched)


def mapped_cases():
    """{test file: its ROBUSTNESS_CASES (table row -> test function)} for every test module of
    tests/ that maps more rows of the table to its tests, with the names of its functions; read
    from the source, so no test module is imported twice."""
    found = {}
    for path in glob.glob(os.path.join(REPO, "tests", "**", "test_*.py"), recursive=True):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "ROBUSTNESS_CASES" for t in node.targets
            ):
                found[os.path.relpath(path, REPO)] = (ast.literal_eval(node.value), functions)
    return found


def test_every_case_is_in_the_table_and_every_row_has_a_case():
    text = open(DOCS).read()
    rows = re.findall(r"^\| `([A-Z]\d\d-[a-z0-9-]+)` \|", text, flags=re.M)
    assert len(rows) == len(set(rows)), "a case id is in the table twice"
    tested = {c.id for c in CASES}
    modules = mapped_cases()
    assert len(modules) >= 5, sorted(modules)
    for path, (cases, functions) in modules.items():
        for case_id, test in cases.items():
            assert test in functions, (path, test)
            assert case_id not in tested, f"{case_id} is mapped twice"
            tested.add(case_id)
    assert set(rows) == tested
    assert len(rows) >= 150


def test_publish_writes_its_own_registry_by_default(tmp_path):
    """Not the installed package's models.json unless named with --registry."""
    import torch

    from eql.model_zoo.registry import SHIPPED_REGISTRY

    shipped = open(SHIPPED_REGISTRY).read()
    ckpt = tmp_path / "model_final.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "optimizer": {}}, ckpt)
    out = tmp_path / "publish"
    argv = [str(ckpt), "--name", "test/x", "--config", "quick_schedules/Base-Synthetic-CPU.yaml"]
    code, err, _ = run_tool(
        "publish_model", argv + ["--url-prefix", "http://h/", "--out-dir", str(out)]
    )
    assert code == 0, err
    assert open(SHIPPED_REGISTRY).read() == shipped
    entry = json.loads((out / "models.json").read_text())["models"]["test/x"]
    (pth,) = out.glob("test_x-*.pth")
    assert entry["url"] == "http://h/" + pth.name and "optimizer" not in torch.load(pth)
