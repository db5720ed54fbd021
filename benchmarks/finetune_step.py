"""The cost of a fine-tuning step, in units of a plain forward + backward of the same encoder.

For each shipped backbone and fine-tuning mode (the engine of ``jetzoo finetune`` and of the
leaderboard: :func:`jetzoo.leaderboard.finetune.build_classifier` and its AdamW parameter
groups), one step = classifier forward, cross-entropy, backward, AdamW step, on a batch of the
embedded sample; the unit is ``train_step.plain_step_ms`` (``embed(batch).sum()`` forward +
backward of a copy of the backbone) on the same batch in the same process. Printed as a table
with jets/s; what a fine-tuning budget (steps per label fraction) costs follows from it.

    python benchmarks/finetune_step.py                  # jbot-s, jbot-b; batch 256; CPU
    python benchmarks/finetune_step.py --models jbot-b --batch-size 1024 --steps 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import plain_step_ms  # noqa: E402  (the unit, shared with train_step.py)

MODES = ("llrd", "lora", "full", "linear")


def step_ms(
    model: torch.nn.Module, groups: list[dict], batches: list[dict], steps: int, warmup: int
) -> float:
    """Mean ms of one optimiser step of ``model`` (classifier logits, cross-entropy, AdamW)."""
    opt = torch.optim.AdamW(
        [{k: v for k, v in g.items() if k != "param_names"} for g in groups if g["params"]]
    )
    model.train()
    times = []
    for i in range(warmup + steps):
        batch = batches[i % len(batches)]
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(batch), batch["label"].long())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * sum(times) / len(times)


def main(argv: list[str] | None = None) -> int:
    from jetzoo import JetZoo
    from jetzoo.data import JetDataset, sample_path
    from jetzoo.leaderboard.finetune import FineTuneSettings, build_classifier, param_groups_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["jbot-s", "jbot-b"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    ds = JetDataset(sample_path())
    batches = [
        ds.get_batch(range(lo, lo + args.batch_size))
        for lo in range(0, 4 * args.batch_size, args.batch_size)
    ]
    rows = []
    for name in args.models:
        backbone = JetZoo.from_pretrained(name)
        unit = plain_step_ms(backbone, batches, args.steps, args.warmup, cuda=False)
        for mode in args.modes:
            settings = FineTuneSettings(mode=mode, lora_rank=4)
            model, _ = build_classifier(backbone, len(ds.class_names), settings)
            groups = param_groups_for(model, settings, 8e-4, 0.7)
            ms = step_ms(model, groups, batches, args.steps, args.warmup)
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            rows.append(
                {
                    "model": name,
                    "mode": mode,
                    "batch": args.batch_size,
                    "threads": torch.get_num_threads(),
                    "step_ms": ms,
                    "unit_ms": unit,
                    "units": ms / unit,
                    "jets_per_s": args.batch_size / ms * 1000,
                    "trainable_params": trainable,
                }
            )
    print(f"CPU, {torch.get_num_threads()} threads, batch {args.batch_size} of the embedded sample")
    print("| model | mode | trainable params | step ms | step / plain fwd+bwd | jets/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['mode']} | {r['trainable_params']:,} | {r['step_ms']:.1f} | "
            f"{r['units']:.2f} ({r['unit_ms']:.1f} ms) | {r['jets_per_s']:.0f} |"
        )
    if args.json:
        from jetzoo.utils.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
