"""Batches of jets held as dicts of tensors: the data plumbing the evaluators and the
fine-tuning engine share (no task, evaluator or file format here, so that every leaderboard
module can import it without a cycle)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

Batch = dict[str, Tensor]


class DictDataset(Dataset):
    """A dict of equally long tensors as a map-style dataset of per-jet dicts."""

    def __init__(self, tensors: Batch) -> None:
        lengths = {k: len(v) for k, v in tensors.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"tensors of different lengths: {lengths}")
        self.tensors = tensors
        self._n = next(iter(lengths.values())) if lengths else 0

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Batch:
        return {k: v[i] for k, v in self.tensors.items()}

    def __getitems__(self, idx: list[int]) -> Batch:  # one gather per batch
        index = torch.as_tensor(idx, dtype=torch.long)
        return {k: v[index] for k, v in self.tensors.items()}


def _collate_batch(batch: Any) -> Batch:
    if isinstance(batch, dict):  # from __getitems__
        return batch
    return torch.utils.data.default_collate(batch)


def make_loader(
    tensors: Batch, batch_size: int, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """A DataLoader over a dict of tensors yielding batch dicts."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        DictDataset(tensors),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=gen,
        collate_fn=_collate_batch,
    )


def select(tensors: Batch, index: Tensor) -> Batch:
    """Rows ``index`` of every tensor."""
    return {k: v[index] for k, v in tensors.items()}


def stratified_subset(labels: Tensor, fraction: float, seed: int = 0) -> Tensor:
    """Sorted indices of a seeded random ``fraction`` of each class (at least one per class)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        n = max(1, int(round(fraction * len(idx))))
        picked.append(idx[torch.randperm(len(idx), generator=gen)[:n]])
    return torch.sort(torch.cat(picked)).values
