"""``jetzoo export``: a model folder from a run's checkpoints.

``jetzoo run`` exports the student backbone of its last state to ``<run>/backbone``. This writes
any other state of the run the same way (``model.safetensors``, ``config.json``, card), so that
``jetzoo leaderboard submit`` and ``jetzoo ship`` take it:

- an epoch checkpoint (``checkpoints/epoch025.ckpt``: the backbone after epoch 26);
- the EMA teacher's backbone instead of the student's (``--weights teacher``, momentum recipes);
- the uniform average of several checkpoints' backbones (a weight average along the trajectory).

The card records which checkpoints and which copy it holds, and the jets the run had seen.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any, Sequence

from jetzoo.recipes.checkpoints import RunError, checkpoint_backbone


def export_checkpoints(
    run: str | Path, checkpoints: Sequence[str | Path], out: str | Path, weights: str = "student"
) -> Path:
    """Write the backbone of ``checkpoints`` of the run in ``run`` to the model folder ``out``.

    Args:
        run: the run folder (its ``config.yaml`` rebuilds the backbone).
        checkpoints: one checkpoint, or several whose backbones are averaged uniformly
            (floating-point tensors; integer buffers are taken from the first).
        out: the model folder to write (atomically; see ``jetzoo.models.zoo.save_pretrained``).
        weights: ``"student"`` or ``"teacher"`` (the EMA teacher's copy).

    Raises:
        RunError: no checkpoints, a missing or unreadable checkpoint, or no such backbone in it.
    """
    import torch

    from jetzoo.models.zoo import ZooError, load_config, save_pretrained
    from jetzoo.utils.yaml_values import load_yaml

    run = Path(run)
    paths = [Path(c) for c in checkpoints]
    if not paths:
        raise RunError(f"{run}: no checkpoints given to export")
    net, total, jets = None, None, 0
    for path in paths:
        if not path.is_file():
            raise RunError(f"{path}: checkpoint not found")
        try:
            one, seen = checkpoint_backbone(run, path, weights)
        except RunError:
            raise
        except (
            pickle.UnpicklingError,
            EOFError,
            RuntimeError,
            OSError,
            ValueError,
            KeyError,
        ) as err:
            raise RunError(f"{path}: cannot read the {weights} backbone ({err})") from err
        jets = max(jets, seen)
        state = one.state_dict()
        if net is None:  # the first keeps its integer buffers; floats are summed in float64
            net, total = (
                one,
                {
                    k: v.to(torch.float64, copy=True)
                    for k, v in state.items()
                    if v.is_floating_point()
                },
            )
        else:
            for key in total:
                total[key] += state[key].double()
    if len(paths) > 1:
        first = net.state_dict()
        net.load_state_dict(
            {**first, **{k: (v / len(paths)).to(first[k].dtype) for k, v in total.items()}}
        )
    recipe = load_yaml((run / "config.yaml").read_text()) or {}
    try:  # what `jetzoo run` recorded when it exported the run's own backbone
        meta = load_config(run / "backbone")
    except ZooError:
        meta = {}
    training: dict[str, Any] = {
        k: v
        for k, v in (meta.get("training") or {}).items()
        if k in ("command", "device", "threads", "world_size")
    }
    training.update(
        {
            "run": run.as_posix(),
            "checkpoints": [p.name for p in paths],
            "weights": weights,
            "jets_seen": jets,
            **_progress(paths),
        }
    )
    return save_pretrained(net, out, recipe=recipe, dataset=meta.get("dataset"), training=training)


def _progress(paths: Sequence[Path]) -> dict[str, Any]:
    """Where the run stood at the latest of ``paths``: epochs and optimiser steps done, and the
    run's wall time and sittings by then (the fields ``jetzoo run`` records for its own export)."""
    import torch

    from jetzoo.recipes.checkpoints import checkpoint_counters

    latest: dict[str, Any] = {}
    for path in paths:  # one state in memory at a time
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not latest or int(state.get("global_step", 0)) > latest["global_step"]:
            counters = checkpoint_counters(state)
            # Lightning saves the 0-based epoch it has just finished
            latest = {
                "epochs": int(state.get("epoch", -1)) + 1,
                "global_step": int(state.get("global_step", 0)),
                "wall_time_s": round(counters["wall_s"], 3),
                "sittings": counters["sittings"],
            }
    return latest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="the run folder (holds config.yaml)")
    parser.add_argument(
        "checkpoints", nargs="+", help="checkpoint files; several are averaged uniformly"
    )
    parser.add_argument(
        "--weights",
        choices=("student", "teacher"),
        default="student",
        help="the student backbone or the EMA teacher's (momentum recipes)",
    )
    parser.add_argument("--out", required=True, help="the model folder to write")


def main(args: argparse.Namespace) -> int:
    from jetzoo.models.zoo import ZooError

    try:
        out = export_checkpoints(args.run, args.checkpoints, args.out, args.weights)
    except (RunError, ZooError) as err:
        print(f"jetzoo export: {err}", file=sys.stderr)
        return 1
    print(f"exported {out}")
    return 0
