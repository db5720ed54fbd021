"""Shared helpers of the recipe tests: tiny backbones, synthetic or sample jets, short fits."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

TINY = dict(embed_dim=16, depth=1, num_heads=2, dropout=0.0)


def synthetic_jets(
    n_jets: int = 500, n_particles: int = 30, seed: int = 0, pairs: bool = False
) -> dict[str, torch.Tensor]:
    """JetNet-like padded jets of 5 classes: class k has k+1 prongs (1..5) spread in (eta, phi),
    with more particles for more prongs. pT-ordered, pt_rel sums to 1, padding at the end.
    ``pairs`` adds ``x_b, mask_b, jet_b``: a second "hadronisation" of the same prongs."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_jets) % 5
    jet_pt = 500 + 500 * torch.rand(n_jets, generator=g)
    axes = torch.randn(n_jets, 5, 2, generator=g) * 0.25  # prong axes
    axis_share = torch.rand(n_jets, 5, generator=g) + 0.3
    out: dict[str, torch.Tensor] = {"label": labels}

    def hadronise(suffix: str) -> None:
        n_real = (8 + 4 * labels + torch.randint(0, 6, (n_jets,), generator=g)).clamp_max(
            n_particles
        )
        mask = torch.arange(n_particles)[None] < n_real[:, None]
        prong = (torch.rand(n_jets, n_particles, generator=g) * (labels[:, None] + 1)).long()
        centre = torch.gather(axes, 1, prong[..., None].expand(-1, -1, 2))
        pos = centre + torch.randn(n_jets, n_particles, 2, generator=g) * 0.04
        pt = torch.rand(n_jets, n_particles, generator=g).pow(2) * torch.gather(
            axis_share, 1, prong
        )
        pt = pt * mask
        pt = pt / pt.sum(1, keepdim=True)
        x = torch.cat([pos, pt[..., None]], -1) * mask[..., None]
        order = torch.argsort(torch.where(mask, pt, -1.0), dim=1, descending=True)
        x = torch.gather(x, 1, order[..., None].expand_as(x))
        mask = torch.gather(mask, 1, order)
        jet = torch.stack(
            [jet_pt, torch.zeros(n_jets), 50 + 30 * labels.float(), n_real.float()], -1
        )
        out.update({"x" + suffix: x.float(), "mask" + suffix: mask, "jet" + suffix: jet.float()})

    hadronise("")
    if pairs:
        hadronise("_b")
    return out


class DictDataset(Dataset):
    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.t = tensors

    def __len__(self) -> int:
        return len(next(iter(self.t.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.t.items()}


def loader(data: dict[str, torch.Tensor], batch_size: int = 64, shuffle: bool = True) -> DataLoader:
    return DataLoader(DictDataset(data), batch_size=batch_size, shuffle=shuffle, drop_last=shuffle)


@torch.no_grad()
def eval_loss(
    recipe: Any, batch: dict[str, torch.Tensor], seed: int = 123, repeats: int = 4
) -> float:
    """Mean loss on a fixed batch with fixed augmentation/mask randomness, in eval mode."""
    was = recipe.training
    recipe.eval()
    vals = []
    for r in range(repeats):
        torch.manual_seed(seed + r)
        vals.append(recipe.compute_loss(batch, "val")[0].item())
    recipe.train(was)
    return sum(vals) / len(vals)


def fit(recipe: Any, data: dict[str, torch.Tensor], steps: int, batch_size: int = 64) -> Any:
    import lightning as L

    trainer = L.Trainer(
        max_steps=steps,
        max_epochs=math.ceil(steps * batch_size / len(data["label"])) + 1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(recipe, train_dataloaders=loader(data, batch_size))
    return trainer


def one_thread():
    """Generator for a fixture: run with one torch thread (2 shared cores; oversubscription makes
    tiny models ~20x slower), restoring the setting afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


_SAMPLE_CACHE: dict[tuple[str, int, bool], dict[str, torch.Tensor]] = {}


def sample_jets(n_jets: int, split: str = "train", pairs: bool = False) -> dict[str, torch.Tensor]:
    """The first ``n_jets`` jets of a split of the embedded JetNet-like sample (shuffled by the
    datamodule's seed, so all classes appear), as one batch dict; ``pairs`` adds x_b, mask_b,
    jet_b (the same parton event re-hadronised)."""
    key = (split, n_jets, pairs)
    if key not in _SAMPLE_CACHE:
        from jetzoo.data import JetDataModule, sample_path

        dm = JetDataModule(sample_path(), pairs=pairs, batch_size=n_jets, seed=0)
        loader_ = dm.train_dataloader() if split == "train" else dm.val_dataloader()
        _SAMPLE_CACHE[key] = next(iter(loader_))
    return _SAMPLE_CACHE[key]


def sample_preprocessing():  # noqa: ANN201
    from jetzoo.data import load_preprocessing

    return load_preprocessing()
