"""A fresh, non-editable install of the package loads the shipped zoo backbones with the
network off: build the wheel, install it into an empty folder, and import from there only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jetzoo.models.zoo import load_config
from jetzoo.utils.io import sha256_file

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "jetzoo" / "weights"
RELEASE = ("jbot-s", "jbot-b", "jetclr", "ae", "rs3l", "jbot-s-qcd")

# Runs in the fresh interpreter: every socket connection fails, the HF cache is empty and
# offline, and the repository is not on sys.path.
PROBE = """
import json, socket, sys
def _no_network(*args, **kwargs):
    raise OSError("network is off in this test")
socket.socket.connect = _no_network
socket.create_connection = _no_network
import jetzoo
from jetzoo import JetZoo
assert jetzoo.__file__.startswith(sys.argv[1]), jetzoo.__file__
out = {}
for name in sys.argv[2:]:
    model = JetZoo.from_pretrained(name)
    cfg = model.pretrained_cfg
    out[name] = {"source": cfg["source"], "sha": cfg["weights_sha256"],
                 "training": cfg.get("training"), "training_mode": model.training}
from jetzoo.leaderboard.tasks import load_tasks
from jetzoo.recipes.config import load_config
out["_tasks"] = sorted(t.name for t in load_tasks())
out["_recipe"] = load_config("jbot-b").model["backbone"]
print(json.dumps(out))
"""


def test_shipped_weights_are_real_trained_backbones():
    """Every release name has a shipped folder whose config records its training run."""
    for name in RELEASE:
        folder = SHIPPED / name
        config = load_config(folder)
        assert config["model_name"] == name
        assert config["weights_sha256"] == sha256_file(folder / "model.safetensors")
        training = config["training"]
        assert training["global_step"] > 100 and training["wall_time_s"] > 60, (name, training)
        assert config["results"] and config["comparisons"], name
        assert (folder / "model.safetensors").stat().st_size < 5_000_000
        assert (REPO / "model_cards" / f"{name}.md").read_text() == (
            folder / "README.md"
        ).read_text()


@pytest.mark.slow
def test_fresh_wheel_install_loads_jbot_b_offline(tmp_path: Path):
    wheels, site, home = tmp_path / "wheels", tmp_path / "site", tmp_path / "hf-home"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        pip + ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        cwd=tmp_path,
        timeout=600,
    )
    wheel = next(wheels.glob("jetzoo-*.whl"))
    subprocess.run(
        pip + ["install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
        check=True,
        cwd=tmp_path,
        timeout=600,
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(home),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    env.pop("PYTHONSAFEPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(site), *RELEASE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in RELEASE:
        assert out[name]["source"].startswith(str(site)), out[name]["source"]
        assert out[name]["sha"] == sha256_file(SHIPPED / name / "model.safetensors")
        assert out[name]["training"]["epochs"] >= 1 and not out[name]["training_mode"]
    assert not home.exists() or not any(home.rglob("*.safetensors"))  # nothing was downloaded
    # the task files and recipes travel with the package
    assert out["_tasks"] == sorted(p.stem for p in (REPO / "leaderboard" / "tasks").glob("*.yaml"))
    assert out["_recipe"] == "jbot-b"
