"""Per-jet outputs of a frozen backbone (embeddings, AE scores) through ``Trainer.predict``.

``extract(model, data, fn="embed", devices=N)`` runs ``model.embed(batch)`` (or
``model.reconstruction_score(batch)``, or any method name / callable) over every jet of ``data``
and returns ``(outputs (N, ...), labels (N,))`` **in dataset order, every jet exactly once**,
on every process, for any number of processes:

- each batch carries its jets' dataset indices (:class:`IndexedDataset`, :class:`IndexedCollate`);
- :class:`ContiguousDistributedSampler` gives rank r the contiguous block
  ``[r * N // R, (r + 1) * N // R)``, with no padding and no duplicates (torch's
  ``DistributedSampler`` pads with repeated jets so that all ranks have equal length);
- at the end of the epoch the outputs and indices of all ranks are all-gathered (uneven sizes
  allowed), sorted by index and checked to be exactly ``0..N-1``.

With ``devices > 1`` Lightning's ``ddp`` strategy re-launches the calling script once per extra
device, so the code around ``extract`` runs in every process: write files only where
``is_global_zero()`` (or ``int(os.environ.get("RANK", 0)) == 0``) holds.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, default_collate

OutputFn = str | Callable[[nn.Module, dict[str, Tensor]], Tensor]
INDEX_KEY = "_jetzoo_index"


class TensorDictDataset(Dataset):
    """Map-style dataset over a dict of tensors sharing the first dimension (one jet per row)."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        if not tensors:
            raise ValueError("TensorDictDataset needs at least one tensor")
        sizes = {k: len(v) for k, v in tensors.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"tensors differ in their first dimension: {sizes}")
        self.tensors = {k: torch.as_tensor(v) for k, v in tensors.items()}
        self._n = next(iter(sizes.values()))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class IndexedDataset(Dataset):
    """Wraps a map-style dataset of dict items so that each batch carries its dataset indices.

    ``__getitems__`` (what ``DataLoader`` calls with a whole batch of indices) returns
    ``(indices, items)``, using the wrapped dataset's own ``__getitems__`` when it has one (e.g.
    ``JetDataset``'s one-read-per-shard path); :class:`IndexedCollate` then collates ``items``
    with the dataset's collate function and adds the indices under ``INDEX_KEY``.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> Any:
        return self.dataset[i]

    def __getitems__(self, indices: list[int]) -> tuple[list[int], Any]:
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(indices) if getitems else [self.dataset[i] for i in indices]
        return list(indices), items


class IndexedCollate:
    """Collate ``(indices, items)`` from :class:`IndexedDataset` into a batch dict with the
    indices (int64) under ``INDEX_KEY``."""

    def __init__(self, collate_fn: Callable | None = None) -> None:
        self.collate_fn = collate_fn or default_collate

    def __call__(self, batch: tuple[list[int], Any]) -> dict[str, Any]:
        indices, items = batch
        out = self.collate_fn(items)
        if not isinstance(out, Mapping):
            raise TypeError(
                f"the collated batch is a {type(out).__name__}; extract() needs "
                "dataset items / batches that are dicts (the jetzoo batch keys)"
            )
        return {**out, INDEX_KEY: torch.as_tensor(indices, dtype=torch.long)}


class ContiguousDistributedSampler(Sampler[int]):
    """Rank ``rank`` of ``num_replicas`` gets indices ``[rank*n//R, (rank+1)*n//R)`` in order:
    every index exactly once over all ranks, no padding (block sizes differ by at most one)."""

    def __init__(self, n: int, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.start = rank * n // num_replicas
        self.stop = (rank + 1) * n // num_replicas

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def _resolve_fn(model: nn.Module, fn: OutputFn) -> Callable[[dict[str, Tensor]], Tensor]:
    if callable(fn):
        return lambda batch: fn(model, batch)
    method = getattr(model, fn, None)
    if not callable(method):
        raise AttributeError(
            f"{type(model).__name__} has no method {fn!r} to extract "
            "(every backbone has embed(batch); autoencoders also "
            "reconstruction_score(batch))"
        )
    return method


def _gather_uneven(t: Tensor) -> Tensor:
    """Concatenate ``t`` (first dimensions may differ) from every rank, in rank order."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    world = dist.get_world_size()
    n = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    max_n = int(max(s.item() for s in sizes))
    padded = t.new_zeros((max_n, *t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)])


def _make_module(
    model: nn.Module,
    fn: OutputFn,
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    collate_fn: Callable | None,
    label_key: str,
) -> Any:
    import lightning.pytorch as pl  # imported here so that importing this module stays cheap

    class ExtractModule(pl.LightningModule):
        """Predict-only wrapper: runs ``fn`` per batch, gathers and orders the outputs."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self._fn = _resolve_fn(model, fn)
            self._outs: list[Tensor] = []
            self._labels: list[Tensor] = []
            self._index: list[Tensor] = []
            self.result: tuple[Tensor, Tensor | None] | None = None

        def predict_dataloader(self) -> DataLoader:
            if len(dataset) < self.trainer.world_size:
                raise ValueError(
                    f"extract: {len(dataset)} jets cannot be split over "
                    f"{self.trainer.world_size} processes"
                )
            sampler = ContiguousDistributedSampler(
                len(dataset), self.trainer.world_size, self.trainer.global_rank
            )
            return DataLoader(
                IndexedDataset(dataset),
                batch_size=batch_size,
                sampler=sampler,
                num_workers=num_workers,
                collate_fn=IndexedCollate(collate_fn),
                shuffle=False,
                drop_last=False,
            )

        def on_predict_epoch_start(self) -> None:
            self._outs, self._labels, self._index = [], [], []

        def predict_step(self, batch: dict[str, Any], batch_idx: int) -> None:
            index = batch.pop(INDEX_KEY)
            out = self._fn(batch)
            if not isinstance(out, Tensor) or out.shape[0] != index.shape[0]:
                raise ValueError(
                    f"{fn!r} returned {getattr(out, 'shape', type(out))} for a batch "
                    f"of {index.shape[0]} jets; expected a tensor (B, ...)"
                )
            self._outs.append(out.detach().float())
            self._index.append(index.to(out.device).long())
            if label_key in batch:
                self._labels.append(torch.as_tensor(batch[label_key]).to(out.device).long())

        def on_predict_epoch_end(self) -> None:
            dev = self.device
            out = torch.cat(self._outs) if self._outs else torch.zeros((0,), device=dev)
            index = (
                torch.cat(self._index)
                if self._index
                else torch.zeros((0,), dtype=torch.long, device=dev)
            )
            have_labels = len(self._labels) == len(self._outs) and bool(self._labels)
            labels = torch.cat(self._labels) if have_labels else None
            out, index = _gather_uneven(out.to(dev)), _gather_uneven(index.to(dev))
            if labels is not None:
                labels = _gather_uneven(labels.to(dev))
            order = torch.argsort(index)
            n = len(dataset)
            if not torch.equal(index[order].cpu(), torch.arange(n)):
                raise RuntimeError(
                    f"extract: gathered {index.numel()} jets for a dataset of {n}; "
                    "every jet must be scored exactly once"
                )
            self.result = (out[order].cpu(), None if labels is None else labels[order].cpu())
            self._outs, self._labels, self._index = [], [], []

    return ExtractModule()


def _dataset_of(data: Any) -> tuple[Dataset, Callable | None, int | None, int]:
    """(map-style dataset, collate_fn, batch_size, num_workers) from a DataLoader / Dataset /
    dict of tensors."""
    collate, bs, workers = None, None, 0
    if isinstance(data, DataLoader):
        collate, bs, workers = data.collate_fn, data.batch_size, data.num_workers
        data = data.dataset
    if isinstance(data, Mapping):
        data = TensorDictDataset(data)
    if (
        isinstance(data, IterableDataset)
        or not hasattr(data, "__getitem__")
        or not hasattr(data, "__len__")
    ):
        raise TypeError(
            f"extract() needs a map-style dataset (__len__ and __getitem__) so that "
            f"every jet can be scored exactly once in order; got {type(data).__name__}"
        )
    return data, collate, bs, workers


def extract(
    model: nn.Module,
    data: Any,
    fn: OutputFn = "embed",
    devices: int | str = 1,
    batch_size: int | None = None,
    accelerator: str = "auto",
    strategy: str | None = None,
    num_workers: int | None = None,
    label_key: str = "label",
    precision: Any = "32-true",
    progress: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Run ``fn`` (a method name of ``model`` or ``callable(model, batch)``) over every jet.

    Args:
        model: a backbone (``embed(batch)``) or any ``nn.Module`` with the method ``fn``; used in
            eval mode without gradients; its training flag and device are restored afterwards.
        data: a map-style ``Dataset`` of dict items, a ``DataLoader`` over one (its dataset,
            collate_fn, batch size and workers are reused; its sampler/shuffle is not), or a dict
            of tensors with one row per jet.
        fn: ``"embed"`` (default), ``"reconstruction_score"``, another method name, or a callable.
        devices, accelerator, strategy, precision: Lightning ``Trainer`` arguments (strategy
            defaults to ``"ddp"`` for several devices, else ``"auto"``).
        batch_size: jets per step per device (default: the DataLoader's, else 256).
        label_key: batch key of the labels returned alongside (``None`` if absent).
    Returns:
        ``(outputs (N, ...) float32 on CPU, labels (N,) int64 or None)``, row i = dataset item i.
    """
    import lightning.pytorch as pl

    dataset, collate, loader_bs, loader_workers = _dataset_of(data)
    batch_size = batch_size or loader_bs or 256
    num_workers = loader_workers if num_workers is None else num_workers
    n_dev = devices if isinstance(devices, int) else -1
    strategy = strategy or ("ddp" if n_dev != 1 else "auto")
    module = _make_module(model, fn, dataset, batch_size, num_workers, collate, label_key)
    was_training = model.training
    param = next(iter(model.parameters()), None)
    was_on = param.device if param is not None else None
    # The Trainer announces its hardware ("GPU available: ...") on every construction; one
    # extraction per task and split would repeat it dozens of times in a submission.
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = rank_zero_log.level
    rank_zero_log.setLevel(logging.WARNING)
    try:
        trainer = pl.Trainer(
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            precision=precision,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=progress,
            use_distributed_sampler=False,
            inference_mode=True,
        )
    finally:
        rank_zero_log.setLevel(level)
    try:
        with warnings.catch_warnings():  # predict_step returns None on purpose (outputs kept)
            warnings.filterwarnings("ignore", message=".*predict returned None.*")
            # Lightning 2.x builds torch pytree LeafSpecs, deprecated in torch 2.14: two lines
            # per call of nothing a user can act on
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
            trainer.predict(module, return_predictions=False)
    finally:  # Lightning leaves the model on the CPU after predict
        model.train(was_training)
        if was_on is not None:
            model.to(was_on)
    if module.result is None:  # pragma: no cover - Lightning skipped the epoch
        raise RuntimeError("extract: the prediction loop produced no result")
    return module.result


def extract_embeddings(
    model: nn.Module,
    data: Any,
    devices: int | str = 1,
    batch_size: int | None = None,
    **kwargs: Any,
) -> tuple[Tensor, Tensor | None]:
    """``(embeddings (N, D), labels (N,))`` of a backbone's ``embed(batch)``; see
    :func:`extract`."""
    return extract(model, data, fn="embed", devices=devices, batch_size=batch_size, **kwargs)


def is_global_zero() -> bool:
    """True in the process that should write files (rank 0, or no distributed run)."""
    import os

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) == 0
