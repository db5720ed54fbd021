"""Training throughput of every recipe: jets/s and peak memory, printed as a table.

Each (recipe, device) is measured in a fresh subprocess so that peak memory belongs to that recipe
alone (CPU: peak resident set size of the process, and its growth over the state before training;
GPU: ``torch.cuda.max_memory_allocated``). A worker builds the recipe from ``recipes/<name>.yaml``
(full-size backbone and method settings), takes a few batches of the embedded sample into memory
(so data loading is not measured), and runs ``--warmup + --steps`` optimiser steps through a
Lightning Trainer; jets/s = jets / wall time of the timed steps (forward, backward, optimiser,
EMA teacher update). jets/CPU-s divides by the process's CPU time instead, a number that stays
meaningful on a machine shared with other jobs (jets/s <= threads x jets/CPU-s). "step / plain
fwd+bwd" is the step time in units of one plain forward + backward of an equal-size encoder (a
copy of the recipe's backbone) on the same batch in the same process: the overhead of the method
(augmentations, masking, heads, losses, optimiser, EMA) beyond the encoder work; an ideal jBOT
step is ~2.7 units (student fwd + bwd on two views = 2, teacher fwd on two views ~ 0.7).

    python benchmarks/train_step.py                       # all recipes, CPU (+ GPU if present)
    python benchmarks/train_step.py --recipes jbot-s,jbot-b --device cuda --batch-size 1024
    python benchmarks/train_step.py --recipes jbot-s --device cuda --precision bf16-mixed \
        --compile default --warmup 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ("jetclr", "jbot-s", "jbot-b", "ae", "rs3l")


def _rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _rs3l_available() -> bool:
    """True when the RS3L track/cell backbone and pair datamodule are installed."""
    try:
        from jetzoo.data.rs3l_dataset import RS3LDataModule  # noqa: F401
        from jetzoo.models.registry import is_registered

        return is_registered("rs3l")
    except ImportError:
        return False


def measure(
    recipe: str,
    device: str,
    batch_size: int | None,
    steps: int,
    warmup: int,
    threads: int | None,
    data: str = "sample",
    precision: str | None = None,
    compile_mode: str | None = None,
) -> dict[str, Any]:
    """Time ``steps`` training steps of ``recipes/<recipe>.yaml`` on ``device`` (in-process).
    ``precision`` overrides the recipe's ``trainer.precision`` (GPU; the CPU runs 32-true unless
    given); ``compile_mode`` is the recipe's ``compile`` key (torch.compile of the backbones)."""
    import lightning as L
    import torch

    from jetzoo.recipes.base import batch_size_of
    from jetzoo.recipes.config import cfg_to_dict, get_recipe_class, load_config
    from jetzoo.recipes.runner import build_datamodule

    if threads:
        torch.set_num_threads(threads)
    path = ROOT / "recipes" / f"{recipe}.yaml"
    overrides = [
        "optimizer.warmup_epochs=null",
        "optimizer.warmup_steps=1",
        "optimizer.scale_lr_by_batch=false",
        "data.num_workers=0",
        f"data.path={data}",
    ]
    note = ""
    if recipe == "rs3l" and not _rs3l_available():  # RS3L files not installed: JetNet pairs
        overrides += ["data.family=jetnet", "data.pairs=true", "model.backbone=jbot-s"]
        note = " (JetNet pairs, jbot-s)"
    if batch_size:
        overrides.append(f"data.batch_size={batch_size}")
    if compile_mode:
        overrides.append(f"compile={compile_mode}")
    cfg = load_config(path, overrides)
    bs = int(cfg.data.batch_size)
    n_batches = min(steps + warmup, 4)
    dm = build_datamodule(cfg, str(path))
    dm.setup("fit")
    batches = []
    for batch in dm.train_dataloader():
        if batch_size_of(batch) == bs:
            batches.append(batch)
        if len(batches) == n_batches:
            break
    if not batches:
        raise SystemExit(f"{recipe}: the dataset has fewer than {bs} training jets")
    module = get_recipe_class(cfg.recipe)(
        optimizer=cfg_to_dict(cfg.optimizer), **cfg_to_dict(cfg.model)
    )
    if getattr(dm, "preprocessing", None) is not None:
        module.set_preprocessing(dm.preprocessing)
    if cfg.compile is not None:
        module.compile_backbones(cfg.compile)
    n_params = sum(p.numel() for p in module.export_backbone().parameters())
    cuda = device == "cuda"
    times: list[float] = []  # wall seconds per timed step
    cpu_times: list[float] = []  # process CPU seconds per timed step (all threads)

    class Timer(L.Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, i: int) -> None:
            if cuda:
                torch.cuda.synchronize()
            if trainer.global_step == warmup and cuda:
                torch.cuda.reset_peak_memory_stats()
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_train_batch_end(
            self, trainer: Any, pl_module: Any, out: Any, batch: Any, i: int
        ) -> None:
            if cuda:
                torch.cuda.synchronize()
            if trainer.global_step > warmup:
                times.append(time.perf_counter() - self.t0)
                cpu_times.append(time.process_time() - self.c0)

    precision = precision or (cfg.trainer.get("precision", "32-true") if cuda else "32-true")
    unit_ms = plain_step_ms(
        module.export_backbone(), batches, steps, warmup, cuda, bf16="bf16" in str(precision)
    )
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
    rss0 = _rss_mib()
    trainer = L.Trainer(
        accelerator="gpu" if cuda else "cpu",
        devices=1,
        precision=precision,
        max_steps=warmup + steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Timer()],
    )
    trainer.fit(module, train_dataloaders=loader)
    seconds = sum(times)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "recipe": recipe + note,
        "method": cfg.recipe,
        "device": device,
        "device_name": torch.cuda.get_device_name() if cuda else f"cpu x{torch.get_num_threads()}",
        "precision": str(precision) + (f", compile {cfg.compile}" if cfg.compile else ""),
        "batch_size": bs,
        "params": n_params,
        "steps": len(times),
        "jets_per_s": bs * len(times) / seconds,
        "ms_per_step": 1000 * seconds / len(times),
        "cpu_s_per_step": sum(cpu_times) / len(cpu_times),
        "peak_mem_mib": peak,
        "unit_ms": unit_ms,
        "units": 1000 * seconds / len(times) / unit_ms,
        "mem_growth_mib": None if cuda else peak - rss0,
    }


def plain_step_ms(
    backbone: Any, batches: list[Any], steps: int, warmup: int, cuda: bool, bf16: bool = False
) -> float:
    """The unit: ms of one plain forward + backward of an equal-size encoder (a copy of the
    recipe's backbone, ``embed(batch).sum()``) on one batch, in this process, on the device of
    the measurement (batches already there) and under bf16 autocast when the step uses it. An
    ideal jBOT step (student fwd + bwd on two views, teacher fwd on two views) is ~2.7 units."""
    import copy

    import torch

    device = torch.device("cuda" if cuda else "cpu")
    model = copy.deepcopy(backbone).train().to(device)
    model.requires_grad_(True)
    batches = [
        {k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()} for b in batches
    ]
    times = []
    for i in range(warmup + steps):
        batch = batches[i % len(batches)]
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model.embed(batch)
        out.float().sum().backward()
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    return 1000 * sum(times) / len(times)


def _run_worker(recipe: str, device: str, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh worker process per measurement; with ``--processes N`` (CPU), N workers of one
    thread each run at once and the row holds their summed jets/s: the throughput of N data-
    parallel CPU ranks (their gradient all-reduce, a few 10k parameters, is not counted)."""
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--recipes",
        recipe,
        "--device",
        device,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    n = args.processes if device == "cpu" else 1
    if args.threads or n > 1:
        cmd += ["--threads", str(args.threads or 1)]
    cmd += ["--data", args.data]
    if args.precision:
        cmd += ["--precision", args.precision]
    if args.compile:
        cmd += ["--compile", args.compile]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(n)
    ]
    rows = []
    for proc in procs:
        out, err = proc.communicate()
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if proc.returncode or not lines:
            tail = (err or out).strip().splitlines()[-3:]
            return {"recipe": recipe, "device": device, "error": " | ".join(tail)}
        rows.append(json.loads(lines[-1]))
    row = rows[0]
    if n > 1:
        row = {
            **row,
            "jets_per_s": sum(r["jets_per_s"] for r in rows),
            "ms_per_step": sum(r["ms_per_step"] for r in rows) / n,
            "units": sum(r["units"] for r in rows) / n,
            "unit_ms": sum(r["unit_ms"] for r in rows) / n,
            "device_name": f"{row['device_name']} x {n} processes",
        }
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of benchmark rows."""
    head = (
        "| recipe | method | device | batch | params | ms/step | step / plain fwd+bwd "
        "| jets/s | jets/CPU-s | peak mem (MiB) | growth (MiB) |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    out = [head]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['recipe']} | | {r['device']} | | | | | error: {r['error']} | | | |")
            continue
        growth = "" if r["mem_growth_mib"] is None else f"{r['mem_growth_mib']:.0f}"
        out.append(
            f"| {r['recipe']} | {r['method']} | {r['device_name']} ({r['precision']}) "
            f"| {r['batch_size']} | {r['params'] / 1e3:.1f}k | {r['ms_per_step']:.0f} "
            f"| {r['units']:.2f} ({r['unit_ms']:.1f} ms) | {r['jets_per_s']:.0f} "
            f"| {r['batch_size'] / r['cpu_s_per_step']:.0f} "
            f"| {r['peak_mem_mib']:.0f} | {growth} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipes",
        default=",".join(RECIPES),
        help="comma-separated recipe file stems (default: all)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "both"),
        help="auto = cpu, plus cuda when a GPU is present",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="default: 256 on CPU, the recipe's batch size on GPU",
    )
    parser.add_argument("--steps", type=int, default=3, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="CPU: run this many one-thread workers at once and sum their jets/s",
    )
    parser.add_argument(
        "--data", default="sample", help="data.path for every recipe (default: the embedded sample)"
    )
    parser.add_argument(
        "--precision",
        default=None,
        help="Lightning precision, e.g. bf16-mixed (default: the recipe's on GPU, 32-true on CPU)",
    )
    parser.add_argument(
        "--compile",
        default=None,
        metavar="MODE",
        help="torch.compile the backbones: default, reduce-overhead, max-autotune "
        "(the recipe key `compile`); give --warmup >= 2 for its first steps",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write rows to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]

    if args.worker:
        bs = args.batch_size or (256 if args.device == "cpu" else None)
        print(
            json.dumps(
                measure(
                    recipes[0],
                    args.device,
                    bs,
                    args.steps,
                    args.warmup,
                    args.threads,
                    args.data,
                    args.precision,
                    args.compile,
                )
            )
        )
        return 0

    import torch

    has_gpu = torch.cuda.is_available()
    devices = {
        "auto": ["cpu"] + (["cuda"] if has_gpu else []),
        "cpu": ["cpu"],
        "cuda": ["cuda"],
        "both": ["cpu", "cuda"],
    }[args.device]
    rows = []
    for device in devices:
        for recipe in recipes:
            row = _run_worker(recipe, device, args)
            rows.append(row)
            print(
                f"  {recipe:8s} {device:5s} "
                + (f"{row['jets_per_s']:9.0f} jets/s" if "jets_per_s" in row else row["error"]),
                file=sys.stderr,
                flush=True,
            )
    print(format_table(rows))
    if args.json:
        from jetzoo.utils.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
