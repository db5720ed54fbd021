"""Generation throughput: jets/s on 1 and 2 workers, and the share of the time Pythia takes.

    python benchmarks/generate.py [--jets-per-class 400] [--classes q,g,t,w,z] [--pairs]

For ``jetzoo generate jetnet`` it prints, per worker count, the wall time and jets/s of a full
run (simulation, clustering, HDF5 shards, preprocessing fit, manifest), then for the one-worker
run the time inside Pythia's ``next()`` / ``forceHadronLevel()`` alone, in the anti-kT
clustering (FastJet core, C++) and in jetzoo's Python around them, as percentages of the Pythia
time: the overhead goal is < 25 %. Pythia's ``init()`` (~0.5-1 s) is paid once per shard; the
benchmark uses two shards per class, real runs 1000-jet shards.

Each benchmark is a function ``(args) -> None`` registered in :data:`BENCHMARKS`; other
generators add theirs there (``--only NAME`` runs one).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

from jetzoo.data.jetnet_generator import GeneratorConfig, SimulationStats, generate


def bench_jetnet(args: argparse.Namespace) -> None:
    """Rows for ``jetzoo generate jetnet``."""
    classes = args.classes.split(",")
    n = args.jets_per_class
    config = GeneratorConfig(pairs=args.pairs)
    print(f"jetzoo generate jetnet: {n} jets x {len(classes)} classes, pairs={args.pairs}")
    print(f"{'workers':>8} {'wall s':>8} {'jets/s':>8} {'speed-up':>9}")
    base = None
    single: dict[str, SimulationStats] = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            manifest = generate(
                Path(tmp) / "bench",
                classes,
                n,
                seed=args.seed,
                workers=workers,
                shard_size=max(1, n // 2),
                config=config,
                progress=False,
            )
            wall = time.perf_counter() - t0
        rate = manifest["n_jets"] / wall
        base = base or rate
        print(f"{workers:>8} {wall:>8.1f} {rate:>8.1f} {rate / base:>8.2f}x")
        if workers == 1:
            single = {c: SimulationStats(**s) for c, s in manifest["timing"]["per_class"].items()}
    print(
        "\none worker, per class: seconds in Pythia's init() and event generation (next(),"
        " forceHadronLevel()),\nthen as % of the generation time: anti-kT clustering (Pythia's"
        " SlowJet running FastJet's\nfjcore, C++), jetzoo's Python, and the two together"
    )
    print(
        f"{'class':>6} {'events':>7} {'jets/s':>7} {'init s':>7} {'pythia s':>9} "
        f"{'cluster':>8} {'python':>7} {'overhead':>9}"
    )
    total = SimulationStats()
    for c, s in list(single.items()) + [("all", total)]:
        if c != "all":
            total.add(s)
        python = s.t_total - s.t_pythia - s.t_cluster
        print(
            f"{c:>6} {s.n_events:>7} {s.n_jets / s.t_total:>7.1f} {s.t_init:>7.2f} "
            f"{s.t_pythia:>9.2f} {100 * s.t_cluster / s.t_pythia:>7.1f}% "
            f"{100 * python / s.t_pythia:>6.1f}% "
            f"{100 * (s.t_total - s.t_pythia) / s.t_pythia:>8.1f}%"
        )
    python = total.t_total - total.t_pythia - total.t_cluster
    print(
        f"jetzoo's Python is {100 * python / (total.t_pythia + total.t_cluster):.1f}% of the "
        f"time of all Pythia calls (generation + SlowJet clustering); goal < 25%"
    )


def bench_rs3l(args: argparse.Namespace) -> None:
    """Rows for ``jetzoo generate rs3l``: re-simulated pairs/s (q:g:tau = 3:3:1 events, two
    shards per class, both views hadronized, detector, clustering, pairing, HDF5)."""
    from jetzoo.data.rs3l_generator import generate as generate_rs3l
    from jetzoo.data.rs3l_generator import split_events
    from jetzoo.data.rs3l_simulation import GenerationConfig

    n = args.rs3l_events
    events = split_events(n, (3.0, 3.0, 1.0))
    print(f"jetzoo generate rs3l: {n} events (q:g:tau = 3:3:1), MPI on, no pile-up")
    print(
        f"{'workers':>8} {'wall s':>8} {'pairs':>6} {'pairs/s':>8} {'speed-up':>9} "
        f"{'pairs/CPU-s':>12} {'pythia %':>9}"
    )
    base = None
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            m = generate_rs3l(
                Path(tmp) / "bench",
                events,
                GenerationConfig(seed=args.seed),
                events_per_shard=max(1, -(-max(events.values()) // 2)),
                workers=workers,
                progress=False,
            )
            wall = time.perf_counter() - t0
        pairs = m["timing"]["new_pairs"]
        rate = pairs / wall
        base = base or rate
        share = 100 * m["timing"]["pythia_seconds"] / max(m["timing"]["simulate_seconds"], 1e-9)
        per_cpu = pairs / max(m["timing"]["cpu_seconds"], 1e-9)
        print(
            f"{workers:>8} {wall:>8.1f} {pairs:>6} {rate:>8.2f} {rate / base:>8.2f}x "
            f"{per_cpu:>12.2f} {share:>8.1f}%"
        )
    print(
        "pairs/CPU-s: per CPU second of the simulating processes (meaningful on a shared "
        f"machine; load average now {os.getloadavg()[0]:.1f});\npythia % = share of the "
        "simulation time spent in Pythia (next, forceHadronLevel, tau re-decays,\nreading the "
        "event records); the rest is the detector, clustering, pairing and HDF5"
    )


BENCHMARKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "jetnet": bench_jetnet,
    "rs3l": bench_rs3l,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jets-per-class", type=int, default=400)
    parser.add_argument("--classes", default="q,g,t,w,z")
    parser.add_argument("--pairs", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rs3l-events",
        type=int,
        default=140,
        help="events of the rs3l benchmark (split q:g:tau = 3:3:1)",
    )
    parser.add_argument("--only", choices=sorted(BENCHMARKS), default=None)
    args = parser.parse_args()
    for name, bench in BENCHMARKS.items():
        if args.only in (None, name):
            bench(args)
            print()


if __name__ == "__main__":
    main()
