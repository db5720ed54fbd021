"""Frozen 5-class kNN of the shipped backbones against their random init, on held-out release jets.

The leaderboard scores the 5-class task on the embedded sample (1000 test jets, bootstrap spread
about 0.015). This check uses the release set instead, on jets no backbone was pre-trained on:
kNN references from its ``val`` split, queries from its ``test`` split (10,000 each by default),
k = 30 cosine kNN as in the leaderboard. The random-init backbone has the shipped model's
architecture and preprocessing, seed 0. The difference is given with a paired bootstrap spread
(the same query jets for both).

    python benchmarks/knn_heldout.py [--data data/jetnet-50k] [--n 10000] [--models jbot-b ae]
        [--confusion] [--seen data/jetnet-700k]

``--confusion`` adds each model's confusion matrix (true class against kNN vote) and per-class
accuracy: where the 5-class errors are.

``--seen DATA`` asks whether a backbone knows its pre-training jets better than new ones: the same
references, queried with as many jets from the ``train`` split of DATA (the set it was pre-trained
on, made by the same generator) as with held-out jets. A memorising backbone scores its training
jets higher than the random init does; one limited by capacity or objective scores both alike,
and more pre-training jets would not help it.

Without the release set (see DATASETS.md for its command) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from jetzoo import JetZoo
from jetzoo.data.datamodule import JetDataModule
from jetzoo.leaderboard.embeddings import extract
from jetzoo.leaderboard.probes import knn_probe
from jetzoo.models.registry import random_init_like

RELEASE = ["jetclr", "jbot-s", "jbot-b", "jbot-s-qcd", "ae"]


def take(dm: JetDataModule, split: str, n: int, seed: int) -> dict[str, torch.Tensor]:
    """``n`` jets drawn without replacement from one split (all of it when smaller)."""
    ds = dm.dataset(split)
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(len(ds), min(n, len(ds)), replace=False))
    batch = ds.get_batch(pos)
    return {
        k: torch.as_tensor(np.asarray(batch[k]))
        for k in ("x", "mask", "label", "jet")
        if k in batch
    }


def knn_predict(model: torch.nn.Module, ref: dict, query: dict, k: int) -> torch.Tensor:
    """The class each query jet's k nearest references (cosine, frozen embedding) vote for."""
    e_ref = extract(model.eval(), ref, progress=False)[0]
    e_query = extract(model.eval(), query, progress=False)[0]
    return torch.as_tensor(knn_probe(e_ref, ref["label"], e_query, k=k, num_classes=5).pred)


def knn_correct(model: torch.nn.Module, ref: dict, query: dict, k: int) -> torch.Tensor:
    """1 where the kNN vote of a query jet is its class, else 0."""
    return (knn_predict(model, ref, query, k) == query["label"]).float()


def confusion_table(name: str, pred: torch.Tensor, label: torch.Tensor, classes: list[str]) -> str:
    """Markdown confusion matrix (rows: true class, columns: kNN vote) with per-class accuracy."""
    n = len(classes)
    counts = torch.bincount(label * n + pred, minlength=n * n).reshape(n, n)
    lines = [
        f"{name}: true class (rows) against kNN vote (columns)",
        "| true | " + " | ".join(classes) + " | accuracy |",
        "|---" * (n + 2) + "|",
    ]
    for i, c in enumerate(classes):
        row = counts[i]
        lines.append(
            f"| {c} | "
            + " | ".join(str(int(v)) for v in row)
            + f" | {float(row[i]) / max(int(row.sum()), 1):.3f} |"
        )
    return "\n".join(lines)


def mass_line(query: dict, classes: list[str]) -> str:
    """W-vs-Z AUC of the query jets' mass in GeV and of mass / pT (jet features: pt, eta, mass,
    n): the backbones see pT relative to the jet, so the second bounds what mass tells them."""
    from jetzoo.leaderboard.metrics import binary_auc

    jet, label = query["jet"].double(), query["label"]
    w, z = classes.index("w"), classes.index("z")
    keep = (label == w) | (label == z)
    is_z = (label[keep] == z).long()
    mass, pt = jet[keep, 2], jet[keep, 0]
    return (
        f"W vs Z AUC of the jet mass: {binary_auc(mass, is_z):.3f} in GeV, "
        f"{binary_auc(mass / pt, is_z):.3f} as mass / pT ({int(keep.sum())} query jets)"
    )


def seen_table(
    models: list[str],
    ref: dict,
    query: dict,
    seen_dm: JetDataModule,
    classes: list[str],
    k: int,
    resample: torch.Tensor,
    seen_name: str,
) -> str:
    """kNN accuracy of each model and its random init for held-out queries and for as many
    queries from the pre-training set's ``train`` split; the last column is the trained model's
    gain on training jets beyond the random init's (0 for no memorisation)."""
    if seen_dm.class_names != classes:
        raise SystemExit(
            f"--seen {seen_name}: classes {seen_dm.class_names}, the release set's are {classes}"
        )
    seen = take(seen_dm, "train", len(query["label"]), 3)
    lines = [
        f"Training jets against held-out jets as queries ({len(seen['label'])} jets of the "
        f"train split of {seen_name}; the same references):",
        "| model | held-out | training jets | random init: held-out | random init: training "
        "jets | (training - held-out) - random init's |",
        "|---|---|---|---|---|---|",
    ]
    idx = torch.randint(
        0,
        len(seen["label"]),
        (len(resample), len(seen["label"])),
        generator=torch.Generator().manual_seed(1),
    )  # the two query sets are unpaired
    for name in models:
        trained = JetZoo.from_pretrained(name)
        rows = [
            knn_correct(m, ref, q, k)
            for m in (trained, random_init_like(trained))
            for q in (query, seen)
        ]
        gain = (rows[1][idx].mean(1) - rows[0][resample].mean(1)) - (
            rows[3][idx].mean(1) - rows[2][resample].mean(1)
        )
        point = (rows[1].mean() - rows[0].mean()) - (rows[3].mean() - rows[2].mean())
        lines.append(
            f"| {name} | "
            + " | ".join(f"{r.mean():.3f}" for r in rows)
            + f" | {point:+.3f} ± {gain.std():.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/jetnet-50k", help="the JetNet-like release set")
    parser.add_argument("--n", type=int, default=10000, help="references and queries each")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--models", nargs="+", default=RELEASE)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument(
        "--against",
        default=None,
        help="compare every model with this one (name or folder) instead of "
        "with its random init, e.g. to rank recipe options at equal compute",
    )
    parser.add_argument(
        "--confusion",
        action="store_true",
        help="also print each model's confusion matrix and per-class accuracy",
    )
    parser.add_argument(
        "--seen",
        default=None,
        metavar="DATA",
        help="the pre-training set: also query with jets of its train split "
        "(does the backbone know the jets it was trained on better?)",
    )
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"skipped: no release set at {args.data} (its command is in DATASETS.md)")
        return 0
    torch.manual_seed(0)
    dm = JetDataModule(args.data)
    ref, query = take(dm, "val", args.n, 1), take(dm, "test", args.n, 2)
    g = torch.Generator().manual_seed(0)
    resample = torch.randint(
        0, len(query["label"]), (args.bootstrap, len(query["label"])), generator=g
    )
    print(
        f"{len(ref['label'])} reference jets (val), {len(query['label'])} query jets (test) "
        f"of {args.data}; k = {args.k}"
    )
    other = f"{args.against}" if args.against else "random init (seed 0)"
    print(f"| model | kNN accuracy | {other} | difference (paired bootstrap) |")
    print("|---|---|---|---|")
    b_against = (
        knn_correct(JetZoo.from_pretrained(args.against), ref, query, args.k)
        if args.against
        else None
    )
    tables: list[str] = []
    for name in args.models:
        trained = JetZoo.from_pretrained(name)
        pred = knn_predict(trained, ref, query, args.k)
        a = (pred == query["label"]).float()
        if args.confusion:
            tables.append(confusion_table(name, pred, query["label"], dm.class_names))
        if b_against is not None:
            b = b_against
        else:
            b = knn_correct(random_init_like(trained), ref, query, args.k)
        diff = (a[resample] - b[resample]).mean(1)
        print(
            f"| {name} | {a.mean():.3f} | {b.mean():.3f} | "
            f"{(a.mean() - b.mean()):+.3f} ± {diff.std():.3f} |",
            flush=True,
        )
    for table in tables:
        print("\n" + table)
    if args.seen:
        print(
            "\n"
            + seen_table(
                args.models,
                ref,
                query,
                JetDataModule(args.seen),
                dm.class_names,
                args.k,
                resample,
                args.seen,
            )
        )
    if args.confusion and {"w", "z"} <= set(dm.class_names) and "jet" in query:
        print("\n" + mass_line(query, dm.class_names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
