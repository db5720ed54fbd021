"""`jetzoo finetune` on the embedded sample: a pre-trained backbone against the same recipe from
random weights, and against full training from scratch, over seeds.

Each row is one `jetzoo finetune` run (the shipped recipes, as a user runs them) at a label
fraction of the sample's training split (8,000 jets); the table gives the test accuracy and mean
AUC on the sample's 1,000 test jets per seed and their mean +- sample std.

    python benchmarks/finetune_sample.py                         # jbot-s, 10% labels, 3 seeds
    python benchmarks/finetune_sample.py --model jbot-b --fraction 0.01 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from jetzoo.recipes.finetune import finetune_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="jbot-s")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    runs = {
        f"{args.model} LLRD": ("llrd", [f"init_from={args.model}"]),
        "random init, same recipe": ("llrd", ["init_from=null", f"backbone={args.model}"]),
        "scratch (full)": ("scratch", [f"backbone={args.model}"]),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (recipe, extra) in runs.items():
            for seed in args.seeds:
                out = Path(tmp) / f"{recipe}-{len(rows)}"
                finetune_run(
                    recipe,
                    [
                        *extra,
                        f"seed={seed}",
                        f"output.dir={out}",
                        f"data.label_fraction={args.fraction}",
                        f"trainer.max_epochs={args.epochs}",
                    ],
                    progress=False,
                )
                summary = json.loads((out / "summary.json").read_text())
                rows.append(
                    {
                        "run": label,
                        "seed": seed,
                        "n_train": summary["n_train"],
                        "accuracy": summary["test"]["accuracy"],
                        "auc_mean": summary["test"]["auc[mean]"],
                    }
                )
    print("| run | labelled jets | test accuracy per seed | mean +- std | mean AUC |")
    print("|---|---|---|---|---|")
    for label in runs:
        mine = [r for r in rows if r["run"] == label]
        acc = [r["accuracy"] for r in mine]
        auc = statistics.mean(r["auc_mean"] for r in mine)
        std = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(
            f"| {label} | {mine[0]['n_train']} | {' / '.join(f'{a:.3f}' for a in acc)} | "
            f"{statistics.mean(acc):.3f} +- {std:.3f} | {auc:.3f} |"
        )
    if args.json:
        from jetzoo.utils.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
