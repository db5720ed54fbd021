"""Install tiers: the core (load, embed, fine-tune, score) imports without the optional
dependencies, and a command that needs one says which extra to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("pythia8mc", "fastjet", "awkward", "uproot", "tensorboard", "wandb", "onnx", "mkdocs")

# Runs in a fresh interpreter where every optional module fails to import.
BLOCKED = """
import sys
for name in {optional!r}:
    sys.modules[name] = None  # `import name` raises ImportError
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED.format(optional=OPTIONAL) + code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_core_dependencies_leave_out_the_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    for name in OPTIONAL:
        assert name not in core, name
    extras = project["optional-dependencies"]
    assert {"generate", "onnx", "docs", "dev", "import", "train"} <= set(extras)
    dev = " ".join(extras["dev"]).lower()
    for extra in ("generate", "import", "train", "onnx", "docs"):
        for req in extras[extra]:
            assert req.lower() in dev, (extra, req)


@pytest.mark.slow
def test_core_works_without_the_extras(tmp_path: Path) -> None:
    """Load a shipped backbone, embed the sample, score a probe and fine-tune a step with every
    optional module blocked."""
    code = """
import torch
from jetzoo import JetZoo
from jetzoo.data import JetDataset, sample_path
from jetzoo.leaderboard.finetune import FineTuneSettings, finetune
from jetzoo.leaderboard.probes import knn_probe
from jetzoo.leaderboard.task_data import synthetic_task_data
from jetzoo.leaderboard.tasks import TASKS_DIR, load_task

model = JetZoo.from_pretrained("jbot-s").eval()
batch = JetDataset(sample_path()).get_batch(range(64))
with torch.no_grad():
    emb = model.embed(batch)
assert emb.shape == (64, model.num_features)
knn_probe(emb[:48], batch["label"][:48], emb[48:], k=5)
data = synthetic_task_data(load_task(TASKS_DIR / "top-tagging.yaml"), 40)
settings = FineTuneSettings(mode="llrd", max_epochs=1, batch_size=16, accelerator="cpu")
finetune(model, data.train, data.val, data.test, len(data.classes), settings)
for name in {optional!r}:
    assert sys.modules[name] is None, name
print("core ok")
""".format(optional=OPTIONAL)
    proc = _run(code)
    assert proc.returncode == 0 and "core ok" in proc.stdout, proc.stderr[-3000:]


@pytest.mark.parametrize(
    "argv, extra",
    [
        (
            ["generate", "jetnet", "--classes", "q", "--jets-per-class", "2", "--workers", "1"],
            "generate",
        ),
        (["export-onnx", "jbot-s"], "onnx"),
    ],
)
def test_a_command_names_its_missing_extra(tmp_path: Path, argv: list[str], extra: str) -> None:
    out = tmp_path / "out"
    code = "from jetzoo.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = _run(code, *argv, "--out", str(out))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"pip install 'jetzoo[{extra}]'" in proc.stderr.strip().splitlines()[-1]
    assert not out.exists() or not any(out.iterdir())
