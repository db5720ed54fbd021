"""Score the shipped backbones and their random inits into the leaderboard store, then render.

    python benchmarks/score_zoo.py --tier standard --evaluations knn linear anomaly-knn \
        anomaly-cosine anomaly-mahalanobis anomaly-gmm anomaly-ae

For each shipped model NAME this submits ``jetzoo/weights/NAME`` and ``NAME-random-init`` (the
same architecture and input preprocessing, weights drawn with seed 0, saved under
``runs/random-init/``) with ``jetzoo leaderboard submit``; the store skips what it holds
already. Prints a table of main scores and wall times. Not a speed test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jetzoo import JetZoo
from jetzoo.leaderboard.backbones import load_model
from jetzoo.leaderboard.render import main_score, render
from jetzoo.leaderboard.schema import load_result, result_path
from jetzoo.leaderboard.submission import submit
from jetzoo.leaderboard.tasks import TIERS
from jetzoo.models.registry import random_init_like
from jetzoo.models.zoo import save_pretrained

RELEASE = ["jbot-s", "jbot-b", "jetclr", "ae", "jbot-s-qcd", "rs3l"]


def random_init(name: str, root: Path) -> Path:
    """``root/NAME-random-init``: NAME's architecture and preprocessing, seed-0 weights."""
    folder = root / f"{name}-random-init"
    if not (folder / "config.json").is_file():
        model = random_init_like(JetZoo.from_pretrained(name))
        save_pretrained(model, folder, model_name=f"{name}-random-init")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=TIERS, default="standard")
    parser.add_argument("--models", nargs="+", default=RELEASE)
    parser.add_argument("--evaluations", nargs="+", default=None)
    parser.add_argument("--tasks", nargs="+", default=None)
    parser.add_argument("--out", default="leaderboard/results")
    parser.add_argument("--random-root", default="runs/random-init")
    parser.add_argument("--no-random-init", action="store_true")
    parser.add_argument("--no-render", action="store_true")
    args = parser.parse_args(argv)
    print("| model | task | main score | value | wall s |\n|---|---|---|---|---|", flush=True)
    for name in args.models:
        folders = [(name, JetZoo.from_pretrained(name).pretrained_cfg["source"])]
        if not args.no_random_init:
            folders.append((f"{name}-random-init", random_init(name, Path(args.random_root))))
        for model_id, folder in folders:
            t0 = time.perf_counter()
            written = submit(
                folder,
                args.tasks,
                tier=args.tier,
                out=args.out,
                name=model_id,
                evaluations=args.evaluations,
                progress=False,
            )
            _, info = load_model(folder, name=model_id)
            store = result_path(args.out, model_id, info.identity_sha256, "x").parent
            for path in sorted(set(written) | set(store.glob("*.json"))):
                result, _ = load_result(path, load_roc=False)
                row = main_score(result, args.tier)
                value = (
                    "n/a"
                    if row is None or row["value"] is None
                    else f"{row['value']:.4f} ± {row['spread']:.4f}"
                )
                wall = result["runs"].get(args.tier, {}).get("wall_seconds", 0.0)
                print(
                    f"| {model_id} | {result['task']['name']} | "
                    f"{result['task']['main_score']} | {value} | {wall:.0f} |",
                    flush=True,
                )
            print(f"<!-- {model_id}: {time.perf_counter() - t0:.0f} s this call -->", flush=True)
    if not args.no_render:
        print(f"wrote {render(args.out, Path(args.out).parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
