"""Warm start: begin a pre-training run from a trained backbone (a recipe's ``init_from``).

``init_from`` names the weights every backbone copy of the recipe starts from (the student's
and, for EMA-teacher recipes, the teacher's); heads, centres, optimiser and schedules start
fresh, as in a new run. It takes

- a run checkpoint (``*.ckpt`` of ``jetzoo run``): the student backbone (``backbone.*``) and,
  where the checkpoint has one, the EMA teacher's (``teacher.backbone.*``), so a jBOT run goes
  on from where that run's student and teacher stood;
- anything :meth:`jetzoo.JetZoo.from_pretrained` takes (a zoo name, a backbone folder, a Hub
  repo id): its weights go to every backbone copy.

The backbone's buffers come along (its input preprocessing numbers), since the weights were
trained with them. Uses: continue pre-training a zoo model on one's own jets, or test a change
of a recipe's head or loss from a converged backbone instead of from scratch. On ``--resume``
the run's own checkpoint replaces these weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from torch import nn

__all__ = ["backbone_states", "checkpoint_backbone_state", "describe_source", "warm_start"]

_PREFIX = {"student": "backbone.", "teacher": "teacher.backbone."}


def checkpoint_backbone_state(
    state_dict: dict[str, torch.Tensor], weights: str = "student"
) -> dict[str, torch.Tensor]:
    """The ``weights`` ("student" or "teacher") backbone's entries of a recipe's state dict
    (a run checkpoint's ``state_dict``), with the prefix removed; empty if it has none."""
    if weights not in _PREFIX:
        raise ValueError(f"weights must be 'student' or 'teacher', got {weights!r}")
    prefix = _PREFIX[weights]
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def backbone_states(
    source: str | Path,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """(student, teacher or None) backbone state dicts of ``source`` (see the module docstring).

    Raises:
        ValueError: a checkpoint without backbone weights, or a source that does not load.
    """
    path = Path(source)
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise ValueError(f"{path}: no such checkpoint")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - a corrupt or foreign file: name it
            raise ValueError(f"{path}: not a readable checkpoint ({err})") from err
        state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
        student = checkpoint_backbone_state(state or {})
        if not student:
            raise ValueError(
                f"{path}: state_dict has no '{_PREFIX['student']}*' weights "
                "(not a jetzoo run checkpoint)"
            )
        return student, checkpoint_backbone_state(state, "teacher") or None
    from jetzoo.models.zoo import JetZoo

    try:
        model = JetZoo.from_pretrained(str(source))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{source}: cannot load a backbone ({err})") from err
    return model.state_dict(), None


def warm_start(module: nn.Module, source: str | Path) -> None:
    """Load ``source``'s backbone weights into every backbone copy of a recipe ``module``
    (``module.backbone_copies()``: student first, then the teacher's if it has one).

    Raises:
        ValueError: the source does not load, or its architecture differs (names the keys).
    """
    student, teacher = backbone_states(source)
    copies = module.backbone_copies()
    for i, target in enumerate(copies):
        state = teacher if (i > 0 and teacher is not None) else student
        try:
            target.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise ValueError(
                f"{source}: its backbone does not fit the recipe's ({' '.join(first[:3])})"
            ) from err


def describe_source(source: str | Path) -> dict[str, object]:
    """What ``init_from`` started a run from, for its backbone's record and card:
    ``{"source", "epochs", "global_step", "dataset", "jets_seen"}``, each part that is known
    (a checkpoint: its counters and its run's ``config.yaml`` and ``summary.json``, jet-passes =
    steps x batch per rank x ranks; a model folder: its ``config.json``)."""
    path = Path(source)
    out: dict[str, object] = {"source": str(source)}
    if path.suffix == ".ckpt":
        run = path.parent.parent
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            out["epochs"] = int(ckpt["epoch"]) + 1
            out["global_step"] = int(ckpt["global_step"])
        except Exception:  # noqa: BLE001 - the record is best effort; warm_start checks the file
            pass
        try:
            data = (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("data") or {}
            out["dataset"] = str(data["path"])
            ranks = json.loads((run / "summary.json").read_text())["world_size"]
            out["jets_seen"] = int(out["global_step"]) * int(data["batch_size"]) * int(ranks)
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            pass
        return out
    config = path / "config.json"
    if config.is_file():
        try:
            record = json.loads(config.read_text())
            dataset, training = record.get("dataset") or {}, record.get("training") or {}
            if dataset.get("path"):
                out["dataset"] = str(dataset["path"])
            if training.get("jets_seen"):
                out["jets_seen"] = int(training["jets_seen"])
        except (OSError, ValueError, TypeError):
            pass
    return out
