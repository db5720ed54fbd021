"""Frozen kNN score of every epoch checkpoint of a run, against jet-passes: is training longer
still paying?

For each ``<run>/checkpoints/epochNNN.ckpt`` the student backbone (the one ``jetzoo run``
exports) is rebuilt from the run's ``config.yaml`` and scored by the k = 30 cosine kNN of
``knn_heldout.py`` on held-out jets (references from the ``val`` split, queries from the
``test`` split of a set the run never saw; default the pinned ``jetnet-bench-220k``), with a
paired bootstrap spread against the random init of the same architecture (seed 0).
``--task anomaly`` scores a background-only run (e.g. ``jbot-s-qcd``) as the leaderboard's
anomaly task does instead: references are the ``val`` split's q and g jets only, every query jet
gets its mean distance to the k nearest of them, and the score is the AUC of t, W and Z (signal)
against q and g (background) query jets; the paired bootstrap resamples the query jets. Optional
``--reference NAME_OR_FOLDER`` backbones (e.g. an imported published jBOT) are scored on the same
jets and drawn as horizontal lines. Prints a table and writes a PNG (kNN vs jet-passes, log x).

A run that spans sittings on different machines keeps only the checkpoints of this machine's
sittings: ``--earlier <run>/learning_curve.md`` carries over the rows of the epochs scored before
(same held-out set, n and k, checked against the file's header) and draws them in the same curve.
``--epochs 6 7 8`` scores only those epochs (1-based, as in the table); with ``--earlier`` the
file's other rows are kept, so a curve scored ``--every 4`` can be filled in where it turns
(the table and the plot are in epoch order). ``--against OTHER_RUN`` also scores the other run's
checkpoints of the epochs scored here and prints a second table, this run minus that one with a
paired bootstrap spread (same query jets): an equal-compute comparison of two recipe settings when
both runs share the schedules (same ``max_epochs``, warm-up, batch).

    python benchmarks/learning_curve.py runs/jbot-s-700k [--data data/jetnet-bench-220k]
        [--n 10000] [--reference /tmp/jbotref/jbot-s-published] [--png curve.png]
        [--earlier runs/jbot-s-700k/learning_curve.md] [--epochs 6 7 8] [--against runs/other]
    python benchmarks/learning_curve.py runs/jbot-s-qcd-700k --task anomaly
        [--earlier runs/jbot-s-qcd-700k/learning_curve_anomaly.md]
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from knn_heldout import knn_correct, take  # noqa: E402

from jetzoo import JetZoo  # noqa: E402
from jetzoo.data.datamodule import JetDataModule  # noqa: E402
from jetzoo.leaderboard.anomaly import knn_distance  # noqa: E402
from jetzoo.leaderboard.embeddings import extract  # noqa: E402
from jetzoo.leaderboard.metrics import binary_auc  # noqa: E402
from jetzoo.models.registry import build_from_config, random_init_like  # noqa: E402
from jetzoo.recipes.checkpoints import checkpoint_backbone, epoch_checkpoints

_HEADER = re.compile(
    r"^\S+: (\d+) reference jets \(val(?:, ([\w+]+) only)?\), (\d+) query jets "
    r"\(test\) of (.+); k = (\d+); (?:(anomaly) AUC \(\S+ vs \S+\); )?"
    r"random init ([\d.]+)$"
)
BACKGROUND = ("q", "g")  # the anomaly task's reference classes (the leaderboard's anomaly-qcd)
# A scorer maps a backbone to its score on the held-out jets and to that score on each
# bootstrap resample of the query jets.
Scorer = Callable[[torch.nn.Module], tuple[float, torch.Tensor]]
_ROW = re.compile(r"^\| (\d+) \| ([\d,]+) \| ([\d.]+) \| ([+-][\d.]+) ± ([\d.]+) \|$")


def read_earlier(
    path: Path, data: str, n_ref: int, n_query: int, k: int, task: str = "knn"
) -> tuple[float, dict[int, tuple[int, float, float, str]]]:
    """An earlier ``learning_curve.md``: its random-init accuracy and its rows,
    ``{epoch: (jet-passes, accuracy, spread, line)}``.

    Raises ``ValueError`` naming the file when it has no header or rows, or when its header's
    held-out set, jet counts, k or task differ from this scoring's (the numbers would not
    compare)."""
    lines = path.read_text().splitlines()
    header = next((m for m in map(_HEADER.match, lines) if m), None)
    if header is None:
        raise ValueError(f"{path}: no learning-curve header line ('<run>: N reference jets ...')")
    got = (int(header[1]), int(header[3]), header[4], int(header[5]), header[6] or "knn")
    if got != (n_ref, n_query, data, k, task):
        raise ValueError(
            f"{path}: scored {got[0]} references / {got[1]} queries of {got[2]} "
            f"with k = {got[3]} (task {got[4]}); this scoring uses {n_ref} / "
            f"{n_query} of {data}, k = {k} (task {task})"
        )
    rows = {
        int(m[1]): (int(m[2].replace(",", "")), float(m[3]), float(m[5]), m[0])
        for m in map(_ROW.match, lines)
        if m
    }
    if not rows:
        raise ValueError(f"{path}: no epoch rows ('| epoch | jet-passes | ... |')")
    return float(header[7]), rows


def default_standardisation_like(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``random_init_like(net)`` with the registry's default input standardisation instead of
    ``net``'s: the random init of the learning curves written before 2026-12-05, when a backbone
    rebuilt from a checkpoint reported its build-time numbers in its config."""
    torch.manual_seed(seed)
    return build_from_config({k: v for k, v in net.config.items() if k != "preprocessing"})


def knn_accuracy_scorer(ref: dict, query: dict, k: int, resample: torch.Tensor) -> Scorer:
    """5-class kNN accuracy of the query jets (references: every class)."""

    def score(net: torch.nn.Module) -> tuple[float, torch.Tensor]:
        correct = knn_correct(net, ref, query, k)
        return float(correct.mean()), correct[resample].mean(1)

    return score


def anomaly_auc_scorer(
    ref: dict, query: dict, k: int, resample: torch.Tensor, background: list[int]
) -> Scorer:
    """AUC of the kNN distance (k nearest background references) of signal vs background
    query jets; ``ref`` holds background jets only, ``background`` their label indices."""
    signal = (~torch.isin(query["label"], torch.tensor(background))).long()

    def score(net: torch.nn.Module) -> tuple[float, torch.Tensor]:
        e_ref = extract(net.eval(), ref, progress=False)[0]
        e_query = extract(net.eval(), query, progress=False)[0]
        dist = knn_distance(e_ref, e_query, k=k)
        boot = torch.tensor([binary_auc(dist[r], signal[r]) for r in resample])
        return binary_auc(dist, signal), boot

    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a jetzoo run folder")
    parser.add_argument("--data", default="data/jetnet-bench-220k")
    parser.add_argument("--n", type=int, default=10000, help="references and queries each")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument(
        "--task",
        choices=("knn", "anomaly"),
        default="knn",
        help="knn: 5-class kNN accuracy; anomaly: kNN-distance AUC of t+W+Z "
        "against q+g references (runs pre-trained on q and g only)",
    )
    parser.add_argument(
        "--every", type=int, default=1, help="score every N-th epoch (and the last)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=None,
        help="score only these epochs (1-based; overrides --every)",
    )
    parser.add_argument(
        "--reference",
        nargs="*",
        default=[],
        help="backbones (names or folders) scored on the same jets",
    )
    parser.add_argument(
        "--weights",
        choices=("student", "teacher"),
        default="student",
        help="score the student backbone or the EMA teacher's (momentum recipes)",
    )
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument(
        "--png", type=Path, default=None, help="plot file (default <run>/learning_curve.png)"
    )
    parser.add_argument(
        "--earlier",
        type=Path,
        default=None,
        help="an earlier learning_curve.md of this run: its rows for epochs "
        "not scored here are carried over",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another run: its checkpoints of the same epochs are scored too, "
        "and this run minus that one is printed with a paired spread",
    )
    args = parser.parse_args(argv)
    found = epoch_checkpoints(args.run)
    if not found:
        print(f"{args.run}: no epoch checkpoints")
        return 1
    if args.epochs is not None:
        chosen = epoch_checkpoints(args.run, args.epochs)
    else:
        last = max(found)
        chosen = {e: c for e, c in found.items() if e % args.every == 0 or e == last}
    other = None if args.against is None else epoch_checkpoints(args.against, list(chosen))
    if not Path(args.data).exists():
        print(f"skipped: no held-out set at {args.data} (its command is in DATASETS.md)")
        return 0
    dm = JetDataModule(args.data)
    query = take(dm, "test", args.n, 2)
    g = torch.Generator().manual_seed(0)
    resample = torch.randint(
        0, len(query["label"]), (args.bootstrap, len(query["label"])), generator=g
    )
    if args.task == "anomaly":
        ref = take(JetDataModule(args.data, classes=list(BACKGROUND)), "val", args.n, 1)
        names = dm.class_names
        score = anomaly_auc_scorer(
            ref, query, args.k, resample, [names.index(c) for c in BACKGROUND]
        )
        refs_are, task, column = (
            f"val, {'+'.join(BACKGROUND)} only",
            "anomaly AUC "
            f"({'+'.join(c for c in names if c not in BACKGROUND)} vs "
            f"{'+'.join(BACKGROUND)}); ",
            "kNN anomaly AUC",
        )
    else:
        ref = take(dm, "val", args.n, 1)
        score = knn_accuracy_scorer(ref, query, args.k, resample)
        refs_are, task, column = "val", "", "kNN accuracy"
    # the jets actually drawn: a split (or its q and g jets) may hold fewer than --n
    earlier_rand, earlier = (
        (None, {})
        if args.earlier is None
        else read_earlier(
            args.earlier, args.data, len(ref["label"]), len(query["label"]), args.k, args.task
        )
    )
    first, _ = checkpoint_backbone(args.run, next(iter(chosen.values())))
    rand, rand_boot = score(random_init_like(first))
    print(
        f"{args.run}: {len(ref['label'])} reference jets ({refs_are}), {len(query['label'])} "
        f"query jets (test) of {args.data}; k = {args.k}; {task}random init {rand:.3f}"
    )
    rebased = False  # earlier rows re-based on this random init (files before the config fix)
    if earlier_rand is not None and f"{earlier_rand:.3f}" != f"{rand:.3f}":
        legacy = score(default_standardisation_like(first))[0]
        if f"{earlier_rand:.3f}" != f"{legacy:.3f}":
            raise ValueError(
                f"{args.earlier}: its random init scored {earlier_rand:.3f}, here "
                f"{rand:.3f}: not the same jets or architecture"
            )
        rebased = True
    refs = []
    for name in args.reference:
        value = score(JetZoo.from_pretrained(name))[0]
        refs.append((Path(name).name, value))
        print(f"reference {name}: {value:.3f}")
    print(f"| epoch | jet-passes | {column} | vs random init (paired bootstrap) |")
    print("|---|---|---|---|")
    # earlier rows (earlier sittings, or epochs not asked for now) keep their place in epoch order
    table = {e: row[:3] for e, row in earlier.items() if e not in chosen}
    boots: dict[int, torch.Tensor] = {}  # bootstrap scores of the epochs scored here
    for epoch in sorted(set(table) | set(chosen)):
        if epoch in table:
            jets, value, spread = table[epoch]
            print(
                f"| {epoch} | {jets:,} | {value:.3f} | {value - rand:+.3f} ± {spread:.3f} |"
                if rebased
                else earlier[epoch][3],
                flush=True,
            )
            continue
        net, jets = checkpoint_backbone(args.run, chosen[epoch], args.weights)
        value, boot = score(net)
        boots[epoch] = boot
        diff = boot - rand_boot
        table[epoch] = (jets, value, float(diff.std()))
        print(
            f"| {epoch} | {jets:,} | {value:.3f} | {value - rand:+.3f} ± {diff.std():.3f} |",
            flush=True,
        )
    if rebased:
        print(
            f"\nRows of epochs {', '.join(str(e) for e in sorted(table) if e not in boots)} "
            f"are carried over from {args.earlier}, whose random init ({earlier_rand:.3f}) had "
            "the registry's default input standardisation (files before 2026-12-05): re-based "
            f"on {rand:.3f} here, with the spreads scored there."
        )
    if other is not None:
        print(f"\n{args.run.name} against {args.against} at the same epochs (same jets):")
        print(f"| epoch | {args.against.name} | difference (paired bootstrap) |")
        print("|---|---|---|")
        for epoch, boot in boots.items():
            value = table[epoch][1]
            o_value, o_boot = score(
                checkpoint_backbone(args.against, other[epoch], args.weights)[0]
            )
            print(
                f"| {epoch} | {o_value:.3f} | {value - o_value:+.3f} ± "
                f"{(boot - o_boot).std():.3f} |",
                flush=True,
            )
    rows = [table[e] for e in sorted(table)]
    default_png = "learning_curve.png" if args.task == "knn" else "learning_curve_anomaly.png"
    _plot(
        args.png or args.run / default_png,
        args.run.name,
        rows,
        rand,
        refs,
        "frozen 5-class kNN accuracy (k=30)"
        if args.task == "knn"
        else f"kNN anomaly AUC (k={args.k}, {'+'.join(BACKGROUND)} references)",
    )
    return 0


def _plot(
    path: Path,
    title: str,
    rows: list[tuple[int, float, float]],
    rand: float,
    refs: list[tuple[str, float]],
    ylabel: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jetzoo.utils.io import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(6, 4))
    x = [max(r[0], 1) for r in rows]
    ax.errorbar(x, [r[1] for r in rows], yerr=[r[2] for r in rows], marker="o", label=title)
    ax.axhline(rand, color="grey", ls=":", label=f"random init {rand:.3f}")
    for (name, acc), ls in zip(refs, ["--", "-.", (0, (5, 1))]):
        ax.axhline(acc, color="k", ls=ls, label=f"{name} {acc:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("jet-passes in pre-training")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
