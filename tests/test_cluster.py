"""Cluster launches: ranks from Lightning's cluster environments (a simulated 2-task SLURM job),
one override reader for recipes and tasks, Lightning's named DDP strategies, and the
`lightning` command owned by jetzoo alone."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jetzoo.recipes.config import ConfigError, cfg_to_dict, load_config
from jetzoo.utils.yaml_values import OverrideError, parse_assignment, parse_value

ROOT = Path(__file__).resolve().parents[1]
BASE = "recipe: jbot\nmodel:\n  backbone: jbot-s\n"


def _write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-3", 1e-3),
        ("5E-4", 5e-4),
        ("-2e+1", -20.0),
        (".5", 0.5),
        ("1.5e2", 150.0),
        ("3", 3),
        ("true", True),
        ("null", None),
        ("", None),
        ("[1e-3, 2]", [1e-3, 2]),
        ("bf16-mixed", "bf16-mixed"),
        ("1e", "1e"),
        ("runs/a", "runs/a"),
        (".inf", float("inf")),
    ],
)
def test_override_values_read_numbers_the_yaml_1_2_way(text: str, value: object) -> None:
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_override_errors_name_the_override() -> None:
    with pytest.raises(
        OverrideError,
        match=r"override 'data.classes=\[q,': value '\[q,' is not "
        r"valid YAML",
    ):
        parse_assignment("data.classes=[q,")
    with pytest.raises(OverrideError, match="expected KEY=VALUE"):
        parse_assignment("max_epochs")
    with pytest.raises(OverrideError, match="malformed key 'a..b'"):
        parse_assignment("a..b=1")


def test_recipe_overrides_and_files_take_exponent_floats(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "  teacher_temp: 4e-2\noptimizer:\n  lr: 1e-3\n")
    cfg = cfg_to_dict(
        load_config(
            path,
            [
                "trainer.gradient_clip_val=1e-1",
                "optimizer.lr=2e-3",
                "model.student_temp=1E-1",
                "optimizer.weight_decay=5e-5",
                "data.split=[8e-1, 1e-1, 1e-1]",
            ],
        )
    )
    assert cfg["trainer"]["gradient_clip_val"] == 0.1
    assert isinstance(cfg["trainer"]["gradient_clip_val"], float)
    assert cfg["optimizer"]["lr"] == 2e-3 and cfg["optimizer"]["weight_decay"] == 5e-5
    assert cfg["model"]["teacher_temp"] == 0.04 and cfg["model"]["student_temp"] == 0.1
    assert cfg["data"]["split"] == [0.8, 0.1, 0.1]
    with pytest.raises(ConfigError, match=r"r\.yaml: command-line override 'data.classes=\[q,'"):
        load_config(path, ["data.classes=[q,"])


def test_task_overrides_use_the_same_reader() -> None:
    from jetzoo.leaderboard.errors import SubmissionError
    from jetzoo.leaderboard.submission import parse_overrides

    assert parse_overrides(["base_lrs=[1e-3, 5E-4]", "weight_decay=1e-4", "cosine_tau=5e-2"]) == {
        "base_lrs": [1e-3, 5e-4],
        "weight_decay": 1e-4,
        "cosine_tau": 0.05,
    }
    with pytest.raises(SubmissionError, match=r"--set 'base_lrs=\[1e-3': .*not valid YAML"):
        parse_overrides(["base_lrs=[1e-3"])


def test_task_files_take_exponent_floats(tmp_path: Path) -> None:
    from jetzoo.leaderboard.tasks import load_task

    src = (ROOT / "leaderboard" / "tasks" / "top-tagging.yaml").read_text()
    assert "\nsettings:\n" in src
    path = _write(
        tmp_path,
        src.replace(
            "\nsettings:\n", "\nsettings:\n  base_lrs: [1e-3, 5E-4]\n  weight_decay: 1e-4\n"
        ),
        "top-tagging.yaml",
    )
    task = load_task(path)
    assert task.settings["base_lrs"] == [1e-3, 5e-4] and task.settings["weight_decay"] == 1e-4


# ------------------------------------------------------------------------- the `lightning` command


def test_no_other_distribution_installs_a_lightning_command() -> None:
    owners = sorted(
        {
            d.metadata["Name"]
            for d in md.distributions()
            for ep in d.entry_points
            if ep.group == "console_scripts" and ep.name == "lightning"
        }
    )
    assert owners == ["jetzoo"], owners
    assert md.version("lightning") >= "2.6"


@pytest.mark.slow
def test_installed_lightning_command_runs_a_recipe(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("lightning")
    if not exe.is_file():
        pytest.skip("no console scripts beside this interpreter (not a venv install)")
    path = _write(tmp_path, BASE + "data:\n  batchsize: 3\n", "x.yaml")
    proc = subprocess.run([str(exe), "run", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "jetzoo run: error:" in proc.stderr
    assert "data.batchsize" in proc.stderr and str(path) in proc.stderr


# --------------------------------------------------------------------------- ranks and strategies


def test_strategy_names_go_to_lightning_unchanged(tmp_path: Path) -> None:
    import lightning as L
    from lightning.pytorch.strategies import DDPStrategy

    for name, unused in (("ddp", False), ("ddp_find_unused_parameters_true", True)):
        trainer = L.Trainer(
            accelerator="cpu",
            devices=2,
            strategy=name,
            logger=False,
            enable_progress_bar=False,
            default_root_dir=str(tmp_path),
        )
        assert isinstance(trainer.strategy, DDPStrategy)
        assert trainer.strategy._ddp_kwargs.get("find_unused_parameters", False) is unused
    src = (ROOT / "jetzoo" / "recipes" / "runner.py").read_text()
    assert "find_unused_parameters" not in src  # no hand-made remapping of "ddp"


def test_non_masking_recipes_train_every_parameter_they_keep_trainable() -> None:
    """Plain DDP needs a gradient for every trainable parameter in every step: the [MASK] token
    is frozen where a method never uses it."""
    import torch
    from _recipe_utils import TINY, synthetic_jets

    from jetzoo.recipes import RECIPES

    batch = synthetic_jets(16, pairs=True)
    for name, cls in RECIPES.items():
        if name == "rs3l":
            continue  # track + cell batches; covered by its DDP run below
        kwargs = {
            "backbone": "ae" if name == "autoencoder" else "jbot-s",
            "backbone_overrides": dict(TINY),
        }
        module = cls(**kwargs)
        loss, _ = module.compute_loss(batch, "train")
        loss.backward()
        idle = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
        assert not idle, (name, idle)
        assert any("mask_token" in n for n, _ in module.named_parameters())
        frozen = {n for n, p in module.named_parameters() if not p.requires_grad}
        assert all("mask_token" in n or n.startswith("teacher.") for n in frozen), frozen
        assert torch.isfinite(loss)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DRIVER = r"""
import hashlib, json, sys
from jetzoo.recipes.runner import train
res = train(sys.argv[2], sys.argv[3:])
h = hashlib.sha256()
for name, value in sorted(res.module.state_dict().items()):
    h.update(name.encode()); h.update(value.detach().contiguous().numpy().tobytes())
t = res.trainer
json.dump({"rank": t.global_rank, "world": t.world_size, "step": t.global_step,
           "env": type(t.strategy.cluster_environment).__name__, "sha256": h.hexdigest()},
          open(f"{sys.argv[1]}/rank{t.global_rank}.json", "w"))
"""


@pytest.mark.slow
def test_two_task_slurm_job_has_one_rank_zero(tmp_path: Path) -> None:
    """Two `srun` tasks (SLURM_PROCID 0 and 1), the second started after the first wrote the run
    folder: Lightning's SLURM environment
    gives them ranks 0 and 1, only rank 0 writes the run folder, both end bit-identical."""
    driver = _write(tmp_path, DRIVER, "driver.py")
    run = tmp_path / "run"
    overrides = [
        "data.path=sample",
        "data.max_jets=128",
        "data.batch_size=32",
        "model.backbone_overrides.embed_dim=16",
        "model.backbone_overrides.depth=1",
        "model.backbone_overrides.num_heads=2",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=0",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "optimizer.warmup_epochs=null",
        "optimizer.warmup_steps=1",
        "logging.tensorboard=false",
        f"output.dir={run}",
    ]
    port = str(_free_port())
    procs = []
    for rank in (0, 1):
        env = dict(
            os.environ,
            OMP_NUM_THREADS="1",
            PYTHONPATH=str(ROOT),
            SLURM_NTASKS="2",
            SLURM_NTASKS_PER_NODE="2",
            SLURM_PROCID=str(rank),
            SLURM_LOCALID=str(rank),
            SLURM_NODEID="0",
            SLURM_JOB_ID="4242",
            SLURM_JOB_NAME="jetzoo-test",
            SLURM_NODELIST="localhost",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE"):
            env.pop(key, None)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(driver),
                    str(tmp_path),
                    str(ROOT / "recipes" / "jetclr.yaml"),
                    *overrides,
                ],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        if rank == 0:  # rank 1 starts once rank 0 has written the folder: it must not mind
            deadline = time.monotonic() + 180
            while (
                not (run / "config.yaml").is_file()
                and procs[0].poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
    outs = {1: procs[1].communicate(timeout=300)}
    if procs[1].returncode != 0:  # rank 0 would wait for it in the process-group setup
        procs[0].kill()
    outs[0] = procs[0].communicate(timeout=300)
    for rank in (1, 0):
        assert procs[rank].returncode == 0, outs[rank][1][-3000:]
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [log["rank"] for log in logs] == [0, 1]
    assert all(log["world"] == 2 and log["env"] == "SLURMEnvironment" for log in logs)
    assert logs[0]["sha256"] == logs[1]["sha256"] and logs[0]["step"] == 2
    assert "already holds" not in outs[1][1]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["jets_seen"] == 128
