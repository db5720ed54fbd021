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
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

import yaml
from omegaconf import MISSING, OmegaConf

from jetzoo.data.schema import FAMILIES
from jetzoo.utils.structured import first_missing, merge_structured
from jetzoo.utils.yaml_values import load_yaml

#: Folder of the task files shipped in the repository.
#: The task files: the repository's ``leaderboard/tasks/`` (shipped in the package as
#: ``jetzoo/leaderboard/task_files``, a link to it, so installed copies find them too).
TASKS_DIR = Path(__file__).resolve().parent / "task_files"

KINDS = ("multiclass", "binary", "anomaly")

#: Defaults of ``settings``; a task file may override any of them.
DEFAULT_SETTINGS: dict[str, Any] = {
    "knn_k": 30,  # the jBOT paper Sec. 4.4/4.5
    "cosine_tau": 0.05,
    "gmm_components": 4,
    "label_fractions": [0.1, 1.0],
    "decays": [0.6, 0.7, 0.8],  # subset of jBOT's {0.6, 0.65, 0.7, 0.75, 0.8}
    "base_lrs": [2e-4, 8e-4, 2e-3],  # subset of jBOT's {4e-5 ... 2e-3}
    "lora_rank": 4,
    "max_epochs": 20,
    "batch_size": 256,
    "weight_decay": 1e-4,
    "bootstrap": 100,  # resamples of the test set for the spread
    "max_jets": None,  # cap per split (None = all)
    "roc_points": 200,
    "seeds": [0],  # fine-tuning repeated per seed: mean +- std over seeds
    "min_steps": None,  # fine-tuning budget: max_epochs passes clamped to [min, max] steps
    "max_steps": None,
    "val_checks": 1,  # validation checks per fine-tuning run; the best state is kept
}

#: The benchmark tiers. A task file's top-level ``settings`` override its tier's settings (they
#: are the task's own), its ``tiers.<tier>.settings`` override those, ``submit --set`` all.
TIERS = ("quick", "standard", "paper")
_STANDARD: dict[str, Any] = {
    "decays": [0.7],
    "base_lrs": [1e-3],
    # a fixed budget per label fraction (VTAB's protocol): 20 passes over the labelled jets,
    # at least 500 and at most 2000 optimiser steps of 256 jets, the best of 4 validation
    # checks kept; jetnet-bench-220k's 1% / 10% / 100% (1,210 / 12,100 / 121,000 jets) train
    # 500 / 960 / 2000 steps
    "max_epochs": 20,
    "min_steps": 500,
    "max_steps": 2000,
    "val_checks": 4,
    "batch_size": 256,
    "bootstrap": 100,
    "max_jets": None,
    "seeds": [0, 1, 2],
    "label_fractions": [0.01, 0.1, 1.0],
}
TIER_SETTINGS: dict[str, dict[str, Any]] = {
    # CI: the embedded sample, a few hundred jets, one grid point, a few epochs, one seed
    "quick": {
        "decays": [0.7],
        "base_lrs": [1e-3],
        "max_epochs": 3,
        "batch_size": 64,
        "bootstrap": 20,
        "max_jets": 600,
        "roc_points": 50,
        "seeds": [0],
        "label_fractions": [0.1, 1.0],
    },
    # CPU hours: the pinned benchmark sets, 1% / 10% / 100% labels, three seeds, one grid point
    "standard": _STANDARD,
    # the jBOT paper's protocol on the same sets: its LLRD grid, batch 1024, 100 epochs
    "paper": {
        **_STANDARD,
        "decays": [0.6, 0.65, 0.7, 0.75, 0.8],
        "base_lrs": [4e-5, 8e-5, 2e-4, 4e-4, 8e-4, 2e-3],
        "max_epochs": 100,
        "min_steps": None,
        "max_steps": None,
        "val_checks": 1,
        "batch_size": 1024,
    },
}
DEFAULT_TIER = "standard"
#: shorthand in the task files' descriptions -> the paper it means
CITATION_SHORTHAND = {
    "seed paper 004": "the jBOT paper (Tsoi and Rankin)",
    "seed paper 000": "Rieck et al., Self-Supervised Learning Strategies for Jet Physics",
}
#: the main score of a task kind when its file names none: ``evaluation/metric``
DEFAULT_MAIN_SCORE = {
    "multiclass": "knn/accuracy",
    "binary": "knn/auc",
    "anomaly": "anomaly-knn/auc[union]",
}

# (kind, lowest allowed, whether the lowest is excluded) of every setting: "int", "number",
# "int?" (an integer or null), "numbers" (a list of numbers); an upper bound of 1 for fractions.
_SETTING_RULES: dict[str, tuple[str, float, bool, float | None]] = {
    "knn_k": ("int", 1, False, None),
    "cosine_tau": ("number", 0, True, None),
    "gmm_components": ("int", 1, False, None),
    "label_fractions": ("numbers", 0, True, 1.0),
    "decays": ("numbers", 0, True, 1.0),
    "base_lrs": ("numbers", 0, True, None),
    "lora_rank": ("int", 1, False, None),
    "max_epochs": ("int", 1, False, None),
    "batch_size": ("int", 1, False, None),
    "weight_decay": ("number", 0, False, None),
    "bootstrap": ("int", 0, False, None),
    "max_jets": ("int?", 1, False, None),
    "roc_points": ("int", 2, False, None),
    "seeds": ("ints", 0, False, None),
    "min_steps": ("int?", 1, False, None),
    "max_steps": ("int?", 1, False, None),
    "val_checks": ("int", 1, False, None),
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

    if kind in ("numbers", "ints"):
        ok = is_number if kind == "numbers" else is_int
        if not isinstance(value, list) or not value or not all(map(ok, value)):
            example = "[0.1, 1.0]" if kind == "numbers" else "[0, 1, 2]"
            return (
                f"expected a list of {'numbers' if kind == 'numbers' else 'integers'}, e.g. "
                f"{example}, got {value!r}"
            )
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


@dataclass
class TierFile:
    """A task file's ``tiers.<tier>`` block: what changes at that tier."""

    dataset: Optional[str] = None
    split: Any = None  # three fractions or "published"
    shift_dataset: Optional[str] = None
    settings: Dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskFile:
    """The keys of a task file and their types (:mod:`jetzoo.utils.structured`); the checks a
    type cannot express follow in :func:`parse_task`."""

    name: str = MISSING
    family: str = MISSING
    dataset: str = MISSING
    seed: int = MISSING
    kind: str = MISSING
    classes: List[str] = MISSING
    evaluations: List[str] = MISSING
    metrics: List[str] = MISSING
    description: str = ""
    split: Any = field(default_factory=lambda: [0.8, 0.1, 0.1])
    eval_split: str = "test"
    shift_dataset: Optional[str] = None
    signal: Optional[List[str]] = None
    background: Optional[List[str]] = None
    signals: Optional[Dict[str, Any]] = None
    settings: Dict[str, Any] = field(default_factory=dict)
    data: Dict[str, Any] = field(default_factory=dict)
    main_score: Optional[str] = None
    group: Optional[str] = None
    tiers: Dict[str, TierFile] = field(default_factory=dict)


_STRING_LISTS = ("classes", "evaluations", "metrics", "signal", "background")


class TaskError(ValueError):
    """A task file is malformed; the message names the file and the field."""


class TaskSkipped(RuntimeError):
    """A task cannot run here (e.g. its dataset is missing); the message says why and what to do.
    ``dataset``: the pinned dataset that is missing, if that is why."""

    def __init__(self, message: str, dataset: str | None = None) -> None:
        super().__init__(message)
        self.dataset = dataset


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
    split: tuple[float, float, float] | str = (0.8, 0.1, 0.1)  # or "published"
    eval_split: str = "test"  # or "shifted": every jet of shift_dataset
    shift_dataset: str | None = None  # jets of another simulator setting (eval_split shifted)
    signal: tuple[str, ...] = ()
    background: tuple[str, ...] = ()
    signals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)  # extra loader arguments
    source: Path | None = None
    main_score: str = ""  # "evaluation/metric", e.g. "knn/accuracy"
    group: str | None = None  # tasks of one group are summarised together (their worst score)
    tiers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tier: str | None = None  # set by for_tier
    own_settings: Mapping[str, Any] = field(default_factory=dict)  # as the file states them
    file_sha256: str | None = None  # sha256 of the task file's bytes

    def with_settings(self, **overrides: Any) -> "Task":
        """A copy with some ``settings`` replaced (e.g. ``submit --set`` overrides)."""
        settings = {**self.settings, **overrides}
        return Task(**{**self.__dict__, "settings": settings})

    def for_tier(self, tier: str) -> "Task":
        """This task as run at ``tier``: the tier's dataset and split (from ``tiers.<tier>``,
        else the top-level ones) and settings = defaults < the tier's :data:`TIER_SETTINGS` <
        the file's top-level ``settings`` < its ``tiers.<tier>.settings``."""
        if tier not in TIERS:
            raise TaskError(f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}")
        own = dict(self.tiers.get(tier, {}))
        base = {**DEFAULT_SETTINGS, **TIER_SETTINGS[tier]}
        settings = {**base, **self.own_settings, **own.get("settings", {})}
        return Task(
            **{
                **self.__dict__,
                "settings": settings,
                "tier": tier,
                "dataset": own.get("dataset", self.dataset),
                "split": own.get("split", self.split),
                "shift_dataset": own.get("shift_dataset", self.shift_dataset),
            }
        )

    @property
    def summary(self) -> str:
        """The description as shown to readers: the files' citation shorthand spelled out
        (the files keep it: their bytes are hashed into every stored result's identity)."""
        text = " ".join(self.description.split())
        for short, name in CITATION_SHORTHAND.items():
            text = text.replace(short, name)
        return text

    @property
    def main_evaluation(self) -> str:
        return self.main_score.split("/", 1)[0]

    @property
    def main_metric(self) -> str:
        return self.main_score.split("/", 1)[1]

    @property
    def num_classes(self) -> int:
        """Outputs of a classifier for this task (2 for binary, len(classes) for multiclass)."""
        return 2 if self.kind == "binary" else len(self.classes)


def _field(key: str) -> str:
    return f"field {key!r}"


def _err(source: Any, field_name: str, msg: str) -> TaskError:
    return TaskError(f"{source}: {_field(field_name)}: {msg}")


def parse_task(raw: Mapping[str, Any], source: Any = "<task>") -> Task:
    """Validate a task mapping (as read from YAML) and return a :class:`Task`.

    Raises :class:`TaskError` naming ``source`` and the offending field.
    """
    if not isinstance(raw, Mapping):
        raise TaskError(f"{source}: a task file must be a mapping, got {type(raw).__name__}")
    checked = merge_structured(TaskFile, dict(raw), str(source), TaskError, _field)
    missing = first_missing(checked)
    if missing:
        raise _err(source, missing, "missing")
    given = set(raw)
    raw = {
        k: v
        for k, v in typing.cast(dict, OmegaConf.to_container(checked, resolve=False)).items()
        if k in given and v is not None  # an optional key set to null is as if absent
    }
    for key in _STRING_LISTS:
        if key in raw and not all(isinstance(v, str) and v for v in raw[key]):
            raise _err(source, key, f"expected a list of names, got {raw[key]!r}")
    for key, value in (raw.get("signals") or {}).items():
        if not isinstance(key, str) or not (
            isinstance(value, str)
            or isinstance(value, list)
            and all(isinstance(v, str) for v in value)
        ):
            raise _err(
                source,
                f"signals.{key}",
                f"expected a class name or a list of class names, got {value!r}",
            )
    from jetzoo.leaderboard.evaluators import EVALUATORS
    from jetzoo.utils.names import name_problem

    if name_problem(raw["name"]):  # it becomes the result file's name
        raise _err(source, "name", name_problem(raw["name"]))
    kind, family = raw["kind"], raw["family"]
    if kind not in KINDS:
        raise _err(source, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    if family not in FAMILIES:
        raise _err(source, "family", f"{family!r} is not one of {', '.join(FAMILIES)}")
    classes = tuple(str(c).lower() for c in raw["classes"])
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise _err(source, "classes", f"need at least two distinct classes, got {list(classes)}")
    for ev in raw["evaluations"]:
        if ev not in EVALUATORS:
            raise _err(
                source, "evaluations", f"unknown evaluation {ev!r}; known: {', '.join(EVALUATORS)}"
            )
        if kind not in EVALUATORS[ev].kinds:
            need = " or ".join(EVALUATORS[ev].kinds)
            raise _err(
                source,
                "evaluations",
                f"{ev!r} needs kind: {need}"
                if kind != "anomaly"
                else "an anomaly task takes only anomaly-* evaluations",
            )

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
        background = (
            _subset("background", raw["background"])
            if "background" in raw
            else tuple(c for c in classes if c not in signal)
        )
        if set(signal) & set(background):
            raise _err(source, "background", "overlaps with signal")
    if kind == "anomaly":
        for key in ("background", "signals"):
            if key not in raw:
                raise _err(source, key, "missing (an anomaly task names background and signals)")
        background = _subset("background", raw["background"])
        signals = {
            str(k): _subset(f"signals.{k}", v if isinstance(v, list) else [v])
            for k, v in raw["signals"].items()
        }
        for k, v in signals.items():
            if set(v) & set(background):
                raise _err(source, f"signals.{k}", "overlaps with background")
    split = _parse_split(raw.get("split", [0.8, 0.1, 0.1]), source, "split")
    eval_split = raw.get("eval_split", "test")
    if eval_split not in ("val", "test", "shifted"):
        raise _err(source, "eval_split", f"{eval_split!r} is not 'val', 'test' or 'shifted'")
    if (eval_split == "shifted") != ("shift_dataset" in raw):
        raise _err(
            source,
            "shift_dataset",
            "eval_split: shifted scores the jets of a shift_dataset; name both or neither",
        )
    if "accuracy_kept" in raw["metrics"] and eval_split != "shifted":
        raise _err(source, "metrics", "accuracy_kept needs eval_split: shifted")
    settings = dict(raw.get("settings", {}))
    _check_settings(settings, source, "settings")
    tiers: dict[str, dict[str, Any]] = {}
    for tier, spec in dict(raw.get("tiers", {})).items():
        where = f"tiers.{tier}"
        if tier not in TIERS:
            raise _err(source, "tiers", f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}")
        spec = {k: v for k, v in spec.items() if v is not None and v != {}}
        _check_settings(spec.get("settings", {}), source, f"{where}.settings")
        tiers[tier] = {**spec}
        if "split" in spec:
            tiers[tier]["split"] = _parse_split(spec["split"], source, f"{where}.split")
    main_score = raw.get("main_score") or _default_main_score(kind, raw["evaluations"])
    evaluation, _, metric = main_score.partition("/")
    if (
        evaluation not in raw["evaluations"]
        and evaluation.rsplit("-", 1)[0] not in raw["evaluations"]
        or not metric
    ):
        raise _err(
            source,
            "main_score",
            f"{main_score!r} must be 'evaluation/metric' with an "
            f"evaluation of this task ({', '.join(raw['evaluations'])})",
        )
    return Task(
        name=raw["name"],
        family=family,
        dataset=raw["dataset"],
        seed=raw["seed"],
        kind=kind,
        classes=classes,
        evaluations=tuple(raw["evaluations"]),
        metrics=tuple(raw["metrics"]),
        description=raw.get("description", ""),
        split=split,
        eval_split=eval_split,
        shift_dataset=raw.get("shift_dataset"),
        signal=signal,
        background=background,
        signals=signals,
        settings={**DEFAULT_SETTINGS, **settings},
        data=dict(raw.get("data", {})),
        source=Path(source) if isinstance(source, (str, Path)) else None,
        main_score=main_score,
        group=raw.get("group"),
        tiers=tiers,
        own_settings=settings,
    )


def _default_main_score(kind: str, evaluations: list[str]) -> str:
    """:data:`DEFAULT_MAIN_SCORE` of the kind, or its metric on the task's first evaluation
    (a fine-tuning one at 100% labels) when the task does not run the default's."""
    from jetzoo.leaderboard.evaluators import EVALUATORS

    evaluation, metric = DEFAULT_MAIN_SCORE[kind].split("/", 1)
    if evaluation in evaluations or not evaluations:
        return DEFAULT_MAIN_SCORE[kind]
    first = evaluations[0]
    ev = EVALUATORS.get(first)
    return (
        f"{first}-100%/{metric}"
        if ev is not None and ev.needs == "training"
        else f"{first}/{metric}"
    )


def _parse_split(value: Any, source: Any, where: str) -> tuple[float, float, float] | str:
    if value == "published":  # the dataset's own split (imported public sets)
        return "published"
    if isinstance(value, str):
        raise _err(source, where, f"{value!r}: use three fractions or 'published'")
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise _err(source, where, f"need three fractions, got {value!r}")
    split = tuple(float(v) for v in value)
    if (
        len(split) != 3
        or any(not v >= 0 for v in split)
        or not math.isclose(sum(split), 1.0, abs_tol=1e-6)
    ):
        raise _err(source, where, f"need three non-negative fractions summing to 1, got {split}")
    return split  # type: ignore[return-value]


def _check_settings(settings: Mapping[str, Any], source: Any, where: str) -> None:
    for key in sorted(settings):
        problem = setting_problem(key, settings[key])
        if problem:
            raise _err(source, f"{where}.{key}", problem)


def load_task(path: str | Path) -> Task:
    """Read and validate one task YAML file."""
    path = Path(path)
    import hashlib

    try:
        data = path.read_bytes()  # read once: parsed and hashed (the run identity)
        raw = load_yaml(data.decode())
    except (OSError, UnicodeDecodeError) as err:
        raise TaskError(f"{path}: cannot read task file ({err})") from err
    except yaml.YAMLError as err:
        raise TaskError(f"{path}: invalid YAML ({err})") from err
    task = parse_task(raw, source=path)
    task = Task(**{**task.__dict__, "file_sha256": hashlib.sha256(data).hexdigest()})
    if task.name != path.stem:
        raise _err(path, "name", f"{task.name!r} differs from the file name {path.stem!r}")
    return task


def load_tasks(
    directory: str | Path | None = None, names: Iterable[str] | None = None
) -> list[Task]:
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
            raise TaskError(
                f"no task matches {pattern!r} in {directory}; known: "
                f"{', '.join(t.name for t in tasks)}"
            )
        selected += [t for t in hits if t not in selected]
    return selected


def backbone_family(backbone: Any) -> str:
    """The task family a backbone takes: its ``family`` (Backbone protocol)."""
    family = getattr(backbone, "family", "jetnet")
    if family not in FAMILIES:
        raise TaskError(
            f"{type(backbone).__name__}: family {family!r} is not one of {', '.join(FAMILIES)}"
        )
    return family


def applicable_tasks(backbone: Any, tasks: Iterable[Task]) -> list[Task]:
    """The tasks whose family matches the backbone's (``anomaly-ae`` is skipped later, per
    evaluation, for backbones without ``reconstruction_score``)."""
    family = backbone_family(backbone)
    return [t for t in tasks if t.family == family]
