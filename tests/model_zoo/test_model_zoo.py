"""Model zoo against a local HTTP server (127.0.0.1, started by the tests)."""

import http.server
import json
import math
import os
import subprocess
import sys
import threading

import pytest
import torch
from common import INSTANT_CONFIG, REPO, run_tool

from eql import model_zoo
from eql.errors import UserError
from eql.model_zoo import ModelEntry, ModelZooError, local_checkpoint, register_model, sha256_of

INSTANT_REL = os.path.relpath(INSTANT_CONFIG, os.path.join(REPO, "configs"))


class _Server:
    """A static file server on 127.0.0.1 that counts its GET requests."""

    def __init__(self, root):
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def do_GET(self):
                server.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.requests = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _instant_state_dict():
    from detectron2.modeling import build_model

    from eql.config import load_config

    cfg = load_config(INSTANT_CONFIG, ["MODEL.EQL.FREQUENCY_SOURCE", "none"])
    torch.manual_seed(0)
    return build_model(cfg).state_dict()


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    state = _instant_state_dict()
    torch.save({"model": state}, served / "instant.pth")
    server = _Server(served)
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    entry = ModelEntry(
        name="test/instant",
        config=INSTANT_REL,
        url=server.url("instant.pth"),
        sha256=sha256_of(str(served / "instant.pth")),
    )
    register_model(entry)
    yield {"server": server, "served": served, "entry": entry, "state": state, "tmp": tmp_path}
    server.stop()


def test_download_then_cache_hit(zoo):
    path = local_checkpoint("test/instant", progress=False)
    assert path.startswith(str(zoo["tmp"] / "cache"))
    assert sha256_of(path) == zoo["entry"].sha256 and zoo["server"].requests == 1
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.endswith((".part", ".tmp"))]
    assert local_checkpoint("test/instant", progress=False) == path
    assert zoo["server"].requests == 1  # served from the cache


def test_corrupted_cache_is_fetched_again(zoo):
    path = local_checkpoint("test/instant", progress=False)
    with open(path, "r+b") as f:
        f.write(b"garbage")
    assert local_checkpoint("test/instant", progress=False) == path
    assert zoo["server"].requests == 2 and sha256_of(path) == zoo["entry"].sha256


def test_wrong_sha256_deletes_the_download(zoo):
    register_model(
        ModelEntry(name="test/wrong", config=INSTANT_REL, url=zoo["entry"].url, sha256="0" * 64)
    )
    with pytest.raises(ModelZooError, match="sha256 mismatch.*expected 0000.*deleted"):
        local_checkpoint("test/wrong", progress=False)
    folder = zoo["tmp"] / "cache" / "eql_model_zoo" / "test" / "wrong"
    assert not folder.exists() or not list(folder.iterdir())


def test_server_down_gives_one_clear_message(zoo):
    zoo["server"].stop()
    with pytest.raises(ModelZooError) as e:
        local_checkpoint("test/instant", progress=False)
    msg = str(e.value)
    assert zoo["entry"].url in msg and "offline" in msg and "put it at" in msg
    assert zoo["entry"].sha256 in msg
    zoo["server"].stop = lambda: None


def test_unknown_name_and_unverified_official_entry():
    with pytest.raises(UserError, match="no model named"):
        model_zoo.get_entry("nope")
    official = [n for n in model_zoo.list_models() if n.startswith("official/")]
    assert official
    with pytest.raises(ModelZooError, match="no sha256 is recorded"):
        local_checkpoint(official[0])
    entry = model_zoo.get_entry(official[0])
    assert entry.format == "eql.detectron2" and entry.metrics["segm/AP"] > 20
    assert model_zoo.get_config_file(official[0]).endswith(".yaml")


def test_get_returns_the_model_with_its_weights(zoo):
    model = model_zoo.get("test/instant")
    assert not model.training
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(model.state_dict()[key], zoo["state"][key])
    assert model_zoo.get_checkpoint_url("test/instant") == zoo["entry"].url


def _official_format(state):
    """What eql.detectron2 saves: C class logits (no background row) and training state."""
    out = dict(state)
    for k in list(out):
        if ".cls_score." in k:
            out[k] = out[k][:-1].clone()
    return {"model": out, "optimizer": {"state": {}}, "iteration": 89999, "scheduler": {}}


def test_convert_official_checkpoint_tool(zoo, tmp_path):
    src, dst = tmp_path / "official.pth", tmp_path / "converted.pth"
    torch.save(_official_format(zoo["state"]), src)
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "convert_official_checkpoint.py"),
            str(src),
            str(dst),
            "--config-file",
            INSTANT_CONFIG,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = torch.load(dst, map_location="cpu", weights_only=False)
    assert set(out) == {"model", "__author__"}  # training state dropped
    w = out["model"]["roi_heads.box_predictor.cls_score.weight"]
    b = out["model"]["roi_heads.box_predictor.cls_score.bias"]
    ref = zoo["state"]["roi_heads.box_predictor.cls_score.weight"]
    assert w.shape == ref.shape and torch.equal(w[:-1], ref[:-1]) and torch.all(w[-1] == 0)
    assert b[-1].item() == pytest.approx(-math.log(999.0))
    for k, v in zoo["state"].items():
        if ".cls_score." not in k:
            assert torch.equal(out["model"][k], v), k
    # a checkpoint for another number of classes is refused with a clear message
    bad = _official_format(zoo["state"])
    for k in [k for k in bad["model"] if ".cls_score." in k]:
        bad["model"][k] = bad["model"][k][:-3]
    torch.save(bad, src)
    # the script's entry is shown above; the refusal in-process (a fresh process is seconds)
    code, err, _ = run_tool(
        "convert_official_checkpoint", [str(src), str(dst) + "2", "--config-file", INSTANT_CONFIG]
    )
    assert code != 0 and "rows" in err
    assert not os.path.exists(str(dst) + "2")


def test_official_format_entry_is_converted_on_load(zoo):
    from detectron2.checkpoint import DetectionCheckpointer

    torch.save(_official_format(zoo["state"]), zoo["served"] / "official.pth")
    register_model(
        ModelEntry(
            name="test/official",
            config=INSTANT_REL,
            url=zoo["server"].url("official.pth"),
            sha256=sha256_of(str(zoo["served"] / "official.pth")),
            format="eql.detectron2",
        )
    )
    model = model_zoo.get("test/official", trained=False)
    torch.nn.init.constant_(model.roi_heads.box_predictor.cls_score.weight, 7.0)
    DetectionCheckpointer(model).load("eql://test/official")
    loaded = model.state_dict()
    for k, v in zoo["state"].items():  # every weight comes from the (converted) checkpoint
        if ".cls_score." in k:
            assert torch.equal(loaded[k][:-1], v[:-1]), k
        else:
            assert torch.equal(loaded[k], v), k


def _eval_by_name(tiny_synthetic, out, name, env):
    """tools/train_net.py --eval-only on tiny_synthetic with MODEL.WEIGHTS eql://<name>."""
    from common import synthetic_args

    cmd = [
        sys.executable,
        os.path.join(REPO, "tools", "train_net.py"),
        "--eval-only",
        *synthetic_args(tiny_synthetic, out),
        "MODEL.WEIGHTS",
        f"eql://{name}",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)


@pytest.mark.slow
def test_publish_then_eval_only_by_name(zoo, tiny_synthetic, tmp_path):
    """tools/publish_model.py writes file + registry entry; train_net --eval-only with
    MODEL.WEIGHTS eql://<name> downloads it from the local server and evaluates."""

    ckpt = tmp_path / "model_final.pth"
    torch.save({"model": zoo["state"], "optimizer": {}, "iteration": 3}, ckpt)
    registry = tmp_path / "registry.json"
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "EQL_MODEL_ZOO_REGISTRY": str(registry),
        "FVCORE_CACHE": str(tmp_path / "cache2"),
    }
    argv = [str(ckpt), "--name", "test/published", "--config", INSTANT_REL]
    argv += ["--url-prefix", f"http://127.0.0.1:{zoo['server'].port}/"]
    argv += ["--out-dir", str(zoo["served"]), "--registry", str(registry)]
    code, err, _ = run_tool("publish_model", argv)  # in-process; the user's eval below is not
    assert code == 0, err[-3000:]
    entry = json.loads(registry.read_text())["models"]["test/published"]
    published = zoo["served"] / os.path.basename(entry["url"])
    assert sha256_of(str(published)) == entry["sha256"]
    assert set(torch.load(published, weights_only=False)) == {"model"}  # optimizer stripped
    out = tmp_path / "evalrun"
    proc = _eval_by_name(tiny_synthetic, out, "test/published", env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "copypaste: AP,AP50" in proc.stdout + proc.stderr
    assert (out / "inference" / "tiny_synthetic_val" / "lvis_instances_results.json").is_file()
    assert zoo["server"].requests == 1


def test_publish_records_the_last_evaluation_and_leaves_out_what_was_not_measured(tmp_path):
    """--metrics: the last metrics.json line with evaluation results (not the last line), rounded
    to 3 places; a NaN metric (no class of that group in the set) is left out and said so."""
    ckpt = tmp_path / "model_final.pth"
    torch.save({"model": {"w": torch.ones(2)}, "iteration": 3}, ckpt)
    metrics = tmp_path / "metrics.json"
    lines = [
        {"iteration": 4, "bbox/AP": 1.0},
        {"iteration": 9, "bbox/AP": 12.34567, "bbox/APr": float("nan"), "segm/AP": 11},
        {"iteration": 9, "total_loss": 0.5},
    ]
    metrics.write_text("".join(json.dumps(x) + "\n" for x in lines) + "\n")  # a blank line too
    out = tmp_path / "publish"
    argv = [str(ckpt), "--name", "test/m", "--config", INSTANT_REL, "--url-prefix", "http://h/"]
    argv += ["--out-dir", str(out), "--metrics", str(metrics)]
    code, err, printed = run_tool("publish_model", argv)
    assert code == 0, err
    entry = json.loads((out / "models.json").read_text())["models"]["test/m"]
    assert entry["metrics"] == {"bbox/AP": 12.346, "segm/AP": 11.0}
    assert f"left out of its metrics (NaN in {metrics}: not measured): ['bbox/APr']" in printed


def test_offline_train_net_prints_one_clear_message(zoo, tiny_synthetic, tmp_path):
    from eql.model_zoo import write_registry_entry

    registry = tmp_path / "registry.json"
    write_registry_entry(
        str(registry),
        ModelEntry(
            name="test/offline",
            config=INSTANT_REL,
            url="http://127.0.0.1:9/model.pth",
            sha256="a" * 64,
        ),
    )
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "EQL_MODEL_ZOO_REGISTRY": str(registry),
        "FVCORE_CACHE": str(tmp_path / "cache3"),
    }
    proc = _eval_by_name(tiny_synthetic, tmp_path / "out", "test/offline", env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "http://127.0.0.1:9/model.pth" in line and "put it at" in line


def test_detectron2_paths_keep_their_handler():
    from detectron2.utils.file_io import PathManager

    handlers = PathManager._path_handlers
    assert "eql://" in handlers and "detectron2://" in handlers
    assert type(handlers["detectron2://"]).__name__ != "EQLModelZooHandler"
