"""``make demo``: what the zoo is for. Load a shipped backbone (default ``jbot-b``), embed jets it
never saw (the embedded sample), print frozen 5-class kNN and linear-probe accuracy against a
random init of the same architecture, and write a 2-D projection of the embeddings coloured by
class (``runs/demo/projection.png``). About a minute on 2 CPU cores.

    python -m jetzoo.demo [--model jetclr] [--out runs/demo]
    python -m jetzoo.demo --pretrain [--minutes 5]    # pre-train a small jBOT-S first
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the functions that use it
    import torch

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "jbot-s.yaml"


def probe_scores(backbone, train_set, test_set) -> dict[str, float]:
    """5-class kNN (k=30) and linear-probe accuracy on frozen [CLS] embeddings."""
    from jetzoo.leaderboard.embeddings import extract_embeddings
    from jetzoo.leaderboard.metrics import accuracy
    from jetzoo.leaderboard.probes import knn_probe, linear_probe

    tr, ytr = extract_embeddings(
        backbone, train_set, batch_size=512, accelerator="cpu", progress=False
    )
    te, yte = extract_embeddings(
        backbone, test_set, batch_size=512, accelerator="cpu", progress=False
    )
    knn = knn_probe(tr, ytr, te, k=30, num_classes=5)
    lin = linear_probe(tr, ytr, te, num_classes=5)
    return {"knn": float(accuracy(knn.pred, yte)), "linear": float(accuracy(lin.pred, yte))}


def projection_plot(
    panels: list[tuple[str, "torch.Tensor"]], labels: "torch.Tensor", path: Path
) -> Path:
    """PCA of each embedding to 2-D, one panel per backbone, points coloured by class; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.decomposition import PCA

    from jetzoo.data.schema import JETNET_CLASSES
    from jetzoo.utils.io import atomic_path

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.8), squeeze=False)
    y = np.asarray(labels)
    for ax, (title, emb) in zip(axes[0], panels):
        e = np.asarray(emb, dtype=np.float64)
        e = e / np.linalg.norm(e, axis=1, keepdims=True).clip(1e-12)  # the kNN's cosine geometry
        pca = PCA(2, random_state=0).fit(e)
        xy = pca.transform(e)
        for c, name in enumerate(JETNET_CLASSES):
            sel = y == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, alpha=0.5, label=name)
        share = pca.explained_variance_ratio_.sum()
        ax.set_title(f"{title}\n(2 PCA components: {share:.0%} of the variance)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(markerscale=4, title="jet class")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jetzoo.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        default="jbot-b",
        help="a shipped backbone (jetzoo.list_models()), a folder or org/name",
    )
    parser.add_argument("--out", default="runs/demo", help="folder for the projection plot")
    parser.add_argument(
        "--pretrain",
        action="store_true",
        help="instead: pre-train a small jBOT-S on the sample first (CPU)",
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="--pretrain time budget")
    parser.add_argument("--epochs", type=int, default=40, help="--pretrain epoch cap")
    args = parser.parse_args(argv)

    import torch

    from jetzoo import JetZoo
    from jetzoo.data import JetDataModule, sample_path
    from jetzoo.leaderboard.embeddings import extract_embeddings
    from jetzoo.models.registry import random_init_like

    torch.manual_seed(0)
    sample = sample_path()
    t0 = time.perf_counter()
    if args.pretrain:
        model_ref: str = str(pretrain(args.minutes, args.epochs, Path(args.out) / "run"))
    else:
        model_ref = args.model
    trained = JetZoo.from_pretrained(model_ref)
    name = getattr(trained, "model_name", model_ref)
    random_init = random_init_like(trained).eval()  # same architecture + preprocessing
    print(
        f"[demo] {name}: {sum(p.numel() for p in trained.parameters()) / 1e3:.0f}k "
        f"parameters, loaded from {trained.pretrained_cfg.get('source')}"
    )
    seen = trained.pretrained_cfg.get("dataset") or {}  # the model's own record
    print(
        f"[demo] held-out jets: the embedded sample {sample} (Pythia 8 + FastJet, seed 1); "
        f"{name} was pre-trained on {seen.get('path', 'other jets')}"
        + (f" (sha256 {seen['sha256'][:16]})" if seen.get("sha256") else "")
    )
    dm = JetDataModule(sample, batch_size=512, seed=0)
    dm.setup()
    train_set, test_set = dm.dataset("train"), dm.dataset("test")
    rows = [
        (f"{name}, random init", probe_scores(random_init, train_set, test_set)),
        (f"{name}, pre-trained", probe_scores(trained, train_set, test_set)),
    ]
    print(
        f"\n5-class accuracy on frozen [CLS] embeddings ({len(train_set)} reference jets, "
        f"{len(test_set)} test jets, chance 0.20)"
    )
    print(f"{'backbone':<32} {'kNN (k=30)':>10} {'linear':>8}")
    for label, s in rows:
        print(f"{label:<32} {s['knn']:>10.3f} {s['linear']:>8.3f}")
    panels = []
    for label, model in ((rows[0][0], random_init), (rows[1][0], trained)):
        emb, y = extract_embeddings(
            model, test_set, batch_size=512, accelerator="cpu", progress=False
        )
        panels.append((label, emb))
    png = projection_plot(panels, y, Path(args.out) / "projection.png")
    print(f"\n[demo] 2-D projection of the test jets' embeddings, coloured by class: {png}")
    print(
        f"[demo] done in {time.perf_counter() - t0:.0f} s. Next: `jetzoo leaderboard submit "
        f"{model_ref} --tier quick` scores it on the embedded sample (a few minutes); the "
        "standard tier needs its pinned set first: `jetzoo data make jetnet-bench-220k`"
    )
    return 0


def pretrain(minutes: float, epochs: int, out: Path) -> Path:
    """Pre-train a small jBOT-S on the embedded sample; returns its backbone folder."""
    from jetzoo.recipes.runner import run_recipe

    minutes = max(minutes, 0.5)
    h, m = divmod(int(minutes * 60), 3600)
    overrides = [
        "data.path=sample",
        "data.batch_size=128",
        "data.num_workers=0",
        "optimizer.lr=5e-4",
        "optimizer.scale_lr_by_batch=false",
        "optimizer.warmup_epochs=1",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=10",
        f"trainer.max_epochs={epochs}",
        f"trainer.max_time=00:{h:02d}:{m // 60:02d}:{m % 60:02d}",
        f"output.dir={out}",
    ]
    print(f"[demo] jetzoo run {RECIPE.relative_to(RECIPE.parents[1])} {' '.join(overrides)}")
    t0 = time.perf_counter()
    folder = run_recipe(RECIPE, overrides, overwrite=True)
    print(f"[demo] pre-training took {time.perf_counter() - t0:.0f} s")
    return folder / "backbone"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
