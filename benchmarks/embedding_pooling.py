"""Frozen 5-class kNN of a backbone's [CLS] against other poolings of the same forward pass.

The leaderboard scores every backbone's ``embed`` ([CLS] after the final norm for the particle
transformers). This study asks what that choice costs: on the jetnet-5class task at a tier
(default ``standard``: 121k reference jets, 77k test jets of jetnet-bench-220k), the same
cosine kNN (k from the task, 30) is run on

- ``cls``: the [CLS] token, the leaderboard's embedding;
- ``mean``: the mean of the particle tokens over real particles (padding excluded);
- ``cls+mean``: both, each l2-normalised, concatenated (equal weight in the cosine).

Differences to ``cls`` come with a paired bootstrap spread over the test jets.

    python benchmarks/embedding_pooling.py [--models jbot-s jbot-b] [--tier standard]

Particle-transformer backbones only (``forward`` returns ``cls`` and ``tokens``). At the
standard tier jbot-s and jbot-b together took 4 min 15 s on 2 CPU cores beside a training run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from jetzoo import JetZoo
from jetzoo.leaderboard.embeddings import extract
from jetzoo.leaderboard.metrics import bootstrap
from jetzoo.leaderboard.probes import knn_probe
from jetzoo.leaderboard.task_data import load_task_data
from jetzoo.leaderboard.tasks import TaskSkipped, load_task

POOLINGS = ("cls", "mean", "cls+mean")
TASK_FILE = Path(__file__).resolve().parents[1] / "jetzoo/leaderboard/task_files/jetnet-5class.yaml"


def pooled(model: torch.nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """(B, 3d): [CLS], the masked mean of the particle tokens, and their normalised concatenation
    side by side (one forward pass for all three poolings)."""
    out = model(batch["x"], batch["mask"])
    n = batch["mask"].sum(dim=1, keepdim=True).clamp_min(1).to(out.tokens.dtype)
    mean = out.tokens.sum(dim=1) / n  # tokens are zero at padding
    return torch.cat([out.cls, mean], dim=-1)


def split_poolings(emb: Tensor) -> dict[str, Tensor]:
    """The three poolings of :func:`pooled`'s output."""
    cls, mean = emb.chunk(2, dim=-1)
    return {
        "cls": cls,
        "mean": mean,
        "cls+mean": torch.cat([F.normalize(cls, dim=-1), F.normalize(mean, dim=-1)], -1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["jbot-s", "jbot-b"])
    parser.add_argument("--tier", default="standard")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args(argv)
    task = load_task(TASK_FILE).for_tier(args.tier)
    try:
        data = load_task_data(task)
    except TaskSkipped as err:
        print(f"skipped: {err}")
        return 0
    k = int(task.settings["knn_k"])
    y_ref, y_test = data.train["label"], data.test["label"]
    print(
        f"jetnet-5class, {args.tier} tier: {len(y_ref)} reference jets, {len(y_test)} test "
        f"jets of {data.dataset_path}; cosine kNN, k = {k}"
    )
    print(
        "| model | "
        + " | ".join(POOLINGS)
        + " | "
        + " | ".join(f"{p} - cls (paired bootstrap)" for p in POOLINGS[1:])
        + " |"
    )
    print("|---" * (2 * len(POOLINGS)) + "|")
    for name in args.models:
        model = JetZoo.from_pretrained(name).eval()
        ref = split_poolings(extract(model, data.train, fn=pooled, progress=False)[0])
        test = split_poolings(extract(model, data.test, fn=pooled, progress=False)[0])
        correct = {
            p: (
                knn_probe(ref[p], y_ref, test[p], k=k, num_classes=len(data.classes)).pred == y_test
            ).double()
            for p in POOLINGS
        }
        accs = [f"{float(correct[p].mean()):.4f}" for p in POOLINGS]
        diffs = []
        for p in POOLINGS[1:]:
            d = bootstrap(
                lambda a, b: (a - b).mean(), correct[p], correct["cls"], n_resamples=args.bootstrap
            )
            diffs.append(f"{float((correct[p] - correct['cls']).mean()):+.4f} ± {d.spread:.4f}")
        print(f"| {name} | " + " | ".join(accs + diffs) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
