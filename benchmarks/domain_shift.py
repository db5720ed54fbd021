"""Where does a JetNet-trained classifier lose accuracy on jetzoo's default jets?

A first study measured a classifier trained on real JetNet at 0.76 on JetNet and 0.60 on our jets.
jetzoo's default generator differs from JetNet's recipe in two ways (DATASETS.md): the parton
pT window (pTHat > 1 TeV, no upper edge, against JetNet's 1 TeV +- 0.5%) and the underlying
event (MPI off against on). This benchmark trains one supervised jBOT-S from scratch on jets of
``jetzoo generate jetnet --preset jetnet`` and scores it on test jets of four sets that switch
the two differences on one at a time:

    jetnet      --preset jetnet                 (pT window + UE: JetNet's recipe; in-domain)
    ptwindow    --pthat-min 995 --pthat-max 1005 (window only, no UE)
    mpi         --set 'PartonLevel:MPI = on'    (UE only, no window)
    default     jetzoo's default                (neither: the benchmark sets' recipe)

The drop from ``jetnet`` to ``ptwindow`` is the UE's share, to ``mpi`` the window's share, and to
``default`` the whole shift (the accuracy of the same network on each set's own test split, when
trained there, is not needed for the split: one classifier, four test sets). Commands that make
the sets are printed when one is missing.

    python benchmarks/domain_shift.py [--root data/shift] [--epochs 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

SETS = {
    "jetnet": "--preset jetnet --seed 301",
    "ptwindow": "--pthat-min 995 --pthat-max 1005 --seed 302",
    "mpi": "--set 'PartonLevel:MPI = on' --seed 303",
    "default": "--seed 304",
}


def command(name: str, root: Path, jets_per_class: int) -> str:
    """The generator command of one set."""
    return (
        f"jetzoo generate jetnet --classes q,g,t,w,z --jets-per-class {jets_per_class} "
        f"--workers 2 --shard-size 2000 {SETS[name]} --out {root / name}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/shift"))
    parser.add_argument("--jets-per-class", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    missing = [n for n in SETS if not (args.root / n / "manifest.json").is_file()]
    if missing:
        print("missing sets; make them with:")
        for n in missing:
            print("  " + command(n, args.root, args.jets_per_class))
        return 0

    from knn_heldout import take

    from jetzoo.data.datamodule import JetDataModule
    from jetzoo.leaderboard.finetune import FineTuneSettings, finetune
    from jetzoo.models.registry import create_backbone

    t0 = time.perf_counter()
    dms = {n: JetDataModule(args.root / n) for n in SETS}
    for dm in dms.values():
        dm.setup()

    def whole(dm: JetDataModule, split: str) -> dict[str, torch.Tensor]:
        return take(dm, split, len(dm.dataset(split)), seed=0)  # all of it, in order

    train, val = whole(dms["jetnet"], "train"), whole(dms["jetnet"], "val")
    tests = {n: whole(dm, "test") for n, dm in dms.items()}
    torch.manual_seed(args.seed)
    backbone = create_backbone("jbot-s")
    backbone.set_preprocessing(dms["jetnet"].preprocessing)
    test = {k: torch.cat([t[k] for t in tests.values()]) for k in ("x", "mask", "label")}
    settings = FineTuneSettings(
        mode="scratch",
        base_lrs=(args.lr,),
        max_epochs=args.epochs,
        batch_size=256,
        seed=args.seed,
        accelerator="cpu",
    )
    result = finetune(backbone, train, val, test, 5, settings)
    pred = result.test_proba.argmax(1)
    print(
        f"supervised jBOT-S from scratch on {len(train['label']):,} jets of the JetNet-recipe "
        f"set ({args.epochs} epochs, lr {args.lr}); val accuracy "
        f"{result.best['val_accuracy']:.3f}; {time.perf_counter() - t0:.0f} s"
    )
    print("| test set | recipe | test jets | accuracy | bootstrap spread | vs jetnet |")
    print("|---|---|---|---|---|---|")
    start, ref = 0, None
    g = torch.Generator().manual_seed(0)
    for name, t in tests.items():
        n = len(t["label"])
        correct = (pred[start : start + n] == t["label"]).float()
        start += n
        boot = correct[torch.randint(0, n, (1000, n), generator=g)].mean(1).std()
        acc = float(correct.mean())
        ref = acc if ref is None else ref
        print(f"| {name} | `{SETS[name]}` | {n:,} | {acc:.3f} | {boot:.3f} | {acc - ref:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
