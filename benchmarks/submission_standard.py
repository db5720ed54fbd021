"""Wall time of one standard-tier submission (the harness's cost), per task and
evaluation, with the embedding throughput.

    python benchmarks/submission_standard.py                       # jbot-s, every evaluation
    python benchmarks/submission_standard.py --evaluations knn linear anomaly-knn ...
    python benchmarks/submission_standard.py --devices 2    # training jobs in 2 processes

Scores into a temporary store with no embedding cache, so every jet is embedded; needs the
pinned set ``jetnet-bench-220k`` (``jetzoo/data/catalog.py`` has its command). Prints a table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from jetzoo.data import catalog
from jetzoo.leaderboard.cache import EmbeddingCache
from jetzoo.leaderboard.schema import load_result
from jetzoo.leaderboard.submission import submit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="jbot-s")
    parser.add_argument("--tier", default="standard")
    parser.add_argument("--evaluations", nargs="+", default=None)
    parser.add_argument("--devices", type=int, default=1, help="processes for training jobs")
    parser.add_argument(
        "--tasks", nargs="+", default=["jetnet-5class", "top-tagging", "anomaly-qcd"]
    )
    args = parser.parse_args(argv)
    try:
        catalog.locate("jetnet-bench-220k", verify=False)
    except catalog.DatasetMissing as err:
        print(f"skipped: {err}")
        return 0
    embedded = []
    real_get = EmbeddingCache.get

    def counting(self, key, rows, compute):  # count the jets each request embeds
        before = self.computed
        out = real_get(self, key, rows, compute)
        embedded.append(self.computed - before)
        return out

    EmbeddingCache.get = counting  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = submit(
            args.model,
            args.tasks,
            tier=args.tier,
            out=tmp,
            cache_dir=Path(tmp) / "cache",
            evaluations=args.evaluations,
            devices=args.devices,
            progress=False,
        )
        total = time.perf_counter() - t0
        print(
            f"{args.model}, tier {args.tier}, evaluations "
            f"{' '.join(args.evaluations or ['all'])}; torch threads "
            f"{torch.get_num_threads()}"
        )
        print("| task | test jets | evaluations | wall s |\n|---|---|---|---|")
        for path in paths:
            result, _ = load_result(path, load_roc=False)
            run = result["runs"][args.tier]
            evs = sorted({r["evaluation"] for r in run["results"]})
            print(
                f"| {result['task']['name']} | {run['dataset']['n_test']} | {len(evs)} | "
                f"{run['wall_seconds']:.0f} |"
            )
    print(f"| total | | | {total:.0f} |")
    print(f"jets embedded: {sum(embedded)} (each once: the cache serves the other tasks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
