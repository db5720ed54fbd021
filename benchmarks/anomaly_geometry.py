"""Why a background-only run's kNN anomaly AUC moves: per epoch checkpoint, how far the
background and the signal query jets lie from the background references, and how well the
embedding separates the background classes from each other.

The anomaly score of ``learning_curve.py --task anomaly`` is the mean distance of a query jet
to its k nearest q+g references (``val`` split of the held-out set, unit-normalised
embeddings). For each chosen epoch this prints that AUC (t+W+Z against q+g query jets, same
jets, so it equals the learning curve's), the mean score of the background and of the signal
query jets, their gap and ratio, the mean score per class, and the q-vs-g AUC of the score
``d(q references) - d(g references)`` on the background query jets. An AUC that falls while
the gap stays and the background distance grows says the references spread out (the
background gets sparser) rather than the signal moving in.

    python benchmarks/anomaly_geometry.py zoo-runs/jbot-s-qcd-64 --epochs 1 8 16 32 64
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from knn_heldout import take  # noqa: E402
from learning_curve import BACKGROUND  # noqa: E402  the anomaly task's reference classes

from jetzoo.data.datamodule import JetDataModule  # noqa: E402
from jetzoo.leaderboard.anomaly import knn_distance  # noqa: E402
from jetzoo.leaderboard.embeddings import extract  # noqa: E402
from jetzoo.leaderboard.metrics import binary_auc  # noqa: E402
from jetzoo.recipes.checkpoints import checkpoint_backbone, epoch_checkpoints


def geometry(
    net: torch.nn.Module, ref: dict, query: dict, names: list[str], k: int
) -> dict[str, float]:
    """Anomaly AUC, mean kNN distances (background, signal, per class) and the q-vs-g AUC."""
    e_ref = extract(net.eval(), ref, progress=False)[0]
    e_query = extract(net.eval(), query, progress=False)[0]
    label = query["label"]
    bg = torch.isin(label, torch.tensor([names.index(c) for c in BACKGROUND]))
    dist = knn_distance(e_ref, e_query, k=k)
    out = {
        "auc": binary_auc(dist, (~bg).long()),
        "d_bg": float(dist[bg].mean()),
        "d_sig": float(dist[~bg].mean()),
    }
    for i, name in enumerate(names):
        out[f"d_{name}"] = float(dist[label == i].mean()) if (label == i).any() else float("nan")
    first, second = (names.index(c) for c in BACKGROUND)
    d_first = knn_distance(e_ref[ref["label"] == first], e_query[bg], k=k)
    d_second = knn_distance(e_ref[ref["label"] == second], e_query[bg], k=k)
    out["qg_auc"] = binary_auc(d_first - d_second, (label[bg] == second).long())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a jetzoo run folder with epoch checkpoints")
    parser.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        required=True,
        help="epochs to score (1-based, as in learning_curve.py)",
    )
    parser.add_argument("--data", default="data/jetnet-bench-220k")
    parser.add_argument("--n", type=int, default=10000, help="references and queries each")
    parser.add_argument("--k", type=int, default=30)
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"skipped: no held-out set at {args.data} (its command is in DATASETS.md)")
        return 0
    ckpts = epoch_checkpoints(args.run, args.epochs)
    dm = JetDataModule(args.data)
    names = list(dm.class_names)
    query = take(dm, "test", args.n, 2)  # the same jets as learning_curve.py
    ref = take(JetDataModule(args.data, classes=list(BACKGROUND)), "val", args.n, 1)
    print(
        f"{args.run}: {len(ref['label'])} reference jets (val, {'+'.join(BACKGROUND)} only), "
        f"{len(query['label'])} query jets (test) of {args.data}; k = {args.k}; "
        f"d = mean distance to the k nearest references on the unit sphere"
    )
    print(
        f"| epoch | anomaly AUC | d background | d signal | gap | ratio | "
        f"{' | '.join(f'd {c}' for c in names)} | q-vs-g AUC |"
    )
    print("|---" * (7 + len(names)) + "|")
    for epoch in sorted(ckpts):
        net, _ = checkpoint_backbone(args.run, ckpts[epoch])
        g = geometry(net, ref, query, names, args.k)
        per_class = " | ".join(f"{g[f'd_{c}']:.3f}" for c in names)
        print(
            f"| {epoch} | {g['auc']:.3f} | {g['d_bg']:.3f} | {g['d_sig']:.3f} | "
            f"{g['d_sig'] - g['d_bg']:+.3f} | {g['d_sig'] / g['d_bg']:.3f} | {per_class} | "
            f"{g['qg_auc']:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
