"""The checkpoint files of a ``jetzoo run`` folder: their names (``epochNNN.ckpt`` counts epochs
from 0, ``last.ckpt``), the newest loadable one to resume from, the run counters they carry, and
the backbone a checkpoint holds (rebuilt from the run's ``config.yaml``)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from jetzoo.utils.yaml_values import load_yaml

if TYPE_CHECKING:  # heavy imports stay out of `jetzoo --help`
    import torch


class RunError(RuntimeError):
    """A run could not start or stopped early (non-finite loss, missing checkpoint, ...)."""


# epoch checkpoints are named by Lightning's 0-based epoch: epoch000.ckpt holds epoch 1
EPOCH_FILENAME = "epoch{epoch:03d}"


EPOCH_FILE = re.compile(r"^epoch(\d+)\.ckpt$")


def resume_checkpoint(folder: Path, source: str) -> Path:
    """The checkpoint ``--resume`` continues from: the loadable one of ``checkpoints/`` with the
    most optimiser steps, ``last.ckpt`` first on a tie. A run killed between writing an epoch's
    checkpoint and ``last.ckpt`` thus resumes from the epoch's; a bad file is skipped, said."""
    ckpt_dir = folder / "checkpoints"
    candidates = sorted(ckpt_dir.glob("*.ckpt"), key=lambda p: (p.name != "last.ckpt", p.name))
    if not candidates:
        raise RunError(f"{source}: --resume: no checkpoint in {ckpt_dir} (start without --resume)")
    best: tuple[int, Path] | None = None
    problems = []
    for path in candidates:
        try:
            step = check_checkpoint(path)
        except RunError as err:
            problems.append(str(err))
            continue
        if best is None or step > best[0]:
            best = (step, path)
    if best is None:
        raise RunError(
            f"{source}: --resume: no loadable checkpoint in {ckpt_dir}: " + "; ".join(problems)
        )
    for problem in problems:
        print(f"jetzoo run: --resume: skipping {problem}", file=sys.stderr)
    if best[1].name != "last.ckpt":
        print(
            f"jetzoo run: --resume: continuing from {best[1]} (step {best[0]}), the newest "
            "checkpoint",
            file=sys.stderr,
        )
    return best[1]


def check_checkpoint(path: Path) -> int:
    """The optimiser step of the Lightning checkpoint ``path``; :class:`RunError` naming it
    unless it is a loadable Lightning checkpoint.

    Loaded with ``weights_only=True`` (tensors and plain containers only, never arbitrary
    pickled objects) and memory-mapped, so the check reads little of a large file.
    """
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunError(
            f"{path}: not a loadable checkpoint (truncated, or not written by "
            f"jetzoo run?): {first[:300]}"
        ) from None
    missing = [k for k in ("state_dict", "global_step", "loops") if k not in ckpt]
    if missing:
        raise RunError(
            f"{path}: field {missing[0]!r} is missing; not a Lightning checkpoint "
            "written by jetzoo run"
        )
    return int(ckpt["global_step"])


def epoch_checkpoints(folder: str | Path, epochs: Sequence[int] | None = None) -> dict[int, Path]:
    """The epoch checkpoints of the run in ``folder``, keyed by epoch counted from 1 (as in the
    logs and the learning-curve tables), in epoch order: all of them, or those of ``epochs``.

    Raises:
        FileNotFoundError: one of ``epochs`` has no checkpoint (names the epochs that exist).
    """
    found = {
        int(m[1]) + 1: p
        for p in Path(folder, "checkpoints").glob("epoch*.ckpt")
        if (m := EPOCH_FILE.match(p.name))
    }
    found = dict(sorted(found.items()))
    if epochs is None:
        return found
    missing = sorted(set(epochs) - set(found))
    if missing:
        have = f"found epochs {min(found)}-{max(found)}" if found else "none found"
        raise FileNotFoundError(
            f"{Path(folder, 'checkpoints')}: no checkpoint for epoch(s) "
            f"{', '.join(map(str, missing))} "
            f"({', '.join(EPOCH_FILENAME.format(epoch=e - 1) + '.ckpt' for e in missing)}: "
            f"the files count epochs from 0; {have})"
        )
    return {e: found[e] for e in sorted(set(epochs))}


def checkpoint_counters(state: dict[str, Any]) -> dict[str, float]:
    """The run counters a checkpoint of ``jetzoo run`` carries (``torch.load`` of it):
    ``jets`` and ``seconds`` (training jets and seconds per process, every sitting so far),
    ``wall_s`` and ``sittings``. Zeros for a checkpoint without them."""
    found = next(
        (
            v
            for k, v in state.get("callbacks", {}).items()
            if k.split("[")[0].split(".")[-1] == "Throughput"  # also pre-0.3 local classes
        ),
        {},
    )
    return {
        "jets": int(found.get("jets", 0)),
        "seconds": float(found.get("seconds", 0.0)),
        "wall_s": float(found.get("wall_s", 0.0)),
        "sittings": int(found.get("sittings", 0)),
    }


def checkpoint_backbone(
    folder: str | Path, checkpoint: str | Path, weights: str = "student"
) -> "tuple[torch.nn.Module, int]":
    """Rebuild the backbone a checkpoint of the run in ``folder`` holds, from the run's
    ``config.yaml``: the student (what ``jetzoo run`` exports) or, with ``weights="teacher"``,
    the EMA teacher's copy (momentum recipes). Returns it in eval mode with the jets the whole
    run had seen by then (all ranks, every sitting).

    Raises:
        RunError: no ``config.yaml`` in ``folder``, or no such backbone in the checkpoint.
    """
    import torch

    from jetzoo.models.registry import create_backbone
    from jetzoo.recipes.warm_start import checkpoint_backbone_state

    folder, checkpoint = Path(folder), Path(checkpoint)
    try:
        cfg = load_yaml((folder / "config.yaml").read_text()) or {}
    except FileNotFoundError:
        raise RunError(f"{folder}: no config.yaml (not a jetzoo run folder)") from None
    model = cfg.get("model") or {}
    if "backbone" not in model:
        raise RunError(f"{folder / 'config.yaml'}: no field model.backbone")
    net = create_backbone(model["backbone"], **(model.get("backbone_overrides") or {}))

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    found = checkpoint_backbone_state(state.get("state_dict", {}), weights)
    if not found:
        raise RunError(f"{checkpoint}: no {weights} backbone in its state_dict")
    net.load_state_dict(found)
    # the counters are per process: times the ranks the run recorded (else its config's)
    try:
        world = int(json.loads((folder / "summary.json").read_text())["world_size"])
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        trainer = cfg.get("trainer") or {}
        devices = trainer.get("devices", 1)
        world = (devices if isinstance(devices, int) else 1) * int(trainer.get("num_nodes") or 1)
    return net.eval(), checkpoint_counters(state)["jets"] * world
