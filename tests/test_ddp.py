"""Recipes under DDP, unchanged: 2 CPU processes (gloo) through `jetzoo run ... trainer.devices=2
trainer.strategy=ddp`.

Lightning's subprocess launcher re-runs the driver script for rank 1, so the driver is a small
script file. Each rank records what its collectives saw and a hash of its final weights; the test
checks that both ranks end bit-identical, that NT-Xent drew its negatives from the global batch
(2 * B * world - 2 per anchor), and that jBOT's centre update (``jetzoo.losses.update_center``)
used the sums and counts of both ranks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2
BATCH = 32  # per rank
STEPS = 3

DRIVER = r"""
import hashlib, json, os, sys
import torch
import jetzoo.losses as losses

out_dir = sys.argv[1]
log = {"gather": [], "reduce": []}
_gather = losses.gather_with_grad
def gather_with_grad(t):
    full, offset = _gather(t)
    log["gather"].append([int(t.shape[0]), int(full.shape[0]), int(offset)])
    return full, offset
losses.gather_with_grad = gather_with_grad   # nt_xent looks it up in jetzoo.losses

_reduce = losses.all_reduce_sum
def all_reduce_sum(t):
    total = _reduce(t)
    log["reduce"].append([t.double().flatten().tolist(), total.double().flatten().tolist()])
    return total
losses.all_reduce_sum = all_reduce_sum       # update_center's all-reduce of sums and counts

from jetzoo.recipes.runner import train
res = train(sys.argv[2], sys.argv[3:])
rank = res.trainer.global_rank
h = hashlib.sha256()
for name, value in sorted(res.module.state_dict().items()):
    h.update(name.encode()); h.update(value.detach().cpu().contiguous().numpy().tobytes())
log.update(rank=rank, world=res.trainer.world_size, sha256=h.hexdigest(),
           global_step=res.trainer.global_step)
with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
    json.dump(log, f)
"""


def _run_ddp(tmp_path: Path, recipe: str) -> list[dict]:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    overrides = [
        "data.path=sample",
        f"data.max_jets={WORLD * BATCH * STEPS}",
        f"data.batch_size={BATCH}",
        "data.num_workers=0",
        "model.backbone_overrides.embed_dim=16",
        "model.backbone_overrides.depth=1",
        "model.backbone_overrides.num_heads=2",
        "trainer.accelerator=cpu",
        f"trainer.devices={WORLD}",
        "trainer.strategy=ddp",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=0",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "optimizer.warmup_epochs=null",
        "optimizer.warmup_steps=1",
        "logging.tensorboard=false",
        f"output.dir={tmp_path / 'run'}",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            str(driver),
            str(tmp_path),
            str(ROOT / "recipes" / f"{recipe}.yaml"),
            *overrides,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    assert [log["rank"] for log in logs] == [0, 1]
    assert all(log["world"] == WORLD for log in logs)
    return logs


@pytest.mark.slow
def test_ddp_jetclr_identical_weights_and_global_negatives(tmp_path: Path) -> None:
    logs = _run_ddp(tmp_path, "jetclr")
    assert logs[0]["sha256"] == logs[1]["sha256"]
    # each sharded rank ran STEPS steps of BATCH jets (max_jets split over the 2 ranks)
    assert logs[0]["global_step"] == logs[1]["global_step"] == STEPS
    for rank, log in enumerate(logs):
        train_calls = log["gather"]  # no validation batches: every gather is a training step's
        assert len(train_calls) == STEPS  # nt_xent gathers both views in one collective
        for local, full, offset in train_calls:
            assert (local, full, offset) == (BATCH, WORLD * BATCH, rank * BATCH)
            negatives = 2 * full - 2  # per anchor: all 2n embeddings but itself and its positive
            assert negatives == 2 * BATCH * WORLD - 2
    assert (tmp_path / "run" / "backbone" / "model.safetensors").is_file()  # rank 0 saved it


@pytest.mark.slow
def test_ddp_jbot_identical_weights_and_synchronised_centre(tmp_path: Path) -> None:
    logs = _run_ddp(tmp_path, "jbot-s")
    assert logs[0]["sha256"] == logs[1]["sha256"]
    # the centre updates: all-reduces of (sum of teacher outputs over K dims, count)
    reduce0 = [r for r in logs[0]["reduce"] if len(r[0]) > 1]
    reduce1 = [r for r in logs[1]["reduce"] if len(r[0]) > 1]
    assert len(reduce0) == len(reduce1) >= STEPS
    n_checked = 0
    for (local0, total0), (local1, total1) in zip(reduce0, reduce1):
        assert total0 == pytest.approx(total1, rel=1e-6, abs=1e-9)
        assert total0 == pytest.approx([a + b for a, b in zip(local0, local1)], rel=1e-5, abs=1e-6)
        n_checked += local0 != local1  # the ranks saw different jets
    assert n_checked >= STEPS


GRAD_DRIVER = r"""
import sys
import torch
import torch.distributed as dist
from jetzoo.losses import gather_with_grad, nt_xent

rank, world, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
g = torch.Generator().manual_seed(0)
z_a, z_b = torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)
rows = slice(4 * rank, 4 * rank + 4)                  # 4 jets per rank
a, b = z_a[rows].clone().requires_grad_(), z_b[rows].clone().requires_grad_()
nt_xent(a, b, temperature=0.1).backward()
# uneven batches (the last batch of an epoch): rank 0 holds 3 rows, rank 1 holds 5
n = 3 if rank == 0 else 5
full, offset = gather_with_grad(torch.arange(n * 2.0).view(n, 2) + 100 * rank)
torch.save({"grad_a": a.grad, "grad_b": b.grad, "full": full, "offset": offset},
           f"{store}.rank{rank}.pt")
dist.barrier()  # no rank tears gloo down while the other is still in a collective (SIGABRT)
dist.destroy_process_group()
"""


def test_gathered_nt_xent_gradient_is_the_global_batch_gradient(tmp_path: Path) -> None:
    """Each rank's NT-Xent over the gathered batch, summed over ranks, has the gradient of the
    single-process loss on the whole batch times the world size (DDP then averages): the
    collective's backward returns every rank's gradient to the rows it came from. Uneven
    batches gather in rank order without padding rows."""
    import torch

    from jetzoo.losses import nt_xent

    driver = tmp_path / "grad.py"
    driver.write_text(GRAD_DRIVER)
    store = tmp_path / "store"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, str(driver), str(r), str(WORLD), str(store)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(WORLD)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    got = [torch.load(f"{store}.rank{r}.pt", weights_only=True) for r in range(WORLD)]
    g = torch.Generator().manual_seed(0)
    z_a = torch.randn(8, 6, generator=g).requires_grad_()
    z_b = torch.randn(8, 6, generator=g).requires_grad_()
    nt_xent(z_a, z_b, temperature=0.1, gather=False).backward()
    for r, out in enumerate(got):
        rows = slice(4 * r, 4 * r + 4)
        assert torch.allclose(out["grad_a"], WORLD * z_a.grad[rows], atol=1e-6)
        assert torch.allclose(out["grad_b"], WORLD * z_b.grad[rows], atol=1e-6)
    expected = torch.cat([torch.arange(6.0).view(3, 2), torch.arange(10.0).view(5, 2) + 100])
    assert all(torch.equal(out["full"], expected) for out in got)
    assert [out["offset"] for out in got] == [0, 3]
