"""Crash safety: SIGKILL during generation and during training, then the same command again
(generation) or `--resume` (training): nothing is lost, the end result is that of an
uninterrupted run (byte-identical shards; the same step and jet counts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jetzoo.data.jetnet_generator import generate
from jetzoo.recipes.checkpoints import epoch_checkpoints
from jetzoo.utils.io import sha256_file

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    """`jetzoo ARGS` in its own process group (so a SIGKILL takes its workers too)."""
    return subprocess.Popen(
        [sys.executable, "-m", "jetzoo.cli", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"finished before it could be killed: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the condition to kill at never came")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _dataset_files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_during_generation_then_rerun_gives_the_same_bytes(
    tmp_path: Path, workers: int
) -> None:
    args = [
        "--classes",
        "q,t",
        "--jets-per-class",
        "6",
        "--shard-size",
        "3",
        "--seed",
        "7",
        "--no-progress",
    ]
    generate(
        tmp_path / "ref" / "jets", ["q", "t"], 6, seed=7, workers=1, shard_size=3, progress=False
    )
    out = tmp_path / "jets"
    proc = _start(
        ["generate", "jetnet", *args, "--workers", str(workers), "--out", str(out)], tmp_path
    )
    _kill_when(proc, lambda: (out / "shard-00000.h5").exists() or (out / "shard-00001.h5").exists())
    assert not (out / "manifest.json").exists()  # the run was cut before its end
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "jetzoo.cli",
            "generate",
            "jetnet",
            *args,
            "--workers",
            str(workers),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _dataset_files(out) == _dataset_files(tmp_path / "ref" / "jets")
    assert not list(out.glob(".*"))  # no temp file left


TINY = [
    "data.path=sample",
    "data.max_jets=128",
    "data.batch_size=32",
    "model.backbone_overrides.embed_dim=16",
    "model.backbone_overrides.depth=1",
    "model.backbone_overrides.num_heads=2",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.max_epochs=4",
    "trainer.limit_val_batches=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "optimizer.warmup_epochs=null",
    "optimizer.warmup_steps=1",
    "logging.tensorboard=false",
]


@pytest.mark.slow
def test_sigkill_during_training_then_resume_finishes_the_run(tmp_path: Path) -> None:
    recipe = str(ROOT / "recipes" / "jetclr.yaml")
    run = tmp_path / "run"
    proc = _start(["run", recipe, *TINY, f"output.dir={run}"], tmp_path)
    _kill_when(proc, lambda: (run / "checkpoints" / "epoch000.ckpt").exists())
    assert not (run / "summary.json").exists() and not (run / "backbone").exists()
    # the same command again refuses to start over the killed run ...
    again = subprocess.run(
        [sys.executable, "-m", "jetzoo.cli", "run", recipe, *TINY, f"output.dir={run}"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 1 and "pass --resume to continue it" in again.stderr
    # ... and --resume finishes it
    resumed = subprocess.run(
        [sys.executable, "-m", "jetzoo.cli", "run", recipe, *TINY, f"output.dir={run}", "--resume"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    steps_per_epoch = 128 // 32
    assert summary["global_step"] == 4 * steps_per_epoch  # what an uninterrupted run does
    assert summary["epochs"] == 4 and summary["sittings"] == 2
    assert summary["jets_seen"] >= 4 * 128  # the killed sitting's last epoch ran twice at most
    assert (run / "backbone" / "model.safetensors").is_file()
    assert sorted(p.name for p in (run / "checkpoints").glob("epoch*.ckpt")) == [
        f"epoch{e:03d}.ckpt" for e in range(4)
    ]
    assert list(epoch_checkpoints(run)) == [1, 2, 3, 4]  # counted from 1, as the logs count
