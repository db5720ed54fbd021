"""``jetzoo generate rs3l``: re-simulated jet pairs with tracks and calorimeter cells (Rieck et al.)

Each event is simulated once up to and including the parton shower (Pythia 8, 13 TeV,
``HadronLevel:all = off``); the parton-level record is copied and hadronized twice
(``forceHadronLevel()`` on a refilled record, independent random numbers), and each view goes
through the parametric detector of :mod:`jetzoo.detector` with its own random numbers. Positive
pairs therefore share the hard scatter and the parton shower, and differ in hadronization and
detector response.

Processes (``--events`` split in the ratio ``--ratio``, default 3:3:1 as in Rieck et al.):

- ``q``: ``HardQCD:qq2qq, qqbar2qqbarNew, gg2qqbar`` (light quarks; the rare c, b from the
  PDFs in ``qq2qq`` are labelled q too, Rieck et al. does not separate them);
- ``g``: ``HardQCD:gg2gg, qqbar2gg``;
- ``tau``: ``WeakSingleBoson:ffbar2ffbar(s:gmZ)`` with gamma*/Z -> tau tau; tau decays with
  an electron or muon are switched off. Each view is hadronized once with the taus kept
  stable; then only the tau decays are re-drawn (``moreDecays()``) until every tau decays to 1
  or 3 charged hadrons, and in view b until each tau has the **same decay channel** (the same
  daughter ids) as in view a. The draws of view b are counted (``tau_attempts`` in the
  manifest; about the number of open channel combinations, ~100). Tau decays use
  ``TauDecays:mode = 0`` (no hard-process spin correlations): with correlations one draw costs
  ~15 ms instead of ~0.1 ms (``GenerationConfig.tau_spin_correlations`` switches them on);
- ``dark_A`` ... ``dark_D``: Hidden Valley Z' -> dark quarks (:data:`DARK_MODEL_PARAMS`),
  resampled afterwards to the (pT, |eta|) distribution of the SM jets.

Every hard-process parton has pT > ``--pt-hat-min`` (100 GeV, ``PhaseSpace:pTHatMin`` for the
2 -> 2 processes, a cut for the Z') and |eta| < 3; events failing this are re-generated.
MPI are on, particles with c*tau > 10 mm are stable (``ParticleDecays:tau0Max = 10``).
Pile-up (off by default): Poisson(``--pileup-mu``) minimum-bias events per view, drawn from a
pool of ``SoftQCD:inelastic`` events, each with a vertex Gaussian in z (50 mm) and a random
azimuthal rotation, added before the detector.

Jets and pairs (Rieck et al., Sec. 3): anti-kT R = 0.4 (fastjet) on the calorimeter cells above
threshold and on the visible hadron-level particles. A detector jet is matched to the nearest
hadron-level jet (dR < 0.3), which is matched to the nearest hard-process parton (dR < 0.4; the
parton must also be the jet's nearest). Tracks join a jet if dR < 0.4 and |z0| < 2 mm. A pair is
one parton's jets in the two views with detector pT > 25 GeV, hadron-level pT > 50 GeV, the two
hadron-level jets within dR < 0.2 and similar detector pT (|a - b| / (a + b) <
``--max-pt-asymmetry``). The label is the parton's flavour (q, g), tau or the dark model.

Shards: one class per shard, ``--events-per-shard`` events each, seeded from (``--seed``, class,
shard index), so the output does not depend on the number of workers. Shards are written
atomically; a re-run skips valid shards (resume). Layout: :mod:`jetzoo.data.rs3l_schema`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from jetzoo.data import engine
from jetzoo.data.clustering import antikt_many
from jetzoo.data.engine import GeneratorInfo, Shard, Simulated
from jetzoo.data.rs3l_pairs import JetPair, make_pairs, match_view, view_inputs
from jetzoo.data.rs3l_schema import (
    DARK_MODELS,
    RS3L_CLASSES,
    RS3L_FORMAT,
    SM_CLASSES,
    rs3l_class_index,
)
from jetzoo.data.rs3l_shards import (
    read_jet_features,
    resampling_weights,
    shard_entry,
    shard_is_valid,
    subset_shard,
    summarize,
    write_shard,
)
from jetzoo.data.rs3l_simulation import GenerationConfig, PileupPool, Resimulator
from jetzoo.data.schema import DataError
from jetzoo.detector import Detector, DetectorConfig, Particles


def shard_seeds(seed: int, kind: str, shard: int) -> tuple[int, np.random.SeedSequence]:
    """(Pythia seed in [1, 9e8], numpy SeedSequence) of one shard; independent of workers."""
    ss = np.random.SeedSequence([seed, RS3L_CLASSES.index(kind), shard])
    pythia_seed = int(ss.generate_state(1)[0]) % 900_000_000 + 1
    return pythia_seed, ss.spawn(1)[0]


@dataclass(frozen=True)
class ShardTask:
    kind: str
    shard: int
    n_events: int
    path: str


def simulate_events(
    kind: str,
    n_events: int,
    cfg: GenerationConfig,
    pythia_seed: int,
    seed_seq: np.random.SeedSequence,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[JetPair], dict[str, Any]]:
    """Generate ``n_events`` accepted events of ``kind`` and return their pairs and stats."""
    rng = np.random.default_rng(seed_seq)
    detector = Detector(DetectorConfig(**cfg.detector))
    sim = Resimulator(kind, cfg, pythia_seed)
    pool = (
        PileupPool(cfg.pileup_pool, pythia_seed % 899_999_999 + 1, detector.config.min_particle_pt)
        if cfg.pileup_mu > 0
        else None
    )
    pairs: list[JetPair] = []
    attempts: list[int] = []
    t_pythia = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for event in range(n_events):
        t = time.perf_counter()
        ev = sim.next_event()
        t_pythia += time.perf_counter() - t
        if progress is not None and (event % 10 == 9 or event == n_events - 1):
            progress(10 if event % 10 == 9 else n_events % 10)
        if ev is None:
            continue
        attempts.append(ev.tau_attempts)
        responses = []
        for particles in ev.views:
            shown = particles
            if pool is not None:
                pu = pool.overlay(cfg.pileup_mu, cfg.pileup_z_width, rng)
                shown = particles if pu is None else Particles.concatenate([particles, pu])
            responses.append(detector.simulate(shown, rng))
        inputs = [
            m for p, r in zip(ev.views, responses) for m in view_inputs(p, r.cells)
        ]  # one clustering call for both views' particles and cells
        jets = antikt_many(inputs, cfg.jet_r, 5.0)
        matched = [
            match_view(jets[2 * v], jets[2 * v + 1], r.tracks, r.cells, ev.origins, cfg)
            for v, r in enumerate(responses)
        ]
        pairs.extend(make_pairs(matched[0], matched[1], ev.origins, kind, event, cfg))
    stats = {
        "events": n_events,
        "pairs": len(pairs),
        "rejected_events": sim.n_rejected,
        "failed_tau_events": sim.n_failed,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "pythia_seconds": t_pythia,
        "tau_attempts_mean": float(np.mean(attempts)) if attempts and kind == "tau" else None,
    }
    return pairs, stats


def run_task(
    task: ShardTask, cfg: GenerationConfig, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Simulate one shard and write it; returns its stats."""
    pythia_seed, seq = shard_seeds(cfg.seed, task.kind, task.shard)
    pairs, stats = simulate_events(task.kind, task.n_events, cfg, pythia_seed, seq, progress)
    physics = {k: v for k, v in stats.items() if not k.endswith("seconds")}  # reproducible bytes
    write_shard(
        Path(task.path),
        pairs,
        task.kind,
        {
            "seed": cfg.seed,
            "pythia_seed": pythia_seed,
            "shard": task.shard,
            "settings": cfg.to_dict(),
            "stats": physics,
        },
    )
    return {"kind": task.kind, "shard": task.shard, "pythia_seed": pythia_seed, **stats}


# ------------------------------------------------------------------------------ orchestration
def split_events(total: int, ratio: tuple[float, ...]) -> dict[str, int]:
    """Split ``total`` SM events over (q, g, tau) in ``ratio``; the rounding remainder goes to
    the largest share."""
    r = np.asarray(ratio, dtype=np.float64)
    counts = np.floor(total * r / r.sum()).astype(int)
    counts[np.argmax(r)] += total - counts.sum()
    return {k: int(n) for k, n in zip(SM_CLASSES, counts)}


def plan_tasks(events: dict[str, int], events_per_shard: int) -> list[Shard]:
    """Planned shards (SM classes into ``<class>/``, dark models into ``dark_X/raw/``)."""
    shards = []
    for kind, n in events.items():
        folder = f"{kind}/raw" if kind.startswith("dark_") else kind
        for k in range(math.ceil(n / events_per_shard)):
            m = min(events_per_shard, n - k * events_per_shard)
            shards.append(Shard(f"{folder}/shard-{k:05d}.h5", m, (kind, k)))
    return shards


@dataclass(frozen=True)
class RS3LGenerator:
    """The RS3L pair generator as the engine (:mod:`jetzoo.data.engine`) runs it."""

    events: dict[str, int]
    cfg: GenerationConfig
    events_per_shard: int = 500
    command_line: str = ""
    drop_raw: bool = False
    dark_pairs: int | None = None

    info = GeneratorInfo(RS3L_FORMAT, "rs3l events", "ev")

    @classmethod
    def from_plan(cls, plan: dict[str, Any], out: Path) -> "RS3LGenerator":
        """The generator of a recorded plan."""
        return cls(
            dict(plan["events"]),
            GenerationConfig(**plan["settings"]),
            plan["events_per_shard"],
            plan["command"],
            plan["drop_raw"],
            plan["dark_pairs"],
        )

    def plan(self) -> dict[str, Any]:
        return {
            "events": dict(self.events),
            "settings": self.cfg.to_dict(),
            "events_per_shard": self.events_per_shard,
            "command": self.command_line,
            "drop_raw": self.drop_raw,
            "dark_pairs": self.dark_pairs,
        }

    def shards(self) -> list[Shard]:
        return plan_tasks(self.events, self.events_per_shard)

    def check_folder(self, out: Path, shards: list[Shard], whole_run: bool) -> None:
        if whole_run:
            _check_dark_reference(out, self.events)

    def existing(self, out: Path, shard: Shard) -> dict[str, Any] | None:
        path = out / shard.file
        return shard_entry(out, path) if shard_is_valid(path) else None

    def simulate(
        self, out: Path, shard: Shard, progress: Callable[[int], None] | None
    ) -> dict[str, Any]:
        kind, k = shard.key
        stats = run_task(ShardTask(kind, k, shard.units, str(out / shard.file)), self.cfg, progress)
        return {"entry": shard_entry(out, out / shard.file), "stats": stats}

    def command(self, out: Path) -> str:
        return self.command_line or "jetzoo generate rs3l ..."

    def finalize(self, out: Path, run: Simulated) -> dict[str, Any]:
        """Resample the dark jets to the SM spectrum and write ``manifest.json``; ``stats`` are
        the simulated shards' counters and timings."""
        return finalize(out, self.plan(), run.stats, run.seconds, run.workers)


def generate(
    out: str | Path,
    events: dict[str, int],
    cfg: GenerationConfig,
    events_per_shard: int = 500,
    workers: int = 1,
    command: str = "",
    drop_raw: bool = False,
    dark_pairs: int | None = None,
    progress: bool = True,
    shard_index: int | None = None,
    num_shards: int | None = None,
) -> dict[str, Any]:
    """Generate (or resume) an RS3L dataset in ``out``; returns and writes the manifest.

    ``events`` maps a class (``q``, ``g``, ``tau``, ``dark_A`` ...) to its number of accepted
    events. Dark-model raw shards are resampled to the SM (pT, |eta|) spectrum of the SM shards
    in ``out`` (which must exist, from this or an earlier run) and capped at ``dark_pairs``
    pairs per model; ``drop_raw`` deletes the raw shards afterwards (they stay listed in the
    manifest; a re-run regenerates them). ``progress`` shows a tqdm bar over events.
    With ``shard_index`` / ``num_shards`` only that array task's share of the planned shards is
    simulated and a part manifest written (:mod:`jetzoo.data.parts`); ``jetzoo data merge``
    then resamples the dark jets and writes the manifest.
    """
    for kind in events:
        rs3l_class_index(kind)
    gen = RS3LGenerator(dict(events), cfg, events_per_shard, command, drop_raw, dark_pairs)
    return engine.run(gen, out, workers, progress, shard_index, num_shards)


def _check_dark_reference(out: Path, events: dict[str, int]) -> None:
    dark = [k for k in events if k.startswith("dark_")]
    if (
        dark
        and not set(events) & set(SM_CLASSES)
        and not any(any((out / k).glob("shard-*.h5")) for k in SM_CLASSES)
    ):
        raise ValueError(
            f"{out}: dark jets are resampled to the SM jet spectrum, but there are "
            "no SM shards; generate q/g/tau events too (--events)"
        )


def finalize(
    out: Path, plan: dict[str, Any], results: list[dict[str, Any]], elapsed: float, workers: int
) -> dict[str, Any]:
    """The end of a run, once every planned shard is in ``out``: resample the dark jets to the
    SM spectrum and write ``manifest.json``; ``results`` are the simulated shards' stats."""
    from jetzoo.utils.io import atomic_write_text

    cfg = GenerationConfig(**plan["settings"])
    events, events_per_shard = plan["events"], plan["events_per_shard"]
    drop_raw, dark_pairs = plan["drop_raw"], plan["dark_pairs"]
    _check_dark_reference(out, events)
    tasks = plan_tasks(events, events_per_shard)
    missing = [out / t.file for t in tasks if not shard_is_valid(out / t.file)]
    if missing:
        raise DataError(f"{missing[0]}: planned shard missing or invalid")
    new_pairs = sum(r["pairs"] for r in results)
    dark_kinds = sorted({t.key[0] for t in tasks if t.key[0].startswith("dark_")})

    sm_paths = sorted(p for k in SM_CLASSES for p in (out / k).glob("shard-*.h5"))
    dark_info: dict[str, Any] = {}
    if dark_kinds:
        sm = np.concatenate([read_jet_features(p) for p in sm_paths])
    for kind in dark_kinds:
        raw = sorted((out / kind / "raw").glob("shard-*.h5"))
        feats = [read_jet_features(p) for p in raw]
        w = resampling_weights(sm, np.concatenate(feats)) if feats else np.zeros(0)
        rng = np.random.default_rng(
            np.random.SeedSequence([cfg.seed, RS3L_CLASSES.index(kind), 10**6])
        )
        accept = rng.random(len(w)) < w
        if dark_pairs is not None:
            accept &= np.cumsum(accept) <= dark_pairs
        for stale in set((out / kind).glob("shard-*.h5")) - {out / kind / p.name for p in raw}:
            stale.unlink()  # resampled shards of raw shards that no longer exist
        kept, start = 0, 0
        for p, ft in zip(raw, feats):
            keep = accept[start : start + len(ft)]
            start += len(ft)
            if keep.any():  # no empty shards
                kept += subset_shard(p, out / kind / p.name, keep, {"resampled_from": p.name})
            elif (out / kind / p.name).exists():
                (out / kind / p.name).unlink()
        dark_info[kind] = {"raw_pairs": int(len(w)), "resampled_pairs": int(kept)}

    shards = [shard_entry(out, p) for p in sm_paths]
    for kind in dark_kinds:
        shards += [shard_entry(out, p) for p in sorted((out / kind).glob("shard-*.h5"))]
    raw_shards = [
        shard_entry(out, p)
        for kind in dark_kinds
        for p in sorted((out / kind / "raw").glob("shard-*.h5"))
    ]
    if drop_raw:
        for entry in raw_shards:
            (out / entry["path"]).unlink()
            entry["dropped"] = True
        for kind in dark_kinds:
            (out / kind / "raw").rmdir()
    from jetzoo.data.shards import dataset_sha256

    dataset_sha = dataset_sha256(s["sha256"] for s in shards)  # the JetNet shards' convention
    from jetzoo import __version__

    try:
        import pythia8mc

        pythia_version = getattr(pythia8mc, "__version__", "")
    except ImportError:  # pragma: no cover
        pythia_version = ""
    manifest = {
        "format": RS3L_FORMAT,
        "jetzoo_version": __version__,
        "command": plan["command"],
        "seed": cfg.seed,
        "events": events,
        "events_per_shard": events_per_shard,
        "settings": cfg.to_dict(),
        "detector": asdict(DetectorConfig(**cfg.detector)),
        "pythia_version": pythia_version,
        "classes": list(RS3L_CLASSES),
        "shards": shards,
        "raw_shards": raw_shards,
        "dark_resampling": dark_info,
        "dark_pairs": dark_pairs,
        "summary": {
            **summarize(out, sm_paths),
            "tau_attempts_mean": _mean_of(shards, "tau_attempts_mean", "tau"),
        },
        "timing": {
            "new_shards": len(results),
            "new_pairs": new_pairs,
            "seconds": elapsed,
            "workers": workers,
            "simulate_seconds": sum(r["seconds"] for r in results),
            "cpu_seconds": sum(r["cpu_seconds"] for r in results),
            "pythia_seconds": sum(r["pythia_seconds"] for r in results),
            "pairs_per_second": new_pairs / elapsed if results and elapsed > 0 else None,
        },
        "dataset_sha256": dataset_sha,
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return manifest


def _mean_of(shards: list[dict[str, Any]], key: str, kind: str) -> float | None:
    vals = [(s[key], s.get("events", 0)) for s in shards if s["class"] == kind and s.get(key)]
    if not vals:
        return None
    return float(sum(v * n for v, n in vals) / max(sum(n for _, n in vals), 1))


# ------------------------------------------------------------------------------ CLI
def _ratio(text: str) -> tuple[float, ...]:
    try:
        r = tuple(float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ratio must look like 3:3:1, got {text!r}") from None
    if len(r) != len(SM_CLASSES) or min(r) < 0 or sum(r) <= 0:
        raise argparse.ArgumentTypeError(
            f"--ratio needs {len(SM_CLASSES)} non-negative numbers (q:g:tau), got {text!r}"
        )
    return r


def _models(text: str) -> list[str]:
    names = [m.strip().upper() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in DARK_MODELS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown dark model(s) {bad}; known: {', '.join(DARK_MODELS)}"
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--events",
        type=int,
        default=700,
        help="accepted SM events in total, split by --ratio (default 700)",
    )
    parser.add_argument(
        "--ratio", type=_ratio, default=(3.0, 3.0, 1.0), help="q:g:tau event ratio (default 3:3:1)"
    )
    parser.add_argument(
        "--dark-models",
        type=_models,
        default=[],
        help="comma-separated dark models to generate, e.g. A,B,C,D",
    )
    parser.add_argument(
        "--dark-events",
        type=int,
        default=200,
        help="accepted events per dark model before resampling (default 200)",
    )
    parser.add_argument(
        "--dark-pairs",
        type=int,
        default=None,
        help="keep at most this many resampled pairs per dark model",
    )
    parser.add_argument(
        "--drop-raw",
        action="store_true",
        help="delete the raw dark-jet shards once they are resampled",
    )
    parser.add_argument(
        "--events-per-shard",
        type=int,
        default=500,
        help="events per HDF5 shard, the unit of work and of resuming",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes (the output does not depend on it)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base seed; each shard is seeded from (seed, class, shard)",
    )
    parser.add_argument(
        "--pileup-mu",
        type=float,
        default=0.0,
        help="mean number of pile-up interactions per view (default 0: off)",
    )
    parser.add_argument("--no-mpi", action="store_true", help="switch off multiparton interactions")
    parser.add_argument(
        "--pt-hat-min",
        type=float,
        default=100.0,
        help="minimum pT of the hard-process partons in GeV (default 100)",
    )
    parser.add_argument(
        "--zprime-mass",
        type=float,
        default=400.0,
        help="Z' mass of the dark-jet models in GeV (default 400)",
    )
    parser.add_argument(
        "--max-pt-asymmetry",
        type=float,
        default=0.3,
        help="pair cut |pT_a - pT_b| / (pT_a + pT_b) (default 0.3)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from jetzoo.data.parts import add_shard_arguments

    add_shard_arguments(parser)


def _run_args(argv: list[str]) -> list[str]:
    """The command-line arguments that define the run: without an array task's
    ``--shard-index`` / ``--num-shards`` (every task of one run records the same command) and
    without ``--no-progress``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--no-progress":
            continue
        elif a in ("--shard-index", "--num-shards"):
            skip = True
        elif not a.startswith(("--shard-index=", "--num-shards=")):
            out.append(a)
    return out


def main(args: argparse.Namespace) -> int:
    if args.events < 0 or args.dark_events < 0 or args.events_per_shard <= 0:
        print(
            "jetzoo generate rs3l: --events, --dark-events must be >= 0 and --events-per-shard > 0",
            file=sys.stderr,
        )
        return 2
    events = {k: n for k, n in split_events(args.events, args.ratio).items() if n > 0}
    events.update({f"dark_{m}": args.dark_events for m in args.dark_models if args.dark_events})
    cfg = GenerationConfig(
        seed=args.seed,
        pt_hat_min=args.pt_hat_min,
        mpi=not args.no_mpi,
        pileup_mu=args.pileup_mu,
        zprime_mass=args.zprime_mass,
        max_pt_asymmetry=args.max_pt_asymmetry,
    )
    command = (
        "jetzoo generate rs3l " + " ".join(shlex.quote(a) for a in _run_args(sys.argv[3:]))
        if sys.argv[1:3] == ["generate", "rs3l"]
        else ""
    )
    try:
        manifest = generate(
            args.out,
            events,
            cfg,
            args.events_per_shard,
            args.workers,
            command,
            drop_raw=args.drop_raw,
            dark_pairs=args.dark_pairs,
            shard_index=args.shard_index,
            num_shards=args.num_shards,
            progress=not args.no_progress,
        )
    except (PermissionError, ValueError) as err:
        print(f"jetzoo generate rs3l: {err}", file=sys.stderr)
        return 1
    if "part" in manifest:
        print(
            f"wrote {len(manifest['shards'])} shards and {manifest['part']}; when every task "
            f"is done: jetzoo data merge {args.out}"
        )
        return 0
    s, t = manifest["summary"], manifest["timing"]
    print(
        f"wrote {sum(x['pairs'] for x in manifest['shards'])} pairs in "
        f"{len(manifest['shards'])} shards to {args.out}"
    )
    if s:
        print(
            f"pair pT correlation {s['pt_correlation']:.3f} (Rieck et al.: 0.83); "
            f"tracks/jet {s['mean_tracks_per_jet']:.1f} (Rieck et al.: 8); "
            f"cells/jet {s['mean_cells_per_jet']:.0f} (Rieck et al.: ~800)"
        )
    if t["pairs_per_second"]:
        print(f"{t['pairs_per_second']:.2f} pairs/s with {t['workers']} worker(s)")
    return 0
