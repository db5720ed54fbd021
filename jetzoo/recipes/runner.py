"""``jetzoo run recipes/X.yaml [key=value ...] [--resume]``: train a pre-training recipe.

The run folder (``output.dir``, default ``runs/<recipe file stem>``) receives:

- ``config.yaml``: the resolved config (file + overrides + defaults);
- ``checkpoints/``: one checkpoint per epoch plus ``last.ckpt`` (``--resume`` restarts there);
- ``logs/csv/version_*/metrics.csv`` and ``logs/tensorboard/version_*/`` (and ``wandb/`` when
  configured: offline unless ``WANDB_API_KEY`` is set);
- ``backbone/``: the trained backbone written by ``jetzoo.models.zoo.save_pretrained``, ready for
  ``jetzoo publish``;
- ``summary.json``: status, wall time, epochs, steps, jets seen, jets/s, final logged metrics;
  after ``--resume`` these count the whole run (the counters travel in the checkpoints).

A long run spans several sittings: ``--sitting MINUTES`` ends this sitting at the last epoch
boundary that fits in MINUTES (the mean epoch time of this sitting decides), with the epoch's
checkpoint written and ``summary.json`` status ``paused``; ``--resume`` (here or on another
machine, from the committed ``last.ckpt``) continues with the same schedules. The backbone of a
paused run is exported too, so a sitting can be scored.

``init_from`` (a run checkpoint, zoo name or backbone folder) starts the backbone, and a jBOT
run's teacher, from trained weights with fresh heads and schedules (``jetzoo.recipes.warm_start``).

A non-finite loss (the recipe raises ``FloatingPointError``) stops the run with the step number;
checkpoints are only written from finite weights, so ``last.ckpt`` stays the last good state.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from omegaconf import OmegaConf

from jetzoo.recipes.checkpoints import EPOCH_FILENAME, RunError, resume_checkpoint
from jetzoo.recipes.config import (
    ConfigError,
    DataConfig,
    cfg_to_dict,
    get_recipe_class,
    load_config,
)
from jetzoo.utils.extras import require
from jetzoo.utils.yaml_values import load_yaml

if TYPE_CHECKING:  # heavy imports stay out of `jetzoo --help`
    import lightning as L
    from omegaconf import DictConfig

# What a run folder may contain; --overwrite removes exactly these.
RUN_ARTIFACTS: tuple[str, ...] = (
    "config.yaml",
    "checkpoints",
    "logs",
    "backbone",
    "summary.json",
    "wandb",
)


@dataclass
class RunResult:
    """What :func:`train` returns: the run folder, the trained module and its trainer."""

    folder: Path
    module: "L.LightningModule"
    trainer: "L.Trainer"
    summary: dict[str, Any]


# --------------------------------------------------------------------------------------------
# data


def _sample_path(kind: str) -> Path:
    from jetzoo.data import sample_path

    base = Path(sample_path())
    return base / "rs3l" if kind == "rs3l" else base


def resolve_data_path(cfg: "DictConfig", source: str) -> Path:
    """``data.path`` as a Path (null / "sample" = embedded sample); a missing path is a
    :class:`ConfigError` that says how to generate the data."""
    kind = cfg.data.family
    raw = cfg.data.path
    path = _sample_path(kind) if raw in (None, "", "sample") else Path(raw).expanduser()
    if not path.exists():
        classes = ",".join(cfg.data.classes) if cfg.data.classes else "q,g,t,w,z"
        hint = (
            f"jetzoo generate rs3l --out {path}"
            if kind == "rs3l"
            else f"jetzoo generate jetnet --classes {classes} --jets-per-class 10000 --out {path}"
        )
        raise ConfigError(
            f"{source}: data.path: {path} does not exist; generate it with "
            f"`{hint}` (or set data.path=sample for the embedded sample)"
        )
    return path


def _filter_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    import inspect

    params = inspect.signature(cls).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def build_datamodule(cfg: "DictConfig", source: str) -> "L.LightningDataModule":
    """The LightningDataModule for ``cfg.data``: JetDataModule, or RS3LDataModule (family rs3l)."""
    data = cfg_to_dict(cfg.data)
    path = resolve_data_path(cfg, source)
    if data["family"] == "rs3l":
        from jetzoo.data.rs3l_dataset import RS3LDataModule as cls
    else:
        from jetzoo.data import JetDataModule as cls
    kwargs = dict(
        path=path,
        classes=data["classes"],
        batch_size=data["batch_size"],
        num_workers=data["num_workers"],
        split=tuple(data["split"]),
        seed=data["seed"],
        pairs=data["pairs"],
        in_memory=data["in_memory"],
    )  # max_jets: see below
    if data["classes"] is None:
        kwargs.pop("classes")
    accepted = _filter_kwargs(cls, kwargs)
    defaults = cfg_to_dict(OmegaConf.structured(DataConfig))
    for key in sorted(set(kwargs) - set(accepted)):
        if data[key] != defaults[key]:  # a setting this datamodule cannot honour
            raise ConfigError(
                f"{source}: data.{key}: not supported by {cls.__name__} "
                f"(data.family={data['family']})"
            )
    return cls(**accepted)


# --------------------------------------------------------------------------------------------
# loggers


def _make_loggers(cfg: "DictConfig", folder: Path) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    loggers: list[Any] = []
    if cfg.logging.csv:
        loggers.append(CSVLogger(save_dir=folder / "logs", name="csv"))
    if cfg.logging.tensorboard:
        require("tensorboard", "logging.tensorboard=true (or set logging.tensorboard=false)")
        loggers.append(
            TensorBoardLogger(save_dir=folder / "logs", name="tensorboard", default_hp_metric=False)
        )
    wandb = cfg.logging.wandb
    if wandb is not None:
        mode = wandb.mode or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
        if mode != "disabled":
            from lightning.pytorch.loggers import WandbLogger

            require("wandb", "logging.wandb")

            loggers.append(
                WandbLogger(
                    project=wandb.project,
                    entity=wandb.entity,
                    name=wandb.name,
                    save_dir=str(folder),
                    offline=mode == "offline",
                    mode=mode,
                )
            )
    return loggers


def _finish_wandb(trainer: "L.Trainer") -> None:
    """Close the wandb run (Lightning leaves it open), so that a process can train again."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero and logger._experiment:
            logger.experiment.finish()


# --------------------------------------------------------------------------------------------
# the run


def run_folder(cfg: "DictConfig", recipe_path: str | Path) -> Path:
    """``output.dir`` or ``runs/<recipe file stem>``."""
    return Path(cfg.output.dir) if cfg.output.dir else Path("runs") / Path(recipe_path).stem


def _prepare_folder(folder: Path, resume: bool, overwrite: bool, source: str) -> Path | None:
    """Check the run folder; return the checkpoint to resume from (or None)."""
    if resume:
        return resume_checkpoint(folder, source)
    existing = [name for name in RUN_ARTIFACTS if (folder / name).exists()]
    if existing and not overwrite:
        raise RunError(
            f"{source}: run folder {folder} already holds {', '.join(existing)}; "
            "pass --resume to continue it, --overwrite to start again, or set "
            "output.dir=OTHER"
        )
    for name in existing:
        target = folder / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return None


def _check_same_dataset(folder: Path, dataset_sha: str | None, source: str) -> None:
    """A resumed run must train on the bytes its earlier sittings saw (``summary.json``)."""
    try:
        before = json.loads((folder / "summary.json").read_text()).get("dataset_sha256")
    except (OSError, ValueError):
        return  # no finished sitting recorded (e.g. a crash): nothing to compare
    if before and dataset_sha and before != dataset_sha:
        raise RunError(
            f"{source}: --resume: the data set changed: {folder / 'summary.json'} "
            f"field dataset_sha256 is {before[:12]}..., data.path now holds "
            f"{dataset_sha[:12]}... (make the run's set with its DATASETS.md command)"
        )


def _check_checkpoint_fits(path: Path, module: Any, source: str) -> None:
    """A resumed run's checkpoint must hold the tensors the recipe builds, shape for shape
    (:class:`RunError` naming the differences, before anything is written)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["state_dict"]
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    diffs = [
        f"{k}: checkpoint {have[k]} vs recipe {want[k]}"
        for k in want
        if k in have and have[k] != want[k]
    ]
    diffs += [f"missing {k}" for k in want if k not in have]
    diffs += [f"unexpected {k}" for k in have if k not in want]
    if diffs:
        raise RunError(
            f"{source}: --resume: {path} holds another architecture than the recipe "
            f"builds ({'; '.join(diffs[:4])}{'; ...' if len(diffs) > 4 else ''}); "
            "resume with the run's own settings (its config.yaml) or start a new "
            "output.dir. Nothing was changed"
        )


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``"key: old -> new"`` for every dotted key whose value differs between two configs."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def _step_of(err: BaseException, fallback: int) -> int:
    match = re.search(r"step (\d+)", str(err))
    return int(match.group(1)) if match else fallback


def _final_metrics(trainer: "L.Trainer") -> dict[str, float]:
    out = {}
    for key, value in trainer.callback_metrics.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return dict(sorted(out.items()))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from jetzoo.utils.io import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def train(
    recipe_path: str | Path,
    overrides: Sequence[str] = (),
    resume: bool = False,
    overwrite: bool = False,
    sitting_minutes: float | None = None,
) -> RunResult:
    """Load a recipe file, train it and save the backbone; see the module docstring.

    ``sitting_minutes`` ends this sitting at the last epoch boundary that fits (status
    ``paused``); ``resume=True`` continues a paused or interrupted run.

    Raises:
        ConfigError: invalid recipe file / override, missing dataset.
        RunError: unusable run folder, or training stopped on a non-finite loss.
    """
    import lightning as L
    import torch
    import yaml

    cfg = load_config(recipe_path, overrides)
    source = str(recipe_path)
    folder = run_folder(cfg, recipe_path)
    resolved = cfg_to_dict(cfg)
    resolve_data_path(cfg, source)  # fail early, before touching the run folder
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    from jetzoo.data.schema import DataError

    try:
        datamodule = build_datamodule(cfg, source)
    except DataError as err:
        raise ConfigError(f"{source}: data.path: {err}") from None
    recipe_cls = get_recipe_class(cfg.recipe)
    model_cfg = cfg_to_dict(cfg.model)
    try:
        module = recipe_cls(optimizer=resolved["optimizer"], **model_cfg)
    except (TypeError, ValueError, KeyError) as err:  # what the signature check cannot see
        raise ConfigError(f"{source}: model: cannot build recipe {cfg.recipe!r}: {err}") from err
    prep = getattr(datamodule, "preprocessing", None)
    if prep is not None:
        module.set_preprocessing(prep)
    if cfg.init_from is not None and not (
        resume and (folder / "checkpoints" / "last.ckpt").is_file()
    ):  # a resumed run has its own weights
        from jetzoo.recipes.warm_start import warm_start

        try:
            warm_start(module, cfg.init_from)
        except ValueError as err:
            raise ConfigError(f"{source}: init_from: {err}") from None
    if cfg.compile is not None:
        module.compile_backbones(cfg.compile)
    try:  # every shard checked against the manifest, before any training
        dataset_sha = getattr(datamodule, "dataset_sha256", None)
    except DataError as err:
        raise ConfigError(f"{source}: data.path: {err}") from None

    if sitting_minutes is not None and not sitting_minutes > 0:
        raise ConfigError(
            f"{source}: --sitting must be a positive number of minutes, got {sitting_minutes}"
        )
    from jetzoo.recipes.callbacks import checkpoint_callbacks

    callbacks = checkpoint_callbacks(
        folder, EPOCH_FILENAME, None if sitting_minutes is None else 60 * sitting_minutes
    )
    throughput = callbacks[-1]
    trainer_kwargs = cfg_to_dict(cfg.trainer)
    if cfg.data.max_jets is not None and "limit_train_batches" in trainer_kwargs:
        raise ConfigError(
            f"{source}: data.max_jets: set it or trainer.limit_train_batches, not both"
        )
    # The Trainer decides the ranks through Lightning's cluster environments (SLURM, torchrun /
    # torchelastic, LSF, MPI, Kubeflow, or its own subprocess launcher), before any process
    # group exists; only global rank 0 touches the run folder.
    trainer = L.Trainer(
        default_root_dir=str(folder),
        callbacks=callbacks,
        logger=_make_loggers(cfg, folder) or False,
        **trainer_kwargs,
    )
    if trainer.is_global_zero:
        ckpt_path = _prepare_folder(folder, resume, overwrite, source)
        from jetzoo.utils.io import atomic_write_text

        if ckpt_path is not None:  # every check before the first write into the folder
            _check_same_dataset(folder, dataset_sha, source)
            _check_checkpoint_fits(ckpt_path, module, source)
        if ckpt_path is not None and (folder / "config.yaml").is_file():
            changed = _changed_keys(load_yaml((folder / "config.yaml").read_text()) or {}, resolved)
            if changed:
                print(
                    "jetzoo run: resuming with changed settings: " + "; ".join(changed),
                    file=sys.stderr,
                )
        atomic_write_text(folder / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    else:
        ckpt_path = resume_checkpoint(folder, source) if resume else None  # rank 0's choice
    if cfg.data.max_jets is not None:
        # jets per epoch, over all ranks: each rank runs ceil(max_jets / (batch * world)) batches
        trainer.limit_train_batches = math.ceil(
            cfg.data.max_jets / (cfg.data.batch_size * trainer.world_size)
        )
    t0 = time.perf_counter()
    status = "completed"
    error: BaseException | None = None
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except FloatingPointError as err:
        status, error = "non-finite loss", err
    except (KeyboardInterrupt, SystemExit) as err:  # Lightning turns SIGINT into exit(1)
        if isinstance(err, SystemExit) and not trainer.interrupted:
            raise
        status, error = (
            "interrupted",
            KeyboardInterrupt(f"interrupted (SIGINT) at step {trainer.global_step}"),
        )
    except OSError as err:  # a full disk or a vanished folder while writing a checkpoint
        why = "disk full" if err.errno == errno.ENOSPC else "file system error"
        status, error = why, OSError(f"{why} at step {trainer.global_step}: {err}")
    finally:
        _finish_wandb(trainer)
    if error is None and any(getattr(c, "paused", False) for c in callbacks):
        status = "paused"
    # the whole run's wall time: this sitting from t0 plus the sittings before a --resume
    wall = time.perf_counter() - t0 + throughput.earlier_wall_s

    world = trainer.world_size
    summary: dict[str, Any] = {
        "status": status,
        "recipe": cfg.recipe,
        "recipe_file": str(recipe_path),
        "resumed_from": str(ckpt_path) if ckpt_path else None,
        "wall_time_s": round(wall, 3),
        "sittings": throughput.sittings,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "world_size": world,
        "jets_seen": throughput.jets * world,
        "jets_per_s": round(throughput.jets * world / throughput.seconds, 2)
        if throughput.seconds > 0
        else None,
        "final_metrics": _final_metrics(trainer),
        "dataset_sha256": dataset_sha,
    }
    last = folder / "checkpoints" / "last.ckpt"
    if error is not None:
        step = _step_of(error, trainer.global_step)
        summary["error"] = str(error)
        summary["failed_step"] = step
        unsaved = ""
        if trainer.is_global_zero:
            try:
                _write_json(folder / "summary.json", summary)
            except OSError as err:  # e.g. the disk is still full: the old summary stays whole
                unsaved = f"; {folder / 'summary.json'} not updated ({err.strerror or err})"
        kept = f"last good checkpoint: {last}" if last.is_file() else "no checkpoint was written"
        more = " (continue with --resume)" if last.is_file() and status != "non-finite loss" else ""
        raise RunError(
            f"{source}: training stopped at step {step}: {error}; {kept}{more}{unsaved}"
        ) from error

    if trainer.is_global_zero:
        from jetzoo.models.zoo import save_pretrained

        dataset: dict[str, Any] = {
            "path": str(resolve_data_path(cfg, source)),
            "family": cfg.data.family,
        }
        if dataset_sha is not None:
            dataset["sha256"] = dataset_sha
        if cfg.data.classes:
            dataset["classes"] = list(cfg.data.classes)
        from jetzoo.data.mixture import composition

        data_path = resolve_data_path(cfg, source)
        mixture = composition(data_path) if data_path.is_dir() else None
        if mixture:  # a mixture of generator settings: what the backbone was trained on
            dataset["mixture"] = [
                {k: c.get(k) for k in ("name", "dataset_sha256", "command", "n_jets")}
                for c in mixture
            ]
        training = {
            k: summary[k]
            for k in (
                "status",
                "wall_time_s",
                "sittings",
                "epochs",
                "global_step",
                "jets_seen",
                "jets_per_s",
                "world_size",
            )
        }
        if cfg.init_from is not None:  # the weights it started from, and what they saw
            from jetzoo.recipes.warm_start import describe_source

            training["init_from"] = describe_source(cfg.init_from)
        training["device"] = str(trainer.strategy.root_device)
        training["threads"] = torch.get_num_threads()
        # how to repeat the run: the recipe file and the overrides given on the command line
        training["command"] = " ".join(
            ["jetzoo run", Path(recipe_path).as_posix(), *map(str, overrides)]
        )
        save_pretrained(
            module.export_backbone(),
            folder / "backbone",
            recipe=resolved,
            dataset=dataset,
            training=training,
        )
        _write_json(folder / "summary.json", summary)
    return RunResult(folder=folder, module=module, trainer=trainer, summary=summary)


def run_recipe(
    path: str | Path,
    overrides: Sequence[str] = (),
    resume: bool = False,
    overwrite: bool = False,
    sitting_minutes: float | None = None,
) -> Path:
    """Train the recipe file ``path`` with dotted ``overrides``; return the run folder."""
    return train(
        path, overrides, resume=resume, overwrite=overwrite, sitting_minutes=sitting_minutes
    ).folder


# --------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML file, e.g. recipes/jbot-s.yaml")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. trainer.max_epochs=2 data.batch_size=64",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from <run folder>/checkpoints/last.ckpt"
    )
    parser.add_argument(
        "--sitting",
        type=float,
        metavar="MINUTES",
        default=None,
        help="end this sitting at the last epoch boundary that fits in MINUTES "
        "(status 'paused'; continue later with --resume)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the previous run's files in the run folder and start again",
    )


def main(args: argparse.Namespace) -> int:
    from jetzoo.data.schema import DataError

    try:
        result = train(
            args.recipe,
            args.overrides,
            resume=args.resume,
            overwrite=args.overwrite,
            sitting_minutes=args.sitting,
        )
    except (ConfigError, RunError, DataError) as err:  # DataError: a bad batch mid-training
        print(f"jetzoo run: error: {err}", file=sys.stderr)
        return 1
    if result.trainer.is_global_zero:
        folder, summary = result.folder, result.summary
        jps = summary.get("jets_per_s")
        verb = "paused (continue with --resume)" if summary["status"] == "paused" else "done"
        print(
            f"jetzoo run: {verb} after {summary['wall_time_s']:.1f} s, "
            f"{summary['epochs']} epochs, "
            f"{summary['global_step']} steps"
            + (f", {jps:.0f} jets/s" if jps else "")
            + f"; backbone saved to {folder / 'backbone'} (publish with "
            f"`jetzoo publish {folder / 'backbone'} --repo-id ORG/NAME`)"
        )
    return 0
