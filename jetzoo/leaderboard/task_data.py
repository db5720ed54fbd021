"""The data of a leaderboard task: its dataset resolved and checked, split as in pre-training,
restricted to the task's classes and held in memory as tensors (:class:`TaskData`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import Tensor

from jetzoo.leaderboard.batches import Batch, select, stratified_subset
from jetzoo.leaderboard.tasks import Task, TaskError, TaskSkipped

_READ_CHUNK = 8192  # jets per HDF5 read while a task's splits are materialised


@dataclass
class TaskData:
    """The splits of a task in memory; ``label`` holds task-local class indices
    (position in ``task.classes``); ``dataset_sha256`` identifies the files read."""

    train: Batch
    val: Batch
    test: Batch
    classes: tuple[str, ...]
    dataset_sha256: str | None
    dataset_path: Path | None
    split_key: str = "synthetic"  # with dataset_sha256: which jets the splits hold
    shifted: Batch | None = None  # every jet of the task's shift_dataset (another simulator)
    shift_sha256: str | None = None

    def split(self, name: str) -> Batch:
        if name == "shifted":
            if self.shifted is None:
                raise KeyError("this task has no shift_dataset: no shifted jets")
            return self.shifted
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def resolve_dataset(task: Task, name: str | None = None) -> Path:
    """The folder of a task's dataset (or of ``name``, e.g. its ``shift_dataset``): a pinned
    catalog name (:mod:`jetzoo.data.catalog`, its sha256 checked) or a folder (relative to the
    task file). :class:`TaskSkipped` with the command that makes it when it is missing."""
    from jetzoo.data import catalog

    name = name or task.dataset
    if name in catalog.CATALOG:
        try:
            return catalog.locate(name)
        except catalog.DatasetMissing as err:
            raise TaskSkipped(f"task {task.name}: {err}", dataset=err.name) from err
    path = Path(name).expanduser()
    if not path.is_absolute() and task.source is not None:
        path = task.source.parent / path
    if not path.exists():
        hint = (
            "jetzoo generate rs3l --out PATH"
            if task.family == "rs3l"
            else "jetzoo generate jetnet --out PATH"
        )
        raise TaskSkipped(
            f"task {task.name}: dataset {name!r} not found at {path}; "
            f"produce it with `{hint}` and point the task's 'dataset' field at it "
            f"(or name a pinned dataset: {', '.join(catalog.CATALOG)})"
        )
    return path


def _materialise(loader: Iterable[Batch]) -> Batch:
    parts: dict[str, list[Tensor]] = {}
    for batch in loader:
        for k, v in batch.items():
            if isinstance(v, Tensor):
                parts.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in parts.items()}


def _jetnet_splits(task: Task, path: Path) -> tuple[list[Batch], str | None, tuple[str, ...]]:
    """(train, val, test) of a JetNet-layout dataset through ``JetDataModule``, each in
    dataset order with ``index`` = position in its split; the dataset's class list."""
    from jetzoo.data import JetDataModule

    split = task.split if isinstance(task.split, str) else list(task.split)
    dm = JetDataModule(
        str(path), batch_size=1024, num_workers=0, split=split, seed=task.seed, **dict(task.data)
    )
    dm.setup()
    splits = []
    for name in ("train", "val", "test"):
        ds = dm.dataset(name)
        parts = [
            ds.get_batch(np.arange(lo, min(lo + _READ_CHUNK, len(ds))))
            for lo in range(0, len(ds), _READ_CHUNK)
        ]
        batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]} if parts else {}
        batch["index"] = torch.arange(len(ds))
        splits.append(batch)
    return splits, str(dm.dataset_sha256), dm.full_dataset.class_names


def _rs3l_splits(task: Task, path: Path) -> tuple[list[Batch], str | None, tuple[str, ...]]:
    """(train, val, test) of an RS3L dataset through ``RS3LDataModule`` (view a), in order."""
    from jetzoo.data.rs3l_dataset import RS3L_CLASSES, RS3LDataModule

    if isinstance(task.split, str):
        raise TaskSkipped(f"task {task.name}: RS3L sets have no published split; use fractions")
    dm = RS3LDataModule(str(path), split=task.split, seed=task.seed, **dict(task.data))
    dm.setup()
    keys = ("tracks", "track_mask", "cells", "cell_mask", "label")
    splits = []
    for name in ("train", "val", "test"):
        full = _materialise(dm.loader(name))
        batch = {k: v for k, v in full.items() if k in keys}
        batch["index"] = torch.arange(len(batch["label"]))
        splits.append(batch)
    names = task.data.get("label_names") or RS3L_CLASSES
    sha = dm.dataset_sha256
    return splits, (str(sha) if sha else None), tuple(str(n).lower() for n in names)


def _class_codes(task: Task, dataset_classes: tuple[str, ...]) -> list[int]:
    """Dataset label value of each task class (the dataset's own class list)."""
    missing = [c for c in task.classes if c not in dataset_classes]
    if missing:
        raise TaskSkipped(
            f"task {task.name}: dataset {task.dataset!r} has no class "
            f"{missing[0]!r} (its classes: {', '.join(dataset_classes)})"
        )
    return [dataset_classes.index(c) for c in task.classes]


def restrict_to_classes(
    tensors: Batch, codes: list[int], max_jets: int | None = None, seed: int = 0
) -> Batch:
    """Keep jets whose ``label`` is in ``codes``, relabel them 0..len(codes)-1 (task-local) and
    optionally keep a random ``max_jets`` of them (class-stratified, seeded)."""
    label = tensors["label"].long()
    lookup = torch.full((int(max(int(label.max()), max(codes))) + 1,), -1, dtype=torch.long)
    lookup[torch.as_tensor(codes)] = torch.arange(len(codes))
    local = lookup[label]
    keep = torch.nonzero(local >= 0).flatten()
    if max_jets is not None and len(keep) > max_jets:
        keep = keep[stratified_subset(local[keep], max_jets / len(keep), seed)]
    out = select(tensors, keep)
    out["label"] = local[keep]
    return out


def load_task_data(task: Task) -> TaskData:
    """Read a task's dataset into memory: class filter, task-local labels, optional cap
    ``settings.max_jets`` per split. :class:`TaskSkipped` if the dataset is missing."""
    path = resolve_dataset(task)
    reader = _rs3l_splits if task.family == "rs3l" else _jetnet_splits
    splits, sha, dataset_classes = reader(task, path)
    codes = _class_codes(task, dataset_classes)
    cap = task.settings.get("max_jets")
    train, val, test = (
        restrict_to_classes(s, codes, cap, task.seed + i) for i, s in enumerate(splits)
    )
    for name, s in (("train", train), ("val", val), ("test", test)):
        if len(s["label"]) == 0:
            raise TaskSkipped(
                f"task {task.name}: the {name} split of {path} has no jets of "
                f"classes {list(task.classes)}"
            )
        # every class a split is scored or trained on (an anomaly task trains on background)
        needed = task.background if task.kind == "anomaly" and name == "train" else task.classes
        present = set(torch.unique(s["label"]).tolist())
        missing = [c for c in needed if task.classes.index(c) not in present]
        if missing:
            raise TaskError(
                f"{task.source or task.name}: field 'classes': the {name} split of "
                f"{path} holds no jets of class {', '.join(map(repr, missing))} "
                f"({len(s['label'])} jets of {sorted(task.classes[i] for i in present)}"
                "); scores need every class in every split"
            )
    if sha is None:
        from jetzoo.data.shards import verified_dataset_sha256

        sha = verified_dataset_sha256(path)
    shifted, shift_sha = (None, None)
    if task.shift_dataset == task.dataset:  # no shift (a format check): the test jets
        shifted, shift_sha = test, sha
    elif task.shift_dataset is not None:
        shifted, shift_sha = _shifted_jets(task, cap)
    return TaskData(
        train=train,
        val=val,
        test=test,
        classes=task.classes,
        dataset_sha256=sha,
        dataset_path=path,
        split_key=split_key(task),
        shifted=shifted,
        shift_sha256=shift_sha,
    )


def _shifted_jets(task: Task, cap: int | None) -> tuple[Batch, str]:
    """Every jet of the task's ``shift_dataset`` of its classes (JetNet layout; none of them
    in the task's training split, unless it names the task's own dataset: then the test split
    stands in, as a format check), in dataset order with ``index``, and its sha256."""
    from jetzoo.data import JetDataset
    from jetzoo.data.shards import verified_dataset_sha256

    if task.family != "jetnet":
        raise TaskError(f"{task.source or task.name}: field 'shift_dataset': jetnet tasks only")
    path = resolve_dataset(task, task.shift_dataset)
    ds = JetDataset(str(path))
    parts = [
        ds.get_batch(np.arange(lo, min(lo + _READ_CHUNK, len(ds))))
        for lo in range(0, len(ds), _READ_CHUNK)
    ]
    batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    batch["index"] = torch.arange(len(ds))
    missing = [c for c in task.classes if c not in ds.class_names]
    if missing:
        raise TaskSkipped(
            f"task {task.name}: shift dataset {task.shift_dataset!r} has no class "
            f"{missing[0]!r} (its classes: {', '.join(ds.class_names)})"
        )
    codes = [list(ds.class_names).index(c) for c in task.classes]  # its own class list
    return restrict_to_classes(batch, codes, cap, task.seed + 3), verified_dataset_sha256(path)


def split_key(task: Task) -> str:
    """What fixes the jets of a task's splits (with the dataset): split and seed. Embeddings
    are cached per (weights, dataset, split key, split)."""
    import hashlib

    text = json.dumps(
        {
            "split": task.split if isinstance(task.split, str) else list(task.split),
            "seed": task.seed,
            "data": dict(task.data),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def synthetic_task_data(
    task: Task, n_per_class: int = 100, n_particles: int = 30, seed: int = 0
) -> TaskData:
    """An easy synthetic :class:`TaskData` for tests and demos (JetNet batch layout): class
    ``c`` has ``6 + 4 c`` particles (+-2) with an (eta, phi) spread of ``0.05 (1 + c)``."""
    gen = torch.Generator().manual_seed(seed)
    n_classes = len(task.classes)
    splits = []
    for part, frac in enumerate((0.6, 0.2, 0.2)):
        n = max(2, int(n_per_class * frac))
        label = torch.arange(n_classes).repeat_interleave(n)
        count = 6 + 4 * label + torch.randint(-2, 3, (len(label),), generator=gen)
        count = count.clamp(2, n_particles)
        mask = torch.arange(n_particles)[None, :] < count[:, None]
        spread = 0.05 * (1 + label.float())[:, None, None]
        x = torch.randn(len(label), n_particles, 3, generator=gen) * spread
        pt = torch.rand(len(label), n_particles, generator=gen) * mask
        x[..., 2] = pt / pt.sum(1, keepdim=True)
        x = x * mask[..., None]
        jet = torch.stack(
            [
                torch.full_like(pt[:, 0], 1000.0),
                torch.zeros_like(pt[:, 0]),
                80.0 * (1 + label.float()),
                count.float(),
            ],
            dim=1,
        )
        splits.append(
            {"x": x, "mask": mask, "jet": jet, "label": label, "index": torch.arange(len(label))}
        )
    return TaskData(*splits, classes=task.classes, dataset_sha256="0" * 64, dataset_path=None)
