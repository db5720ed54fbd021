"""``make demo``: pre-train a small jBOT-S on the embedded sample (CPU, a few minutes) and print
frozen-embedding probe scores against a randomly initialised backbone of the same architecture.

    python -m jetzoo.demo [--minutes 5] [--out runs/demo-jbot-s]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "jbot-s.yaml"


def probe_scores(backbone, train_set, test_set) -> dict[str, float]:
    """5-class kNN (k=30) and linear-probe accuracy on frozen [CLS] embeddings."""
    from jetzoo.leaderboard.embeddings import extract_embeddings
    from jetzoo.leaderboard.metrics import accuracy
    from jetzoo.leaderboard.probes import knn_probe, linear_probe

    tr, ytr = extract_embeddings(backbone, train_set, batch_size=512, accelerator="cpu",
                                 progress=False)
    te, yte = extract_embeddings(backbone, test_set, batch_size=512, accelerator="cpu",
                                 progress=False)
    knn = knn_probe(tr, ytr, te, k=30, num_classes=5)
    lin = linear_probe(tr, ytr, te, num_classes=5)
    return {"knn": float(accuracy(knn.pred, yte)), "linear": float(accuracy(lin.pred, yte))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jetzoo.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="pre-training time budget")
    parser.add_argument("--epochs", type=int, default=40, help="epoch cap within the budget")
    parser.add_argument("--out", default="runs/demo-jbot-s", help="run folder")
    args = parser.parse_args(argv)

    import torch

    from jetzoo import JetZoo, create_backbone
    from jetzoo.data import JetDataModule, sample_path
    from jetzoo.recipes.runner import run_recipe

    torch.manual_seed(0)
    sample = sample_path()
    print(f"[demo] embedded sample: {sample} (q, g, t, W, Z; 2000 jets each, Pythia 8 + FastJet)")
    minutes = max(args.minutes, 0.5)
    h, m = divmod(int(minutes * 60), 3600)
    overrides = [
        "data.path=sample", "data.batch_size=128", "data.num_workers=0",
        "optimizer.lr=5e-4", "optimizer.scale_lr_by_batch=false", "optimizer.warmup_epochs=1", "trainer.accelerator=cpu", "trainer.log_every_n_steps=10",
        f"trainer.max_epochs={args.epochs}", f"trainer.max_time=00:{h:02d}:{m // 60:02d}:{m % 60:02d}",
        f"output.dir={args.out}",
    ]
    print(f"[demo] jetzoo run {RECIPE.relative_to(RECIPE.parents[1])} {' '.join(overrides)}")
    t0 = time.perf_counter()
    folder = run_recipe(RECIPE, overrides, overwrite=True)
    print(f"[demo] pre-training took {time.perf_counter() - t0:.0f} s; backbone saved in "
          f"{folder / 'backbone'}")

    dm = JetDataModule(sample, batch_size=512, seed=0)
    dm.setup()
    train_set, test_set = dm.dataset("train"), dm.dataset("test")
    trained = JetZoo.from_pretrained(str(folder / "backbone"))
    random_init = create_backbone("jbot-s", preprocessing=dm.preprocessing.to_dict()).eval()
    rows = [("jBOT-S, random init", probe_scores(random_init, train_set, test_set)),
            ("jBOT-S, pre-trained (demo)", probe_scores(trained, train_set, test_set))]
    print(f"\n5-class accuracy on frozen [CLS] embeddings ({len(test_set)} test jets, chance 0.20)")
    print(f"{'backbone':<28} {'kNN (k=30)':>10} {'linear':>8}")
    for name, s in rows:
        print(f"{name:<28} {s['knn']:>10.3f} {s['linear']:>8.3f}")
    print("\nNext: jetzoo leaderboard submit", folder / "backbone")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
