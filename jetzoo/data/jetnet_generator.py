"""``jetzoo generate jetnet``: JetNet-like jets from Pythia 8 + anti-kT into HDF5 shards.

Physics (every number is a default; the CLI flags change them and the manifest records them):

- pp at 13 TeV, Pythia 8 (``pythia8mc``) default tune, ``PartonLevel:MPI = off`` (no underlying
  event, as measured for speed; ``--set "PartonLevel:MPI = on"`` turns it back on);
  ``PhaseSpace:pTHatMin = 1000`` GeV for every class.
- Processes: q from ``HardQCD:qg2qg, qq2qq, qqbar2qqbarNew, gg2qqbar`` with
  ``HardQCD:nQuarkNew = 3``; g from ``HardQCD:gg2gg, qg2qg, qqbar2gg``; t from ``Top:gg2ttbar,
  qqbar2ttbar``; W from ``WeakBosonAndParton:qqbar2Wg, qg2Wq``; Z from
  ``WeakBosonAndParton:qqbar2gmZg, qg2gmZq`` with ``WeakZ0:gmZmode = 2``. W and Z decay
  hadronically only (``24/23:onMode = off``, ``onIfAny = 1 2 3 4 5``).
- Jets: anti-kT, R = 0.8, E-scheme, on all visible final-state particles with |eta| < 5. The
  clustering runs in C++ through Pythia's ``SlowJet`` with ``useFJcore = true``, i.e. FastJet's
  own anti-kT core (fjcore) shipped inside Pythia; ``tests/test_data_generator.py`` checks the
  jets against the ``fastjet`` package on the same particles. Kept jets: 800 < pT < 1600 GeV,
  |eta| < 2.5 (JetNet: jets of pT ~ 1 TeV, |eta| < 2.5).
- Labels by truth matching, never by process name alone. q/g: the hard-process outgoing parton
  (event record entries 5 and 6) matched to the closest jet within dR < 0.8; the jet is q if the
  parton is u, d or s (or their antiquarks), g if it is a gluon. **c and b jets are dropped**
  (JetNet's q class is light quarks). t/W/Z: the last copy of the t, W or Z before its decay,
  matched to the closest jet within dR < 0.8, **and** every quark of its decay (t -> b q q',
  W/Z -> q q') within dR < 0.8 of the jet axis (fully contained, as JetNet's t/W/Z jets).
  A matched jet outside the pT/eta window is dropped; up to two jets per event are kept.
- Features as JetNet: the 30 highest-pT constituents, pT-ordered, with (eta_rel, phi_rel,
  pt_rel, mask), zero-padded at the end; jet (pt, eta, mass, n_particles) of the full jet.
  Two choices to know: **pt_rel = pT / (scalar pT sum of all constituents)**, so the 30 kept
  sum to <= 1 (pT / pT_jet with the vector-sum jet pT would exceed 1 for jets of <= 30
  constituents; pT_jet / scalar sum is 0.992-0.997 on average at 1 TeV, down to ~0.95 for
  wide jets), and **n_particles counts all constituents**
  (not capped at 30; the real particles among the 30 are ``mask.sum()``).

Pairs (``--pairs``, for RS3L-style contrastive training): ``HadronLevel:all = off``; after
``next()`` the parton-level event is copied; each of two views refills ``pythia.event`` with the
copy and calls ``forceHadronLevel()``. A jet pair is the two views' jets matched to the same truth
parton / boson / top (both passing the cuts); view b goes to ``particle_features_b`` and
``jet_features_b``.

Bookkeeping: jets of one class go to shards of ``--shard-size`` jets; shard ``k`` of class ``c``
gets the Pythia seed ``SeedSequence([seed, index(c), k])``, so the output is byte-identical for a
seed whatever the number of workers. Shards are written atomically; a rerun into the same
folder keeps valid shards (resume), deletes crash leftovers, and refuses shards written with
other settings. After the last shard, ``preprocessing.json`` is fitted on the training split
(:data:`jetzoo.data.shards.DEFAULT_SPLIT`, seed 0, at most 100k jets) and ``manifest.json``
written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from jetzoo.data import engine
from jetzoo.data import shards as sh
from jetzoo.data.engine import GeneratorInfo, Shard, Simulated
from jetzoo.data.schema import (
    JET_FEATURES,
    JETNET_CLASSES,
    N_PARTICLES,
    PARTICLE_FEATURES,
    SHARD_FORMAT,
    SHARD_WRITER_VERSION,
    DataError,
    class_index,
)
from jetzoo.utils.extras import require

COMMON_SETTINGS: tuple[str, ...] = (
    "Beams:eCM = 13000.",
    "PartonLevel:MPI = off",
    "Next:numberCount = 0",
    "Print:quiet = on",
)
_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_HADRONIC_Z = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")
PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "q": (
        "HardQCD:qg2qg = on",
        "HardQCD:qq2qq = on",
        "HardQCD:qqbar2qqbarNew = on",
        "HardQCD:gg2qqbar = on",
        "HardQCD:nQuarkNew = 3",
    ),
    "g": ("HardQCD:gg2gg = on", "HardQCD:qg2qg = on", "HardQCD:qqbar2gg = on"),
    "t": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_HADRONIC_W),
    "w": ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *_HADRONIC_W),
    "z": (
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        "WeakZ0:gmZmode = 2",
        *_HADRONIC_Z,
    ),
}
_RESONANCE_ID = {"t": 6, "w": 24, "z": 23}
_LIGHT_QUARKS = (1, 2, 3)
MAX_JETS_PER_EVENT = 2
MAX_SEED = 900_000_000  # Pythia's Random:seed range


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything besides the seed that decides which jets come out (recorded in shards)."""

    pthat_min: float = 1000.0
    pthat_max: float | None = None  # PhaseSpace:pTHatMax (None: no upper edge)
    jet_pt_min: float = 800.0
    jet_pt_max: float = 1600.0
    jet_eta_max: float = 2.5
    jet_r: float = 0.8
    match_dr: float = 0.8
    particle_eta_max: float = 5.0
    pairs: bool = False
    extra_settings: tuple[str, ...] = ()

    def pythia_settings(self, jet_class: str, seed: int) -> list[str]:
        """The Pythia ``readString`` lines for one class and seed."""
        out = [
            *COMMON_SETTINGS,
            *PROCESS_SETTINGS[jet_class],
            f"PhaseSpace:pTHatMin = {self.pthat_min:g}",
            *([f"PhaseSpace:pTHatMax = {self.pthat_max:g}"] if self.pthat_max else []),
            "Random:setSeed = on",
            f"Random:seed = {seed}",
        ]
        if self.pairs:
            out.append("HadronLevel:all = off")
        return out + list(self.extra_settings)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["pthat_max"] is None:  # absent, as before it existed: older settings hashes hold
            del d["pthat_max"]
        d["extra_settings"] = list(self.extra_settings)
        d["processes"] = {c: list(s) for c, s in PROCESS_SETTINGS.items()}
        d["common_settings"] = list(COMMON_SETTINGS)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneratorConfig":
        """Inverse of :meth:`to_dict` (the recorded process lists are this jetzoo's)."""
        from dataclasses import fields

        kwargs = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        kwargs["extra_settings"] = tuple(kwargs.get("extra_settings", ()))
        return cls(**kwargs)

    def sha256(self) -> str:
        """Hash of :meth:`to_dict`; a shard from other settings is refused on resume."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


#: ``--preset jetnet``: JetNet's recipe as its papers state it (Kansal et al. 2106.11535, Sec. 2
#: and App.; the hls4ml jet set it derives from): partons and undecayed t/W/Z with pT in a window
#: of relative width 0.01 around 1 TeV, Pythia 8 with the Monash 2013 tune (Pythia's default)
#: and the underlying event (MPI on), anti-kT R = 0.8, jets 0.8 < pT / 1 TeV < 1.6. jetzoo's
#: default differs in two ways: pTHat > 1 TeV with no upper edge (a falling spectrum reaching
#: past 1.6 TeV before the jet cut) and MPI off (no underlying-event particles in the jets).
JETNET_PRESET: dict[str, Any] = {
    "pthat_min": 995.0,
    "pthat_max": 1005.0,
    "extra_settings": ("PartonLevel:MPI = on",),
}


@dataclass(frozen=True)
class ShardTask:
    """One shard to simulate: ``n_jets`` jets of ``jet_class`` with Pythia seed ``seed``."""

    index: int
    jet_class: str
    n_jets: int
    seed: int

    @property
    def name(self) -> str:
        return sh.shard_name(self.index)


@dataclass
class SimulationStats:
    """Counters and timings of one simulation run (what ``benchmarks/generate.py`` prints)."""

    n_jets: int = 0
    n_events: int = 0
    n_failed: int = 0
    t_init: float = 0.0  # seconds in Pythia's init() (once per shard)
    t_pythia: float = 0.0  # seconds in Pythia's next() / forceHadronLevel()
    t_cluster: float = 0.0  # seconds in the anti-kT clustering (SlowJet with fjcore, C++)
    t_total: float = 0.0  # seconds in generate(), init excluded

    def add(self, other: "SimulationStats") -> None:
        for k in asdict(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))


def shard_seed(seed: int, jet_class: str, k: int) -> int:
    """Pythia seed (1..9e8) of shard ``k`` of ``jet_class`` under the run seed ``seed``."""
    state = np.random.SeedSequence([int(seed), class_index(jet_class), int(k)]).generate_state(1)
    return int(state[0]) % MAX_SEED + 1


def plan_shards(
    classes: Sequence[str], jets_per_class: int, shard_size: int, seed: int
) -> list[ShardTask]:
    """The shards of a run, classes in JetNet order, numbered from 0."""
    if jets_per_class < 1 or shard_size < 1:
        raise ValueError("jets_per_class and shard_size must be >= 1")
    tasks: list[ShardTask] = []
    for c in sorted({JETNET_CLASSES[class_index(c)] for c in classes}, key=class_index):
        for k in range(math.ceil(jets_per_class / shard_size)):
            n = min(shard_size, jets_per_class - k * shard_size)
            tasks.append(ShardTask(len(tasks), c, n, shard_seed(seed, c, k)))
    return tasks


def _delta_phi(a: Any, b: Any) -> Any:
    """a - b wrapped into [-pi, pi) (floats or numpy arrays)."""
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def _delta_r(eta1: float, phi1: float, eta2: float, phi2: float) -> float:
    return math.hypot(eta1 - eta2, _delta_phi(phi1, phi2))


@dataclass
class _Truth:
    """A truth object a jet can be matched to: a hard parton or a (last-copy) t/W/Z."""

    index: int
    eta: float
    phi: float
    quarks: list[tuple[float, float]] = field(default_factory=list)  # (eta, phi) of decay quarks


def _decay_quarks(event: Any, i: int) -> list[tuple[float, float]]:
    """(eta, phi) of the quarks a t/W/Z decays to, following t -> W b -> q q' b."""
    out: list[tuple[float, float]] = []
    for d in event[event[i].iBotCopyId()].daughterList():
        p = event[d]
        if p.idAbs() in (6, 23, 24):
            out += _decay_quarks(event, d)
        elif 1 <= p.idAbs() <= 5:
            out.append((p.eta(), p.phi()))
        else:  # a lepton: the object does not make a hadronic jet
            out.append((math.inf, 0.0))
    return out


def truth_objects(event: Any, jet_class: str) -> list[_Truth]:
    """Truth objects of ``jet_class`` in a Pythia event (hard partons 5, 6 or t/W/Z copies)."""
    found = []
    for i in (5, 6):
        p = event[i]
        if p.statusAbs() not in (22, 23):
            continue
        if jet_class in _RESONANCE_ID:
            if p.idAbs() == _RESONANCE_ID[jet_class]:
                last = event[p.iBotCopyId()]
                found.append(_Truth(i, last.eta(), last.phi(), _decay_quarks(event, i)))
        elif (jet_class == "g" and p.id() == 21) or (
            jet_class == "q" and p.idAbs() in _LIGHT_QUARKS
        ):
            found.append(_Truth(i, p.eta(), p.phi()))
    return found


def jet_arrays(event: Any, slowjet: Any, j: int) -> tuple[np.ndarray, np.ndarray]:
    """JetNet features of jet ``j``: particle_features (30, 4) and jet_features (4,).

    pt_rel is the particle's share of the scalar pT sum of all constituents, so it sums to 1
    over all constituents and to <= 1 over the 30 kept; pT / pT_jet (vector sum) is larger by
    0.3-0.8% on average for 1 TeV jets. (Plain lists: a numpy call per jet costs more than
    the ~60 values it would hold.)"""
    jet_eta, jet_phi = slowjet.p(j).eta(), slowjet.phi(j)
    parts = [event[k] for k in slowjet.constituents(j)]
    pts = [p.pT() for p in parts]
    total = sum(pts)
    top = sorted(range(len(pts)), key=pts.__getitem__, reverse=True)[:N_PARTICLES]  # stable
    pf = np.zeros((N_PARTICLES, len(PARTICLE_FEATURES)), np.float32)
    pf[: len(top)] = [
        (parts[k].eta() - jet_eta, _delta_phi(parts[k].phi(), jet_phi), pts[k] / total, 1.0)
        for k in top
    ]
    jf = np.array([slowjet.pT(j), jet_eta, slowjet.m(j), len(parts)], np.float32)
    return pf, jf


class JetNetSimulator:
    """One Pythia instance and one anti-kT clusterer producing labelled jets of one class."""

    def __init__(self, config: GeneratorConfig, jet_class: str, seed: int) -> None:
        pythia8mc = require("pythia8mc", "jetzoo generate jetnet")

        self.config, self.jet_class = config, JETNET_CLASSES[class_index(jet_class)]
        self._p8 = pythia8mc
        self.stats = SimulationStats()
        t0 = time.perf_counter()
        self.pythia = pythia8mc.Pythia("", False)
        for line in config.pythia_settings(self.jet_class, seed):
            if not self.pythia.readString(line):
                raise ValueError(f"Pythia rejected the setting {line!r}")
        if not self.pythia.init():
            raise RuntimeError(f"Pythia initialisation failed for class {jet_class!r}")
        self.stats.t_init = time.perf_counter() - t0
        # anti-kT (power -1), R, jet pT > 50 GeV, particles |eta| < particle_eta_max, visible
        # final state (select 2), true masses (massSet 2), no hook, fjcore, standard dR.
        self.slowjet = pythia8mc.SlowJet(
            -1, config.jet_r, 50.0, config.particle_eta_max, 2, 2, None, True, True
        )

    def _matched_jets(self, truths: list[_Truth]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Cluster the current event; truth index -> features of its matched, accepted jet."""
        c = self.config
        event, sj = self.pythia.event, self.slowjet
        t0 = time.perf_counter()
        sj.analyze(event)
        self.stats.t_cluster += time.perf_counter() - t0
        axes = [(sj.p(j).eta(), sj.phi(j)) for j in range(sj.sizeJet())]
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        used: set[int] = set()
        for t in truths:
            if not axes:
                break
            dr = [_delta_r(t.eta, t.phi, e, p) for e, p in axes]
            j = min(range(len(dr)), key=dr.__getitem__)
            if (
                j not in used
                and dr[j] < c.match_dr
                and c.jet_pt_min < sj.pT(j) < c.jet_pt_max
                and abs(axes[j][0]) < c.jet_eta_max
                and all(_delta_r(qe, qp, *axes[j]) < c.match_dr for qe, qp in t.quarks)
            ):
                used.add(j)
                out[t.index] = jet_arrays(event, sj, j)
        return out

    def _timed(self, call: Callable[[], bool]) -> bool:
        t0 = time.perf_counter()
        ok = call()
        self.stats.t_pythia += time.perf_counter() - t0
        return ok

    def next_jets(self) -> list[tuple[np.ndarray, ...]]:
        """Simulate one event; returns its accepted jets as (pf, jf) or, with pairs,
        (pf_a, jf_a, pf_b, jf_b), in decreasing jet pT (view a), at most two."""
        py = self.pythia
        self.stats.n_events += 1
        if not self._timed(py.next):
            self.stats.n_failed += 1
            return []
        truths = truth_objects(py.event, self.jet_class)
        if not truths:
            return []
        if not self.config.pairs:
            views = [self._matched_jets(truths)]
        else:
            parton_level = self._p8.Event(py.event)
            views = []
            for _ in range(2):
                py.event.assign(parton_level)
                if not self._timed(py.forceHadronLevel):
                    self.stats.n_failed += 1
                    return []
                views.append(self._matched_jets(truths))
        keys = [k for k in views[0] if all(k in v for v in views)]
        keys.sort(key=lambda k: -float(views[0][k][1][0]))
        return [tuple(a for v in views for a in v[k]) for k in keys[:MAX_JETS_PER_EVENT]]

    def generate(
        self,
        n_jets: int,
        progress: Callable[[int], None] | None = None,
        max_events: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Simulate until ``n_jets`` jets are accepted; returns the shard arrays."""
        t0 = time.perf_counter()
        max_events = max_events or 1000 + 500 * n_jets
        jets: list[tuple[np.ndarray, ...]] = []
        while len(jets) < n_jets:
            if self.stats.n_events >= max_events:
                raise RuntimeError(
                    f"only {len(jets)} {self.jet_class} jets in "
                    f"{self.stats.n_events} events: cuts too tight?"
                )
            new = self.next_jets()[: n_jets - len(jets)]
            jets += new
            if new and progress is not None:
                progress(len(new))
        self.stats.n_jets += len(jets)
        self.stats.t_total += time.perf_counter() - t0
        cols = [np.stack(col) for col in zip(*jets)]
        labels = np.full(n_jets, class_index(self.jet_class), np.int64)
        return sh.shard_arrays(cols[0], cols[1], labels, *cols[2:])


def _shard_attrs(task: ShardTask, config: GeneratorConfig) -> dict[str, Any]:
    return {
        "format": SHARD_FORMAT,
        "classes": json.dumps(list(JETNET_CLASSES)),
        "jet_class": task.jet_class,
        "seed": task.seed,
        "n_jets": task.n_jets,
        "pairs": int(config.pairs),
        "settings_sha256": config.sha256(),
        "particle_features": json.dumps(list(PARTICLE_FEATURES)),
        "jet_features": json.dumps(list(JET_FEATURES)),
        "jetzoo_version": SHARD_WRITER_VERSION,
    }


def _entry(task: ShardTask, sha256: str) -> dict[str, Any]:
    return {
        "file": task.name,
        "class": task.jet_class,
        "n_jets": task.n_jets,
        "seed": task.seed,
        "sha256": sha256,
    }


def generate_shard(
    task: ShardTask,
    config: GeneratorConfig,
    out: str | Path,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Simulate and write one shard; returns ``{"entry": its manifest entry, "stats": its
    counters and timings}``."""
    sim = JetNetSimulator(config, task.jet_class, task.seed)
    arrays = sim.generate(task.n_jets, progress)
    digest = sh.write_shard(Path(out) / task.name, arrays, _shard_attrs(task, config))
    return {"entry": _entry(task, digest), "stats": {"class": task.jet_class, **asdict(sim.stats)}}


@dataclass(frozen=True)
class JetNetGenerator:
    """The JetNet-like generator as the engine (:mod:`jetzoo.data.engine`) runs it."""

    classes: tuple[str, ...]
    jets_per_class: int
    seed: int
    shard_size: int
    config: GeneratorConfig
    command_line: str | None = None

    info = GeneratorInfo(SHARD_FORMAT, "jetzoo generate jetnet", "jet")

    @classmethod
    def from_plan(cls, plan: dict[str, Any], out: Path) -> "JetNetGenerator":
        """The generator of a recorded plan; refuses settings this jetzoo would not reproduce."""
        config = GeneratorConfig.from_dict(plan["settings"])
        if config.sha256() != plan["settings_sha256"]:
            raise DataError(
                f"{out}: the recorded generator settings are not those of this jetzoo "
                "(settings_sha256 differs); merge with the jetzoo that generated them"
            )
        return cls(
            tuple(plan["classes"]),
            plan["jets_per_class"],
            plan["seed"],
            plan["shard_size"],
            config,
            plan["command"],
        )

    def _tasks(self) -> list[ShardTask]:
        return plan_shards(self.classes, self.jets_per_class, self.shard_size, self.seed)

    def plan(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "jets_per_class": self.jets_per_class,
            "seed": self.seed,
            "shard_size": self.shard_size,
            "settings": self.config.to_dict(),
            "settings_sha256": self.config.sha256(),
            "command": self.command_line,
        }

    def shards(self) -> list[Shard]:
        return [Shard(t.name, t.n_jets, (t,)) for t in self._tasks()]

    def check_folder(self, out: Path, shards: list[Shard], whole_run: bool) -> None:
        planned = {s.file for s in shards}
        strays = sorted(p.name for p in out.glob(sh.SHARD_GLOB) if p.name not in planned)
        if strays:
            raise DataError(
                f"{out / strays[0]}: this run would not write this shard (different "
                f"--classes / --jets-per-class?); write to a new --out folder"
            )

    def existing(self, out: Path, shard: Shard) -> dict[str, Any] | None:
        """A shard written with other settings raises DataError (never overwritten silently)."""
        (task,) = shard.key
        path = out / task.name
        if not path.exists():
            return None
        try:
            info = sh.inspect_file(path)
        except DataError as err:
            print(f"jetzoo: regenerating invalid shard ({err})", file=sys.stderr)
            path.unlink()
            return None
        want = _shard_attrs(task, self.config)
        for key in ("settings_sha256", "seed", "jet_class", "n_jets", "pairs"):
            if info.attrs.get(key) != want[key]:
                raise DataError(
                    f"{path}: attribute {key!r} is {info.attrs.get(key)!r} but this run "
                    f"needs {want[key]!r}; write to a new --out folder"
                )
        return _entry(task, sh.sha256_file(path))

    def simulate(
        self, out: Path, shard: Shard, progress: Callable[[int], None] | None
    ) -> dict[str, Any]:
        return generate_shard(shard.key[0], self.config, out, progress)

    def command(self, out: Path) -> str:
        return self.command_line or _command(
            self.classes, self.jets_per_class, self.seed, self.shard_size, self.config, out
        )

    def finalize(self, out: Path, run: Simulated) -> dict[str, Any]:
        """Fit ``preprocessing.json`` on the training split and write ``manifest.json``;
        returns the manifest with the run's timing (which the file does not hold)."""
        tasks = self._tasks()
        by_name = {e["file"]: e for e in run.entries}
        missing = [t.name for t in tasks if t.name not in by_name]
        if missing:
            raise DataError(f"{out / missing[0]}: planned shard missing from the run")
        shard_list = [
            {k: by_name[t.name][k] for k in ("file", "class", "n_jets", "seed", "sha256")}
            for t in tasks
        ]
        infos = [sh.inspect_file(out / e["file"]) for e in shard_list]
        train, _, _ = sh.split_indices(sum(i.n_jets for i in infos))
        sh.fit_preprocessing(infos, train).save(out / sh.PREPROCESSING_NAME)
        from jetzoo import __version__

        manifest = {
            "format": SHARD_FORMAT,
            "jetzoo_version": __version__,  # what ran (the shards carry SHARD_WRITER_VERSION)
            "command": self.command(out),
            "seed": self.seed,
            "classes": sorted({t.jet_class for t in tasks}, key=class_index),
            "jets_per_class": self.jets_per_class,
            "shard_size": self.shard_size,
            "pairs": self.config.pairs,
            "n_jets": sum(e["n_jets"] for e in shard_list),
            "settings": self.config.to_dict(),
            "settings_sha256": self.config.sha256(),
            "split": {"fractions": list(sh.DEFAULT_SPLIT), "seed": sh.DEFAULT_SPLIT_SEED},
            "preprocessing": sh.PREPROCESSING_NAME,
            "shards": shard_list,
            "dataset_sha256": sh.dataset_sha256(e["sha256"] for e in shard_list),
        }
        sh.write_manifest(out, manifest)
        return {**manifest, "timing": _timing(run.stats, run.seconds)}


def _timing(stats: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Wall time and the per-class simulation counters of the shards simulated by a run."""
    per_class: dict[str, SimulationStats] = {}
    for s in stats:
        s = dict(s)
        per_class.setdefault(s.pop("class"), SimulationStats()).add(SimulationStats(**s))
    return {"wall_s": seconds, "per_class": {c: asdict(s) for c, s in per_class.items()}}


def generate(
    out: str | Path,
    classes: Sequence[str] = JETNET_CLASSES,
    jets_per_class: int = 1000,
    seed: int = 0,
    workers: int | None = None,
    shard_size: int = 1000,
    config: GeneratorConfig | None = None,
    progress: bool = True,
    command: str | None = None,
    shard_index: int | None = None,
    num_shards: int | None = None,
) -> dict[str, Any]:
    """Generate (or resume) a JetNet-like dataset in ``out``; returns the manifest.

    Shards already present and valid are kept; the rest are simulated on ``workers``
    processes (default: all cores). Writes ``preprocessing.json`` and ``manifest.json``.
    With ``shard_index`` / ``num_shards`` (an array job's task), only that task's share of the
    planned shards is simulated and a part manifest written instead (:mod:`jetzoo.data.parts`;
    ``jetzoo data merge`` ends the run); returns the part.
    """
    gen = JetNetGenerator(
        tuple(classes), jets_per_class, seed, shard_size, config or GeneratorConfig(), command
    )
    result = engine.run(gen, out, workers, progress, shard_index, num_shards)
    if "part" in result:
        result["n_jets"] = sum(e["n_jets"] for e in result["shards"])
        result["timing"] = _timing(result["stats"], result["seconds"])
    return result


def _command(
    classes: Sequence[str],
    jets_per_class: int,
    seed: int,
    shard_size: int,
    config: GeneratorConfig,
    out: Path,
) -> str:
    """The CLI line that reproduces a run (recorded in the manifest)."""
    d = GeneratorConfig()
    parts = [
        "jetzoo generate jetnet",
        f"--classes {','.join(classes)}",
        f"--jets-per-class {jets_per_class}",
        f"--seed {seed}",
        f"--shard-size {shard_size}",
    ]
    for name in ("pthat_min", "pthat_max", "jet_pt_min", "jet_pt_max", "jet_eta_max", "jet_r"):
        if getattr(config, name) != getattr(d, name):
            parts.append(f"--{name.replace('_', '-')} {getattr(config, name):g}")
    parts += [f"--set '{s}'" for s in config.extra_settings]
    if config.pairs:
        parts.append("--pairs")
    return " ".join(parts + [f"--out {out.name}"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``jetzoo generate jetnet``."""
    d = GeneratorConfig()
    parser.add_argument(
        "--classes",
        default=",".join(JETNET_CLASSES),
        help="comma-separated jet classes among q,g,t,w,z (default: all)",
    )
    parser.add_argument("--jets-per-class", type=int, required=True, help="jets of each class")
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder (resumed if present)"
    )
    parser.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument(
        "--shard-size", type=int, default=1000, help="jets per shard (default 1000)"
    )
    parser.add_argument(
        "--pairs",
        action="store_true",
        help="two hadronizations of each parton event (writes *_b keys)",
    )
    parser.add_argument(
        "--preset",
        choices=("jetnet",),
        default=None,
        help="jetnet: JetNet's recipe (pTHat 995-1005 GeV, underlying event on); "
        "explicit flags override it",
    )
    parser.add_argument(
        "--pthat-min",
        type=float,
        default=None,
        help=f"Pythia pTHatMin [GeV] (default {d.pthat_min:g})",
    )
    parser.add_argument(
        "--pthat-max", type=float, default=None, help="Pythia pTHatMax [GeV] (default: none)"
    )
    parser.add_argument(
        "--jet-pt-min", type=float, default=d.jet_pt_min, help="jet pT window [GeV]"
    )
    parser.add_argument(
        "--jet-pt-max", type=float, default=d.jet_pt_max, help="jet pT window [GeV]"
    )
    parser.add_argument("--jet-eta-max", type=float, default=d.jet_eta_max, help="jet |eta| cut")
    parser.add_argument(
        "--jet-r",
        type=float,
        default=d.jet_r,
        help=f"anti-kT radius R (default {d.jet_r:g}); truth matching and the containment of "
        "t/W/Z decays use the same R",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="'KEY = VALUE'",
        help="extra Pythia setting, repeatable (e.g. 'PartonLevel:MPI = on')",
    )
    from jetzoo.data.parts import add_shard_arguments

    add_shard_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def make_config(args: argparse.Namespace) -> GeneratorConfig:
    """The GeneratorConfig of the command line: defaults, then ``--preset``, then the flags."""
    base: dict[str, Any] = asdict(GeneratorConfig())
    if args.preset == "jetnet":
        base.update(JETNET_PRESET)
    for name in ("pthat_min", "pthat_max"):
        if getattr(args, name) is not None:
            base[name] = getattr(args, name)
    if base["pthat_max"] is not None and base["pthat_max"] <= base["pthat_min"]:
        raise ValueError(
            f"--pthat-max ({base['pthat_max']:g}) must be above --pthat-min ({base['pthat_min']:g})"
        )
    base.update(
        jet_pt_min=args.jet_pt_min,
        jet_pt_max=args.jet_pt_max,
        jet_eta_max=args.jet_eta_max,
        jet_r=args.jet_r,
        match_dr=args.jet_r,
        pairs=args.pairs,
        extra_settings=tuple(base["extra_settings"]) + tuple(args.settings),
    )
    return GeneratorConfig(**base)


def main(args: argparse.Namespace) -> int:
    """Run ``jetzoo generate jetnet``; prints the per-class rates. Returns the exit code."""
    try:
        classes = [c for c in args.classes.split(",") if c.strip()]
        for c in classes:
            class_index(c)
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        config = make_config(args)
        manifest = generate(
            args.out,
            classes,
            args.jets_per_class,
            args.seed,
            args.workers,
            args.shard_size,
            config,
            progress=not args.no_progress,
            shard_index=args.shard_index,
            num_shards=args.num_shards,
        )
    except (DataError, ValueError) as err:
        print(f"jetzoo generate jetnet: error: {err}", file=sys.stderr)
        return 2
    timing = manifest["timing"]
    if "part" in manifest:
        print(
            f"wrote {manifest['n_jets']} jets in {len(manifest['shards'])} shards and "
            f"{manifest['part']} in {timing['wall_s']:.1f} s; when every task is done: "
            f"jetzoo data merge {args.out}"
        )
        return 0
    for c, s in timing["per_class"].items():
        print(
            f"  {c}: {s['n_jets']} jets from {s['n_events']} events, "
            f"{s['n_jets'] / max(s['t_total'], 1e-9):.1f} jets/s per worker"
        )
    print(
        f"wrote {manifest['n_jets']} jets in {len(manifest['shards'])} shards to {args.out} "
        f"in {timing['wall_s']:.1f} s; dataset sha256 {manifest['dataset_sha256'][:16]}"
    )
    return 0
