"""Embedding extraction through the Lightning Trainer: ordered, every jet exactly once, also DDP.

The 2-process test runs this file as a script (Lightning's ``ddp`` strategy re-launches the
calling script per device, which must not be pytest itself): two CPU processes with gloo.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from jetzoo.leaderboard.embeddings import (
    ContiguousDistributedSampler,
    extract,
    extract_embeddings,
    is_global_zero,
)

N_JETS = 37  # not divisible by 2 processes x batch 8 (= 16), nor by 2
BATCH = 8


def _data(n: int = N_JETS) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 30, 3, generator=g)
    mask = torch.rand(n, 30, generator=g) > 0.3
    mask[:, 0] = True
    # label = dataset index: the returned labels prove the row order exactly
    return {"x": x, "mask": mask, "jet": torch.rand(n, 4, generator=g), "label": torch.arange(n)}


def _model() -> torch.nn.Module:
    from jetzoo import create_backbone

    torch.manual_seed(0)
    return create_backbone("jbot-s")


@pytest.mark.parametrize("n,world", [(37, 2), (37, 3), (5, 5), (100, 8), (16, 2)])
def test_contiguous_sampler_covers_every_index_once(n: int, world: int) -> None:
    parts = [list(ContiguousDistributedSampler(n, world, r)) for r in range(world)]
    assert sum(parts, []) == list(range(n))  # in order, no duplicate, none missing
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    # torch's DistributedSampler pads by repeating jets, which would score them twice
    torch_parts = [
        list(DistributedSampler(range(n), world, r, shuffle=False)) for r in range(world)
    ]
    assert sum(map(len, torch_parts)) == world * -(-n // world)  # > n unless world divides n
    if n % world:
        assert len(set(sum(torch_parts, []))) < sum(map(len, torch_parts))


def test_single_process_extract_equals_direct_embed() -> None:
    model, data = _model(), _data()
    emb, labels = extract_embeddings(
        model, data, batch_size=BATCH, accelerator="cpu", progress=False
    )
    assert model.training  # training flag restored
    model.eval()
    with torch.no_grad():
        ref = model.embed({"x": data["x"], "mask": data["mask"]})
    assert emb.shape == (N_JETS, model.num_features)
    assert torch.equal(labels, torch.arange(N_JETS))
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-5)
    # a DataLoader is accepted (its shuffle is ignored: output is in dataset order)
    from jetzoo.leaderboard.embeddings import TensorDictDataset

    loader = DataLoader(TensorDictDataset(data), batch_size=5, shuffle=True)
    emb2, labels2 = extract(model, loader, accelerator="cpu", progress=False)
    assert torch.equal(labels2, torch.arange(N_JETS))
    torch.testing.assert_close(emb2, ref, atol=1e-5, rtol=1e-5)
    # other per-jet functions go through the same path (here: a callable)
    norms, _ = extract(
        model,
        data,
        fn=lambda m, b: m.embed(b).norm(dim=1),
        batch_size=BATCH,
        accelerator="cpu",
        progress=False,
    )
    torch.testing.assert_close(norms, ref.norm(dim=1), atol=1e-5, rtol=1e-5)


def test_extract_raises_no_torch_pytree_deprecation() -> None:
    """Lightning's predict loop builds deprecated torch LeafSpecs; extract keeps that quiet."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extract(_model(), _data(), batch_size=BATCH, accelerator="cpu", progress=False)
    assert not [w for w in caught if "LeafSpec" in str(w.message)]


def test_extract_on_the_embedded_sample_keeps_dataset_order() -> None:
    """The real JetDataset (batched __getitems__ reads, collate_jets) through extract()."""
    import numpy as np

    from jetzoo.data import sample_path
    from jetzoo.data.dataset import JetDataset, collate_jets

    if not (sample_path() / "manifest.json").is_file():
        pytest.skip("embedded sample not generated yet")
    dataset = JetDataset(sample_path(), indices=np.arange(3, 10_000, 89))
    loader = DataLoader(dataset, batch_size=16, shuffle=True, collate_fn=collate_jets)
    model = _model()
    emb, labels = extract_embeddings(model, loader, accelerator="cpu", progress=False)
    assert torch.equal(labels, torch.as_tensor(dataset.labels, dtype=torch.long))
    model.eval()
    with torch.no_grad():
        ref = model.embed(dataset.get_batch(np.arange(len(dataset))))
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-5)


def test_extract_errors_name_the_problem() -> None:
    with pytest.raises(AttributeError, match="reconstruction_score"):
        extract(_model(), _data(), fn="reconstruction_score", accelerator="cpu", progress=False)

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter([])

    with pytest.raises(TypeError, match="map-style"):
        extract(_model(), Stream(), accelerator="cpu", progress=False)


@pytest.mark.slow
def test_two_process_ddp_embeddings_equal_single_process(tmp_path: Path) -> None:
    model, data = _model(), _data()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert out["world_size"] == 2
    # each rank saw its own contiguous block (19 + 18 jets)
    assert sorted(out["local_sizes"]) == [18, 19]
    single, single_labels = extract_embeddings(
        model, data, batch_size=BATCH, accelerator="cpu", progress=False
    )
    assert torch.equal(out["labels"], torch.arange(N_JETS))
    assert torch.equal(single_labels, out["labels"])
    assert out["emb"].shape == single.shape
    torch.testing.assert_close(out["emb"], single, atol=1e-5, rtol=1e-5)
    # row for row: each DDP row is nearest to the same single-process row
    nearest = torch.cdist(out["emb"], single).argmin(dim=1)
    assert torch.equal(nearest, torch.arange(N_JETS))


def _ddp_worker(outdir: Path) -> None:
    """Run by the slow test (and re-launched by Lightning for rank 1)."""
    import torch.distributed as dist

    model = _model()
    model.load_state_dict(torch.load(outdir / "weights.pt", weights_only=True))
    emb, labels = extract_embeddings(
        model,
        _data(),
        devices=2,
        batch_size=BATCH,
        accelerator="cpu",
        strategy="ddp",
        progress=False,
    )
    world = dist.get_world_size()
    local = torch.tensor([len(ContiguousDistributedSampler(N_JETS, world, dist.get_rank()))])
    sizes = [torch.zeros_like(local) for _ in range(world)]
    dist.all_gather(sizes, local)
    if is_global_zero():
        torch.save(
            {
                "emb": emb,
                "labels": labels,
                "world_size": world,
                "local_sizes": [int(s) for s in sizes],
            },
            outdir / "ddp.pt",
        )
    # leave gloo before the interpreter exits: its threads torn down at exit have aborted a
    # rank ("terminate called without an active exception", one CI run of 2026-12-04)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    _ddp_worker(Path(sys.argv[1]))
