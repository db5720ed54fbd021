"""Does a backbone's stored input standardisation travel to other generator settings?

A backbone standardises (eta_rel, phi_rel, log pt_rel) with the mean and std fitted on its
pre-training set (``config.json``'s ``preprocessing``). All three are relative to the jet, so
the pT range should matter little, while the radius R (particles within 0.4 instead of 0.8)
narrows eta_rel and phi_rel. For each held-out set of the ``transfer-*`` tasks this prints

1. the standardised inputs the backbone sees with its stored numbers: mean and std per feature
   over real particles (1 and 0 on its own data), and the fraction beyond |z| > 4;
2. the frozen kNN accuracy of the task (its standard-tier split, k = 30) with the stored numbers
   and with numbers fitted on that setting's own training split (a per-setting
   standardisation, the alternative a user could apply to their jets), and the difference.

    python benchmarks/preprocessing_transfer.py [--model jbot-s] [--tasks 'transfer-*']
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch


def standardised(x: torch.Tensor, mask: torch.Tensor, mean, std) -> np.ndarray:
    """(n_real, 3) standardised inputs of real particles (x: eta_rel, phi_rel, pt_rel)."""
    from jetzoo.data.preprocessing import PT_FLOOR

    real = mask > 0
    cols = torch.stack(
        [x[..., 0][real], x[..., 1][real], torch.log(x[..., 2][real].clamp_min(PT_FLOOR))], -1
    ).double()
    return ((cols - torch.tensor(mean)) / torch.tensor(std)).numpy()


def knn_accuracy(backbone, task, data) -> float:
    from jetzoo.leaderboard.submission import RunSettings, run_task

    res = run_task(backbone, task, RunSettings(evaluations=["knn"], accelerator="cpu"), data)
    return next(r["value"] for r in res.rows if r["metric"] == "accuracy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="jbot-s", help="a registered name or model folder")
    parser.add_argument("--tasks", nargs="+", default=["jetnet-5class", "transfer-*"])
    args = parser.parse_args(argv)

    from jetzoo.data.preprocessing import Preprocessing
    from jetzoo.leaderboard.backbones import load_model
    from jetzoo.leaderboard.task_data import load_task_data
    from jetzoo.leaderboard.tasks import TaskSkipped, load_tasks

    backbone, info = load_model(args.model)
    stored = backbone.config["preprocessing"]
    print(
        f"{info.id}: stored mean {np.round(stored['mean'], 4).tolist()}, "
        f"std {np.round(stored['std'], 4).tolist()}"
    )
    head = (
        "| task | z eta (mean, std) | z phi (mean, std) | z log pT (mean, std) | |z| > 4 "
        "| kNN stored | kNN per-setting | difference |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    t0 = time.perf_counter()
    for task in load_tasks(names=args.tasks):
        task = task.for_tier("standard")
        try:
            data = load_task_data(task)
        except TaskSkipped as err:
            print(f"skipped {task.name}: {err}", file=sys.stderr)
            continue
        train = data.split("train")
        z = standardised(train["x"], train["mask"], stored["mean"], stored["std"])
        fitted = Preprocessing.fit(
            np.concatenate([train["x"].numpy(), train["mask"].numpy()[..., None]], -1)
        )
        own = copy.deepcopy(backbone)
        own.set_preprocessing(fitted)
        a, b = knn_accuracy(backbone, task, data), knn_accuracy(own, task, data)
        cells = [f"{z[:, k].mean():+.2f}, {z[:, k].std():.2f}" for k in range(3)]
        lines.append(
            f"| {task.name} | "
            + " | ".join(cells)
            + f" | {np.mean(np.abs(z) > 4):.4f} | {a:.4f} | {b:.4f} | {b - a:+.4f} |"
        )
        print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sys.exit(main())
