"""``jetzoo finetune RECIPE.yaml [key=value ...]``: fine-tune a zoo backbone on your labelled
jets and keep the classifier.

A fine-tuning recipe (``recipes/finetune/*.yaml``; a shipped one by name: ``jetzoo finetune
llrd``) names where the backbone starts (``init_from``: a zoo name, a model folder, a Hub id, a
run folder of ``jetzoo run``, or null for supervised training from scratch of ``backbone``),
how it trains (``mode``: llrd | lora | full | linear), the labelled data (any folder of jetzoo
shards, imported public sets included, with their own class lists; a label fraction of the
training split) and the Lightning Trainer. It runs the one fine-tuning engine of the package
(:func:`jetzoo.leaderboard.finetune.finetune`, the leaderboard's too): every grid point of
``optimizer.base_lr`` x ``optimizer.decay`` is trained, the best on the validation split is
kept and scored on the test split.

A long fine-tuning runs in sittings like a pre-training: ``--sitting MINUTES`` ends one at the
first epoch boundary past MINUTES (``summary.json`` status ``paused``, checkpoints per grid
point in ``checkpoints/``), ``--resume`` continues it with the same recipe.

The run folder (``output.dir``, default ``runs/finetune-<recipe stem>``) receives
``classifier/`` (safetensors + config + model card with the test scores: load it with
``JetZoo.from_pretrained``, ``predict(batch)`` gives class probabilities, ``jetzoo
export-onnx`` deploys it), ``config.yaml`` and ``summary.json`` (scores, the validation scan).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from jetzoo.recipes.config import (
    RECIPES_DIR,
    ConfigError,
    cfg_to_dict,
    merge_config,
    parse_override,
    read_recipe_yaml,
)

FINETUNE_DIR = RECIPES_DIR / "finetune"
MODES = ("llrd", "lora", "full", "linear")


@dataclass
class FinetuneData:
    path: str = "sample"  # a folder of jetzoo shards, a pinned catalog name, or "sample"
    classes: Optional[list[str]] = None  # default: every class of the dataset
    split: Any = field(default_factory=lambda: [0.8, 0.1, 0.1])  # fractions, or "published"
    label_fraction: float = 1.0  # of the training split, class-stratified
    max_jets: Optional[int] = None  # per split (a quick look)


@dataclass
class FinetuneOptimizer:
    base_lr: Any = 8e-4  # a number, or a list: the grid scanned on the validation split
    decay: Any = 0.7  # LLRD factor per layer (llrd only); a number or a list
    weight_decay: float = 1e-4
    lora_rank: int = 4
    lora_targets: Optional[list[str]] = None  # default: the backbone's (the fused qkv)


@dataclass
class FinetuneTrainer:
    max_epochs: int = 20
    batch_size: int = 256
    accelerator: str = "auto"
    devices: Any = 1


@dataclass
class FinetuneOutput:
    dir: Optional[str] = None
    name: Optional[str] = None  # model_name of the classifier (default: <backbone>-<mode>)


@dataclass
class FinetuneConfig:
    init_from: Optional[str] = None
    backbone: Optional[str] = None  # architecture of a from-scratch run (init_from: null)
    mode: str = "llrd"
    seed: int = 0
    head_dropout: float = 0.0
    data: FinetuneData = field(default_factory=FinetuneData)
    optimizer: FinetuneOptimizer = field(default_factory=FinetuneOptimizer)
    trainer: FinetuneTrainer = field(default_factory=FinetuneTrainer)
    output: FinetuneOutput = field(default_factory=FinetuneOutput)


class FinetuneError(RuntimeError):
    """A fine-tuning run cannot start or finish; the message names the file and the field."""


def resolve_path(path: str | Path) -> Path:
    """A recipe file, or the name of a shipped fine-tuning recipe (``llrd`` ->
    ``recipes/finetune/llrd.yaml``)."""
    path = Path(path)
    if not path.is_file() and path.suffix == "" and len(path.parts) == 1:
        shipped = FINETUNE_DIR / f"{path.name}.yaml"
        if shipped.is_file():
            return shipped
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in FINETUNE_DIR.glob("*.yaml")))
        raise ConfigError(f"{path}: fine-tuning recipe not found; shipped (pass the name): {names}")
    return path


def _grid(value: Any, where: str, source: str) -> list[float]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ConfigError(f"{source}: {where}: need positive numbers, got {value!r}")
    return [float(v) for v in values]


def load_finetune_config(path: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """Load, merge and validate a fine-tuning recipe; :class:`ConfigError` naming the file and
    the key."""
    path = resolve_path(path)
    cfg = typing.cast(DictConfig, OmegaConf.structured(FinetuneConfig))
    cfg = merge_config(cfg, read_recipe_yaml(path), str(path))
    for item in overrides:
        try:
            cfg = merge_config(cfg, parse_override(item), f"{path}: command-line override {item!r}")
        except ConfigError as err:
            raise ConfigError(
                f"{path}: {err}" if not str(err).startswith(str(path)) else str(err)
            ) from None
    source = f"{path} (with overrides {' '.join(overrides)})" if overrides else str(path)
    if cfg.mode not in MODES:
        raise ConfigError(f"{source}: mode: {cfg.mode!r} is not one of {', '.join(MODES)}")
    if cfg.init_from is None and cfg.backbone is None:
        raise ConfigError(
            f"{source}: init_from: null trains from scratch and needs backbone: "
            "NAME (the architecture)"
        )
    if cfg.init_from is None and cfg.mode in ("lora", "linear"):
        raise ConfigError(
            f"{source}: mode: {cfg.mode} adapts pre-trained weights; from scratch "
            "(init_from: null) use full or llrd"
        )
    if not 0 < cfg.data.label_fraction <= 1:
        raise ConfigError(
            f"{source}: data.label_fraction: must be in (0, 1], got {cfg.data.label_fraction}"
        )
    _grid(cfg.optimizer.base_lr, "optimizer.base_lr", source)
    _grid(cfg.optimizer.decay, "optimizer.decay", source)
    for key, low in (
        ("trainer.max_epochs", 1),
        ("trainer.batch_size", 1),
        ("optimizer.lora_rank", 1),
    ):
        value = OmegaConf.select(cfg, key)
        if value < low:
            raise ConfigError(f"{source}: {key}: must be >= {low}, got {value}")
    if not 0 <= cfg.head_dropout < 1:
        raise ConfigError(f"{source}: head_dropout: must be in [0, 1), got {cfg.head_dropout}")
    return cfg


def _backbone(cfg: DictConfig, source: str) -> tuple[Any, str]:
    """The starting backbone and its name; a classifier folder gives its backbone."""
    from jetzoo.models.classifier import JetClassifier
    from jetzoo.models.registry import create_backbone
    from jetzoo.models.zoo import JetZoo, ZooError

    if cfg.init_from is None:
        try:
            return create_backbone(cfg.backbone), f"{cfg.backbone}-scratch"
        except KeyError as err:
            raise ConfigError(f"{source}: backbone: {err.args[0]}") from None
    ref = Path(cfg.init_from).expanduser()
    if ref.is_dir() and (ref / "backbone" / "config.json").is_file():
        ref = ref / "backbone"  # a run folder of jetzoo run
    try:
        model = JetZoo.from_pretrained(str(ref) if ref.exists() else cfg.init_from)
    except ZooError as err:
        raise ConfigError(f"{source}: init_from: {err}") from None
    if isinstance(model, JetClassifier):  # fine-tune a classifier again: its classes must fit
        wanted = list(cfg.data.classes) if cfg.data.classes is not None else None
        if wanted is not None and wanted != model.classes:
            raise ConfigError(
                f"{source}: data.classes: {wanted} differ from the classes of "
                f"the classifier {ref} ({model.classes}, its config.json field "
                "'backbone.classes')"
            )
        return model.backbone, str(getattr(model, "model_name", "classifier"))
    return model, str(getattr(model, "model_name", Path(str(cfg.init_from)).name))


def _task_data(cfg: DictConfig, source: str) -> tuple[Any, Any]:
    """The labelled splits through the leaderboard's data plumbing (one way to read a task)."""
    from jetzoo.data import JetDataset, catalog
    from jetzoo.data.schema import DataError
    from jetzoo.leaderboard.task_data import load_task_data
    from jetzoo.leaderboard.tasks import TaskError, TaskSkipped, parse_task

    raw = cfg.data.path
    if raw in (None, "", "sample"):
        from jetzoo.data import sample_path

        path = Path(sample_path())
    elif raw in catalog.CATALOG:
        try:
            path = catalog.locate(raw)
        except DataError as err:
            raise ConfigError(f"{source}: data.path: {err}") from None
    else:
        path = Path(raw).expanduser()
    try:
        classes = (
            list(cfg.data.classes)
            if cfg.data.classes is not None
            else list(JetDataset(path).class_names)
        )
    except DataError as err:
        raise ConfigError(f"{source}: data.path: {err}") from None
    if len(classes) < 2:
        raise ConfigError(
            f"{source}: data.classes: {path} holds jets of one class "
            f"({classes}); a classifier needs at least two labelled classes"
        )
    split = cfg.data.split if isinstance(cfg.data.split, str) else list(cfg.data.split)
    settings = {"max_jets": cfg.data.max_jets} if cfg.data.max_jets else {}
    task_raw = {
        "name": "finetune",
        "family": "jetnet",
        "dataset": str(path.resolve()),
        "seed": int(cfg.seed),
        "kind": "multiclass",
        "classes": classes,
        "split": split,
        "evaluations": ["finetune-llrd"],
        "metrics": ["accuracy", "auc"],
        "settings": settings,
    }
    try:
        task = parse_task(task_raw, source=f"{source} (data)")
        return task, load_task_data(task)
    except (TaskError, TaskSkipped, DataError) as err:
        raise ConfigError(f"{source}: data: {err}") from None


def _check_lora_targets(backbone: Any, cfg: DictConfig, source: str) -> None:
    from torch import nn

    targets = list(cfg.optimizer.lora_targets or getattr(backbone, "lora_targets", ()))
    linear = [n for n, m in backbone.named_modules() if isinstance(m, nn.Linear)]
    missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in linear)]
    if missing or not targets:
        raise ConfigError(
            f"{source}: optimizer.lora_targets: no nn.Linear named {missing or []} "
            f"in {type(backbone).__name__} (its Linear layers end in: "
            f"{', '.join(sorted({n.rsplit('.', 1)[-1] for n in linear}))})"
        )


def finetune_run(
    recipe: str | Path,
    overrides: Sequence[str] = (),
    overwrite: bool = False,
    progress: bool = True,
    resume: bool = False,
    sitting_minutes: float | None = None,
) -> Path:
    """Run a fine-tuning recipe; returns the run folder (see the module docstring).

    ``sitting_minutes`` ends this sitting at the first epoch boundary past it (summary status
    ``paused``, no classifier yet); ``resume`` continues from the run's checkpoints."""
    import yaml

    from jetzoo.leaderboard import metrics as M
    from jetzoo.leaderboard.finetune import FineTunePaused, FineTuneSettings, finetune, merge_lora
    from jetzoo.models.zoo import save_pretrained
    from jetzoo.utils.io import atomic_write_text
    from jetzoo.utils.names import name_problem

    cfg = load_finetune_config(recipe, overrides)
    source = str(resolve_path(recipe))
    folder = Path(cfg.output.dir or Path("runs") / f"finetune-{Path(source).stem}")
    if sitting_minutes is not None and not sitting_minutes > 0:
        raise ConfigError(f"{source}: --sitting must be a positive number of minutes")
    existing = [
        n
        for n in ("classifier", "summary.json", "config.yaml", "checkpoints")
        if (folder / n).exists()
    ]
    if resume and not (folder / "checkpoints").is_dir():
        raise FinetuneError(
            f"{source}: --resume: {folder / 'checkpoints'} does not exist (start without --resume)"
        )
    if resume and (folder / "config.yaml").is_file():
        before = yaml.safe_load((folder / "config.yaml").read_text())
        if before != cfg_to_dict(cfg):
            raise FinetuneError(
                f"{source}: --resume: the recipe differs from "
                f"{folder / 'config.yaml'}; resume with the same settings"
            )
    if existing and not overwrite and not resume:
        raise FinetuneError(
            f"{source}: run folder {folder} already holds {', '.join(existing)};"
            " pass --resume, --overwrite or set output.dir=OTHER"
        )
    backbone, start = _backbone(cfg, source)
    if getattr(backbone, "family", "jetnet") != "jetnet":
        raise ConfigError(
            f"{source}: init_from: jetzoo finetune reads particle datasets; "
            f"{start} reads {backbone.family!r}"
        )
    name = cfg.output.name or f"{start}-{cfg.mode}"
    if name_problem(name):
        raise ConfigError(f"{source}: output.name: {name_problem(name)}")
    task, data = _task_data(cfg, source)
    devices = cfg.trainer.devices
    settings = FineTuneSettings(
        mode="scratch" if cfg.init_from is None and cfg.mode == "full" else cfg.mode,
        base_lrs=_grid(cfg.optimizer.base_lr, "optimizer.base_lr", source),
        decays=_grid(cfg.optimizer.decay, "optimizer.decay", source),
        lora_rank=cfg.optimizer.lora_rank,
        lora_targets=list(cfg.optimizer.lora_targets) if cfg.optimizer.lora_targets else None,
        label_fraction=cfg.data.label_fraction,
        max_epochs=cfg.trainer.max_epochs,
        batch_size=cfg.trainer.batch_size,
        weight_decay=cfg.optimizer.weight_decay,
        head_dropout=cfg.head_dropout,
        seed=cfg.seed,
        devices=devices,
        accelerator=cfg.trainer.accelerator,
        progress=progress,
        checkpoint_dir=str(folder / "checkpoints"),
        resume=resume,
        sitting_minutes=sitting_minutes,
    )
    if cfg.init_from is None and cfg.mode == "llrd":  # the same recipe from random weights
        from jetzoo.models.registry import random_init_like

        backbone = random_init_like(backbone, cfg.seed)
    if cfg.mode == "lora":
        _check_lora_targets(backbone, cfg, source)
    t0 = time.perf_counter()
    resolved = cfg_to_dict(cfg)
    created = not folder.exists()
    if overwrite:
        import shutil

        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    try:
        result = finetune(
            backbone,
            data.train,
            data.val,
            data.test,
            len(task.classes),
            settings,
            classes=list(task.classes),
        )
    except FineTunePaused as err:
        atomic_write_text(
            folder / "summary.json",
            json.dumps(
                {
                    "status": "paused",
                    "recipe_file": source,
                    "paused": str(err),
                    "wall_time_s": round(time.perf_counter() - t0, 1),
                },
                indent=2,
            )
            + "\n",
        )
        return folder
    except BaseException:  # a failed first sitting leaves no run folder behind
        if created:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        raise
    wall = time.perf_counter() - t0
    target = data.test["label"]
    proba = result.test_proba.double()
    scores = {
        "accuracy": float(M.accuracy(proba, target, len(task.classes))),
        "auc[mean]": float(M.multiclass_auc(proba, target).mean()),
    }
    scores.update(
        {f"auc[{c}]": float(v) for c, v in zip(task.classes, M.multiclass_auc(proba, target))}
    )
    classifier = merge_lora(result.model)
    rows = [
        {
            "task": f"finetune-{Path(str(data.dataset_path)).name}",
            "evaluation": cfg.mode,
            "metric": k,
            "value": v,
            "dataset": Path(str(data.dataset_path)).name,
            "split": "test",
            "label_fraction": cfg.data.label_fraction,
            "task_type": "jet-classification",
        }
        for k, v in scores.items()
    ]
    save_pretrained(
        classifier,
        folder / "classifier",
        model_name=name,
        recipe={"recipe": "finetune", **resolved},
        dataset={
            "name": Path(str(data.dataset_path)).name,
            "path": str(data.dataset_path),
            "sha256": data.dataset_sha256,
            "classes": list(task.classes),
            "n_train": result.n_train,
        },
        training={
            "wall_time_s": round(wall, 1),
            "epochs": cfg.trainer.max_epochs,
            "device": str(next(classifier.parameters()).device),
            "command": " ".join(["jetzoo finetune", source, *overrides]),
        },
        results=rows,
    )
    summary = {
        "status": "completed",
        "recipe_file": source,
        "init_from": cfg.init_from,
        "mode": cfg.mode,
        "classes": list(task.classes),
        "n_train": result.n_train,
        "n_test": int(len(target)),
        "label_fraction": cfg.data.label_fraction,
        "test": scores,
        "selected": result.best,
        "scan": result.scan,
        "trainable_params": result.trainable_params,
        "wall_time_s": round(wall, 1),
        "dataset_sha256": data.dataset_sha256,
    }
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    return folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "recipe", help="fine-tuning recipe file, or a shipped one by name (llrd, lora, scratch)"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. init_from=jbot-b data.label_fraction=0.01",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the classifier, checkpoints and summary of an earlier run",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a paused or interrupted run from its checkpoints",
    )
    parser.add_argument(
        "--sitting",
        type=float,
        metavar="MINUTES",
        default=None,
        help="end this sitting at the first epoch boundary past MINUTES "
        "(status 'paused'; continue with --resume)",
    )
    parser.add_argument("--no-progress", action="store_true")


def main(args: argparse.Namespace) -> int:
    from jetzoo.data.schema import DataError
    from jetzoo.models.zoo import ZooError

    try:
        folder = finetune_run(
            args.recipe,
            args.overrides,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            resume=args.resume,
            sitting_minutes=args.sitting,
        )
    except (ConfigError, FinetuneError, DataError, ZooError) as err:
        print(f"jetzoo finetune: error: {err}", file=sys.stderr)
        return 1
    summary = json.loads((folder / "summary.json").read_text())
    if summary["status"] == "paused":
        print(f"jetzoo finetune: paused ({summary['paused']}); continue with --resume")
        return 0
    test = summary["test"]
    print(
        f"jetzoo finetune: {summary['mode']} on {summary['n_train']} labelled jets: test "
        f"accuracy {test['accuracy']:.4f}, mean AUC {test['auc[mean]']:.4f}; classifier "
        f"saved to {folder / 'classifier'} (deploy with `jetzoo export-onnx "
        f"{folder / 'classifier'} --out tagger.onnx`)"
    )
    return 0
