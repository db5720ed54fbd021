"""``jetzoo leaderboard submit``: the command line (:mod:`jetzoo.leaderboard.submission`)."""

from __future__ import annotations

import argparse
import sys

from jetzoo.data.schema import DataError
from jetzoo.leaderboard.errors import SubmissionError
from jetzoo.leaderboard.evaluators import EVALUATORS
from jetzoo.leaderboard.store import DEFAULT_OUT
from jetzoo.leaderboard.submission import parse_overrides, submit
from jetzoo.leaderboard.tasks import DEFAULT_TIER, TIERS, TaskError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered name, model folder, Hub repo id or run folder")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        help="task names or patterns (default: all tasks that apply)",
    )
    parser.add_argument(
        "--tasks-dir",
        default=None,
        help="folder of task YAMLs (default: the repository's leaderboard/tasks)",
    )
    parser.add_argument(
        "--tier",
        choices=TIERS,
        default=DEFAULT_TIER,
        help="quick: the embedded sample (CI); standard: the pinned benchmark "
        "sets (CPU hours); paper: the jBOT paper's fine-tuning protocol "
        f"(default {DEFAULT_TIER})",
    )
    parser.add_argument("--quick", action="store_true", help="the same as --tier quick")
    parser.add_argument(
        "--evaluations",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"run only these evaluations ({', '.join(EVALUATORS)})",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="score again what the store already holds for these settings, "
        "and replace a tier run scored with other --set settings (refused "
        "without it; a one-off study belongs in another store, --out DIR)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache (default: $JETZOO_CACHE or ~/.cache/jetzoo/embeddings)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="keep embeddings in memory only, and no journal of finished training jobs",
    )
    parser.add_argument(
        "--devices",
        default="1",
        help="N: run the independent training jobs (evaluation, seed, label fraction, grid "
        "point) in N processes, one GPU or CPU share each; 'auto': one per GPU",
    )
    parser.add_argument(
        "--ddp",
        action="store_true",
        help="instead run each fine-tuning on all --devices with Lightning DDP (one large job)",
    )
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="replace a task setting in every task, e.g. --set max_epochs=5 "
        "--set 'base_lrs=[1e-3]' (keys: DEFAULT_SETTINGS in "
        "jetzoo/leaderboard/tasks.py); recorded in the result file",
    )
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="the result store (default leaderboard/results)"
    )
    parser.add_argument("--name", default=None, help="model id in the result files")
    parser.add_argument("--revision", default=None, help="Hub revision of MODEL")
    parser.add_argument(
        "--weights-sha256", default=None, help="refuse unless model.safetensors has this sha256"
    )
    parser.add_argument(
        "--dataset-sha256", default=None, help="refuse unless every task dataset has this sha256"
    )


def main(args: argparse.Namespace) -> int:
    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    try:
        overrides = parse_overrides(args.overrides)
        paths = submit(
            args.model,
            args.tasks,
            devices=devices,
            ddp=args.ddp,
            quick=args.quick,
            tier=args.tier,
            out=args.out,
            tasks_dir=args.tasks_dir,
            name=args.name,
            revision=args.revision,
            weights_sha256=args.weights_sha256,
            dataset_sha256=args.dataset_sha256,
            accelerator=args.accelerator,
            overrides=overrides,
            evaluations=args.evaluations,
            force=args.force,
            cache_dir=False if args.no_cache else args.cache_dir,
        )
    except (SubmissionError, TaskError, DataError) as err:
        print(f"jetzoo leaderboard submit: error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
