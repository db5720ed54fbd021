"""Leaderboard tasks: ``leaderboard/tasks/*.yaml`` loaded, validated and turned into tensors.

A task file names the dataset, the split and seed, the classes read from the dataset, what is
scored (``kind``: multiclass, binary or anomaly), the evaluations run on a backbone and the
metrics reported. Example (``top-tagging.yaml``)::

    name: top-tagging
    family: jetnet            # jetnet (particle backbones) | rs3l (the RS3L backbone)
    dataset: jetnet-sample    # a registered dataset name, or a folder (relative to the YAML)
    split: [0.8, 0.1, 0.1]    # train / val / test fractions, fixed by `seed`
    seed: 0
    kind: binary
    classes: [q, g, t]
    signal: [t]               # binary: positive classes; anomaly: `background` + `signals`
    evaluations: [knn, linear, finetune-llrd, finetune-lora, supervised]
    metrics: [accuracy, auc, eff_s@eff_b=0.1, eff_s@eff_b=0.01, rej_b@eff_s=0.5]
    settings: {knn_k: 30, label_fractions: [0.1, 1.0], ...}

Which tasks apply to a backbone: particle backbones take the ``jetnet`` tasks, the RS3L backbone
(``config["arch"]`` starting with ``rs3l``) the ``rs3l`` tasks. A task whose dataset is missing is
skipped with a :class:`TaskSkipped` message that says how to produce it.

The data of a task is held in memory as :class:`TaskData` (dicts of tensors per split), since
leaderboard datasets are small; the splits come from ``JetDataModule`` (same seed -> same split
as pre-training) when the data module is available.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
import yaml
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from jetzoo.utils.yaml_values import load_yaml

#: Folder of the task files shipped in the repository.
#: The task files: the repository's ``leaderboard/tasks/`` (shipped in the package as
#: ``jetzoo/leaderboard/task_files``, a link to it, so installed copies find them too).
TASKS_DIR = Path(__file__).resolve().parent / "task_files"

KINDS = ("multiclass", "binary", "anomaly")
FAMILIES = ("jetnet", "rs3l")
FROZEN_EVALUATIONS = ("knn", "linear")
FINETUNE_EVALUATIONS = ("finetune-llrd", "finetune-lora", "supervised")
ANOMALY_EVALUATIONS = ("anomaly-knn", "anomaly-cosine", "anomaly-mahalanobis", "anomaly-gmm",
                       "anomaly-ae")
EVALUATIONS = FROZEN_EVALUATIONS + FINETUNE_EVALUATIONS + ANOMALY_EVALUATIONS

#: Defaults of ``settings``; a task file may override any of them.
DEFAULT_SETTINGS: dict[str, Any] = {
    "knn_k": 30,                      # seed 004 Sec. 4.4/4.5
    "cosine_tau": 0.05,
    "gmm_components": 4,
    "label_fractions": [0.1, 1.0],
    "decays": [0.6, 0.7, 0.8],        # subset of seed 004's {0.6, 0.65, 0.7, 0.75, 0.8}
    "base_lrs": [2e-4, 8e-4, 2e-3],   # subset of seed 004's {4e-5 ... 2e-3}
    "lora_rank": 4,
    "max_epochs": 20,
    "batch_size": 256,
    "weight_decay": 1e-4,
    "bootstrap": 100,                 # resamples of the test set for the spread
    "max_jets": None,                 # cap per split (None = all)
    "roc_points": 200,
}

# (kind, lowest allowed, whether the lowest is excluded) of every setting: "int", "number",
# "int?" (an integer or null), "numbers" (a list of numbers); an upper bound of 1 for fractions.
_SETTING_RULES: dict[str, tuple[str, float, bool, float | None]] = {
    "knn_k": ("int", 1, False, None), "cosine_tau": ("number", 0, True, None),
    "gmm_components": ("int", 1, False, None), "label_fractions": ("numbers", 0, True, 1.0),
    "decays": ("numbers", 0, True, 1.0), "base_lrs": ("numbers", 0, True, None),
    "lora_rank": ("int", 1, False, None), "max_epochs": ("int", 1, False, None),
    "batch_size": ("int", 1, False, None), "weight_decay": ("number", 0, False, None),
    "bootstrap": ("int", 0, False, None), "max_jets": ("int?", 1, False, None),
    "roc_points": ("int", 2, False, None),
}


def setting_problem(key: str, value: Any) -> str | None:
    """What is wrong with the task setting ``key = value`` (unknown key, wrong type, out of
    range), or None. One rule table for task files and ``submit --set``."""
    if key not in _SETTING_RULES:
        return f"unknown setting; known settings: {', '.join(sorted(DEFAULT_SETTINGS))}"
    kind, low, open_low, high = _SETTING_RULES[key]

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def is_number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if kind == "numbers":
        if not isinstance(value, list) or not value or not all(map(is_number, value)):
            return f"expected a list of numbers, e.g. [0.1, 1.0], got {value!r}"
        values = value
    elif kind == "int?":
        if value is not None and not is_int(value):
            return f"expected an integer or null, got {value!r}"
        values = [] if value is None else [value]
    elif not (is_int if kind == "int" else is_number)(value):
        return f"expected {'an integer' if kind == 'int' else 'a number'}, got {value!r}"
    else:
        values = [value]
    for v in values:
        if v < low or (open_low and v == low) or (high is not None and v > high):
            lo = f"{'>' if open_low else '>='} {low:g}"
            return f"{v!r} is out of range: must be {lo}" + (f" and <= {high:g}" if high else "")
    return None


#: ``--quick``: small settings for CI and tests (override the task's settings).
QUICK_SETTINGS: dict[str, Any] = {
    "decays": [0.7],
    "base_lrs": [1e-3],
    "max_epochs": 3,
    "batch_size": 64,
    "bootstrap": 20,
    "max_jets": 600,
    "roc_points": 50,
}

_REQUIRED = {"name": str, "family": str, "dataset": str, "seed": int, "kind": str,
             "classes": list, "evaluations": list, "metrics": list}
_OPTIONAL = {"description": str, "split": list, "eval_split": str, "signal": list,
             "background": list, "signals": dict, "settings": dict, "data": dict}


class TaskError(ValueError):
    """A task file is malformed; the message names the file and the field."""


class TaskSkipped(RuntimeError):
    """A task cannot run here (e.g. its dataset is missing); the message says why and what to do."""


@dataclass(frozen=True)
class Task:
    """One validated leaderboard task (see the module docstring for the fields)."""

    name: str
    family: str
    dataset: str
    seed: int
    kind: str
    classes: tuple[str, ...]
    evaluations: tuple[str, ...]
    metrics: tuple[str, ...]
    description: str = ""
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    eval_split: str = "test"
    signal: tuple[str, ...] = ()
    background: tuple[str, ...] = ()
    signals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)  # extra loader arguments
    source: Path | None = None

    def with_settings(self, **overrides: Any) -> "Task":
        """A copy with some ``settings`` replaced (e.g. :data:`QUICK_SETTINGS`)."""
        settings = {**self.settings, **overrides}
        return Task(**{**self.__dict__, "settings": settings})

    @property
    def num_classes(self) -> int:
        """Outputs of a classifier for this task (2 for binary, len(classes) for multiclass)."""
        return 2 if self.kind == "binary" else len(self.classes)


def _err(source: Any, field_name: str, msg: str) -> TaskError:
    return TaskError(f"{source}: field {field_name!r}: {msg}")


def parse_task(raw: Mapping[str, Any], source: Any = "<task>") -> Task:
    """Validate a task mapping (as read from YAML) and return a :class:`Task`.

    Raises :class:`TaskError` naming ``source`` and the offending field.
    """
    if not isinstance(raw, Mapping):
        raise TaskError(f"{source}: a task file must be a mapping, got {type(raw).__name__}")
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise _err(source, sorted(unknown)[0], f"unknown key; known keys: "
                   f"{', '.join(sorted({*_REQUIRED, *_OPTIONAL}))}")
    for key, typ in _REQUIRED.items():
        if key not in raw:
            raise _err(source, key, "missing")
    for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
        if key in raw and not isinstance(raw[key], typ):
            raise _err(source, key, f"expected {typ.__name__}, got {type(raw[key]).__name__}")
    from jetzoo.data.schema import JETNET_CLASSES

    kind, family = raw["kind"], raw["family"]
    if kind not in KINDS:
        raise _err(source, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    if family not in FAMILIES:
        raise _err(source, "family", f"{family!r} is not one of {', '.join(FAMILIES)}")
    classes = tuple(str(c).lower() for c in raw["classes"])
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise _err(source, "classes", f"need at least two distinct classes, got {list(classes)}")
    if family == "jetnet":
        bad = [c for c in classes if c not in JETNET_CLASSES]
        if bad:
            raise _err(source, "classes", f"unknown JetNet class {bad[0]!r}; known: "
                       f"{', '.join(JETNET_CLASSES)}")
    for ev in raw["evaluations"]:
        if ev not in EVALUATIONS:
            raise _err(source, "evaluations", f"unknown evaluation {ev!r}; known: "
                       f"{', '.join(EVALUATIONS)}")
    anomaly_ev = [e for e in raw["evaluations"] if e in ANOMALY_EVALUATIONS]
    if kind == "anomaly" and len(anomaly_ev) != len(raw["evaluations"]):
        raise _err(source, "evaluations", "an anomaly task takes only anomaly-* evaluations")
    if kind != "anomaly" and anomaly_ev:
        raise _err(source, "evaluations", f"{anomaly_ev[0]!r} needs kind: anomaly")

    def _subset(key: str, values: Iterable[Any]) -> tuple[str, ...]:
        out = tuple(str(v).lower() for v in values)
        missing = [v for v in out if v not in classes]
        if missing:
            raise _err(source, key, f"class {missing[0]!r} is not in classes {list(classes)}")
        if not out:
            raise _err(source, key, "must not be empty")
        return out

    signal: tuple[str, ...] = ()
    background: tuple[str, ...] = ()
    signals: dict[str, tuple[str, ...]] = {}
    if kind == "binary":
        if "signal" not in raw:
            raise _err(source, "signal", "missing (a binary task names its positive classes)")
        signal = _subset("signal", raw["signal"])
        background = (_subset("background", raw["background"]) if "background" in raw
                      else tuple(c for c in classes if c not in signal))
        if set(signal) & set(background):
            raise _err(source, "background", "overlaps with signal")
    if kind == "anomaly":
        for key in ("background", "signals"):
            if key not in raw:
                raise _err(source, key, "missing (an anomaly task names background and signals)")
        background = _subset("background", raw["background"])
        signals = {str(k): _subset(f"signals.{k}", v if isinstance(v, list) else [v])
                   for k, v in raw["signals"].items()}
        for k, v in signals.items():
            if set(v) & set(background):
                raise _err(source, f"signals.{k}", "overlaps with background")
    split = tuple(float(v) for v in raw.get("split", (0.8, 0.1, 0.1)))
    if len(split) != 3 or any(v < 0 for v in split) or not math.isclose(sum(split), 1.0,
                                                                         abs_tol=1e-6):
        raise _err(source, "split", f"need three non-negative fractions summing to 1, got {split}")
    eval_split = raw.get("eval_split", "test")
    if eval_split not in ("val", "test"):
        raise _err(source, "eval_split", f"{eval_split!r} is not 'val' or 'test'")
    settings = dict(raw.get("settings", {}))
    for key in sorted(settings):
        problem = setting_problem(key, settings[key])
        if problem:
            raise _err(source, f"settings.{key}", problem)
    return Task(name=raw["name"], family=family, dataset=raw["dataset"], seed=raw["seed"],
                kind=kind, classes=classes, evaluations=tuple(raw["evaluations"]),
                metrics=tuple(raw["metrics"]), description=raw.get("description", ""),
                split=split, eval_split=eval_split, signal=signal, background=background,
                signals=signals, settings={**DEFAULT_SETTINGS, **settings},
                data=dict(raw.get("data", {})),
                source=Path(source) if isinstance(source, (str, Path)) else None)


def load_task(path: str | Path) -> Task:
    """Read and validate one task YAML file."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text())
    except OSError as err:
        raise TaskError(f"{path}: cannot read task file ({err})") from err
    except yaml.YAMLError as err:
        raise TaskError(f"{path}: invalid YAML ({err})") from err
    task = parse_task(raw, source=path)
    if task.name != path.stem:
        raise _err(path, "name", f"{task.name!r} differs from the file name {path.stem!r}")
    return task


def load_tasks(directory: str | Path | None = None,
               names: Iterable[str] | None = None) -> list[Task]:
    """All tasks in ``directory`` (default: the repository's ``leaderboard/tasks``), sorted by
    name; ``names`` selects some (shell patterns allowed), an unknown name is an error."""
    import fnmatch

    directory = Path(directory) if directory is not None else TASKS_DIR
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise TaskError(f"{directory}: no task files (*.yaml)")
    tasks = [load_task(f) for f in files]
    if names is None:
        return tasks
    selected: list[Task] = []
    for pattern in names:
        hits = [t for t in tasks if fnmatch.fnmatch(t.name, pattern)]
        if not hits:
            raise TaskError(f"no task matches {pattern!r} in {directory}; known: "
                            f"{', '.join(t.name for t in tasks)}")
        selected += [t for t in hits if t not in selected]
    return selected


def backbone_family(backbone: Any) -> str:
    """``rs3l`` for the RS3L backbone, ``jetnet`` for particle backbones."""
    arch = str(getattr(backbone, "config", {}).get("arch", ""))
    return "rs3l" if arch.startswith("rs3l") else "jetnet"


def applicable_tasks(backbone: Any, tasks: Iterable[Task]) -> list[Task]:
    """The tasks whose family matches the backbone's (``anomaly-ae`` is skipped later, per
    evaluation, for backbones without ``reconstruction_score``)."""
    family = backbone_family(backbone)
    return [t for t in tasks if t.family == family]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

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


def make_loader(tensors: Batch, batch_size: int, shuffle: bool = False,
                seed: int = 0) -> DataLoader:
    """A DataLoader over a dict of tensors yielding batch dicts."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(DictDataset(tensors), batch_size=batch_size, shuffle=shuffle,
                      generator=gen, collate_fn=_collate_batch)


def select(tensors: Batch, index: Tensor) -> Batch:
    """Rows ``index`` of every tensor."""
    return {k: v[index] for k, v in tensors.items()}


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

    def split(self, name: str) -> Batch:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def resolve_dataset(task: Task) -> Path:
    """The folder of a task's dataset; :class:`TaskSkipped` if it is missing."""
    name = task.dataset
    path: Path | None = None
    if name == "jetnet-sample":
        try:
            from jetzoo.data import sample_path
        except ImportError as err:
            raise TaskSkipped(f"task {task.name}: the embedded JetNet sample is not available "
                              f"(jetzoo.data.sample_path: {err})") from err
        path = Path(sample_path())
    elif name == "rs3l-sample":
        path = Path(__file__).resolve().parents[1] / "data" / "sample" / "rs3l"
    else:
        path = Path(name).expanduser()
        if not path.is_absolute() and task.source is not None:
            path = task.source.parent / path
    if not path.exists():
        hint = ("jetzoo generate rs3l --out PATH" if task.family == "rs3l"
                else "jetzoo generate jetnet --out PATH")
        raise TaskSkipped(f"task {task.name}: dataset {name!r} not found at {path}; "
                          f"produce it with `{hint}` and point the task's 'dataset' field at it")
    return path


def _materialise(loader: Iterable[Batch]) -> Batch:
    parts: dict[str, list[Tensor]] = {}
    for batch in loader:
        for k, v in batch.items():
            if isinstance(v, Tensor):
                parts.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in parts.items()}


def _jetnet_splits(task: Task, path: Path) -> tuple[list[Batch], str | None]:
    """(train, val, test) of a JetNet-layout dataset through ``JetDataModule``."""
    try:
        from jetzoo.data import JetDataModule
    except ImportError as err:
        raise TaskSkipped(f"task {task.name}: jetzoo.data.JetDataModule is not available "
                          f"({err})") from err
    dm = JetDataModule(str(path), batch_size=1024, num_workers=0, split=task.split,
                       seed=task.seed, **dict(task.data))
    dm.setup("fit")
    dm.setup("test")
    loaders = [dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()]
    splits = [_materialise(loader) for loader in loaders]
    sha = getattr(dm, "dataset_sha256", None)
    return splits, (str(sha) if sha else None)


def _rs3l_splits(task: Task, path: Path) -> tuple[list[Batch], str | None]:
    """(train, val, test) of an RS3L dataset through ``RS3LDataModule`` (view a)."""
    try:
        from jetzoo.data.rs3l_dataset import RS3LDataModule
    except ImportError as err:
        raise TaskSkipped(f"task {task.name}: jetzoo.data.rs3l_dataset.RS3LDataModule is not "
                          f"available ({err})") from err
    try:
        dm = RS3LDataModule(str(path), split=task.split, seed=task.seed, **dict(task.data))
        dm.setup("fit")
        dm.setup("test")
    except (TypeError, AttributeError) as err:  # the RS3L data module's API is still settling
        raise TaskSkipped(f"task {task.name}: RS3LDataModule({path}, split=..., seed=...) "
                          f"failed ({err}); adapt jetzoo/leaderboard/tasks.py::_rs3l_splits"
                          ) from err
    keys = ("tracks", "track_mask", "cells", "cell_mask", "label")
    splits = []
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        full = _materialise(loader)
        splits.append({k: v for k, v in full.items() if k in keys})
    sha = getattr(dm, "dataset_sha256", None)
    return splits, (str(sha) if sha else None)


def _class_codes(task: Task) -> list[int]:
    """Dataset label value of each task class."""
    if task.family == "jetnet":
        from jetzoo.data.schema import class_index

        return [class_index(c) for c in task.classes]
    names = task.data.get("label_names")
    if names is None:
        try:
            from jetzoo.data.rs3l_schema import RS3L_CLASSES as names
        except ImportError as err:
            raise TaskSkipped(f"task {task.name}: RS3L class names unknown ({err})") from err
    names = [str(n).lower() for n in names]
    missing = [c for c in task.classes if c not in names]
    if missing:
        raise TaskSkipped(f"task {task.name}: dataset has no class {missing[0]!r} "
                          f"(classes: {', '.join(names)})")
    return [names.index(c) for c in task.classes]


def restrict_to_classes(tensors: Batch, codes: list[int], max_jets: int | None = None,
                        seed: int = 0) -> Batch:
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


def load_task_data(task: Task) -> TaskData:
    """Read a task's dataset into memory: class filter, task-local labels, optional cap
    ``settings.max_jets`` per split. :class:`TaskSkipped` if the dataset is missing."""
    path = resolve_dataset(task)
    reader = _rs3l_splits if task.family == "rs3l" else _jetnet_splits
    splits, sha = reader(task, path)
    codes = _class_codes(task)
    cap = task.settings.get("max_jets")
    train, val, test = (restrict_to_classes(s, codes, cap, task.seed + i)
                        for i, s in enumerate(splits))
    for name, s in (("train", train), ("val", val), ("test", test)):
        if len(s["label"]) == 0:
            raise TaskSkipped(f"task {task.name}: the {name} split of {path} has no jets of "
                              f"classes {list(task.classes)}")
    if sha is None:
        from jetzoo.data.shards import verified_dataset_sha256

        sha = verified_dataset_sha256(path)
    return TaskData(train=train, val=val, test=test, classes=task.classes,
                    dataset_sha256=sha, dataset_path=path)


def synthetic_task_data(task: Task, n_per_class: int = 100, n_particles: int = 30,
                        seed: int = 0) -> TaskData:
    """An easy synthetic :class:`TaskData` for tests and demos (JetNet batch layout): class
    ``c`` has ``6 + 4 c`` particles (+-2) with an (eta, phi) spread of ``0.05 (1 + c)``."""
    gen = torch.Generator().manual_seed(seed)
    n_classes = len(task.classes)
    splits = []
    for part, frac in enumerate((0.6, 0.2, 0.2)):
        n = max(2, int(n_per_class * frac))
        label = torch.arange(n_classes).repeat_interleave(n)
        count = (6 + 4 * label + torch.randint(-2, 3, (len(label),), generator=gen))
        count = count.clamp(2, n_particles)
        mask = torch.arange(n_particles)[None, :] < count[:, None]
        spread = 0.05 * (1 + label.float())[:, None, None]
        x = torch.randn(len(label), n_particles, 3, generator=gen) * spread
        pt = torch.rand(len(label), n_particles, generator=gen) * mask
        x[..., 2] = pt / pt.sum(1, keepdim=True)
        x = x * mask[..., None]
        jet = torch.stack([torch.full_like(pt[:, 0], 1000.0), torch.zeros_like(pt[:, 0]),
                           80.0 * (1 + label.float()), count.float()], dim=1)
        splits.append({"x": x, "mask": mask, "jet": jet, "label": label})
    return TaskData(*splits, classes=task.classes, dataset_sha256="0" * 64, dataset_path=None)
