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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from jetzoo.data import engine
from jetzoo.data.clustering import FourMomenta, antikt_many
from jetzoo.data.engine import GeneratorInfo, Shard, Simulated
from jetzoo.data.rs3l_schema import (
    DARK_MODELS,
    HADRON_JET_FEATURES,
    JET_FEATURES,
    RS3L_CLASSES,
    RS3L_FORMAT,
    SM_CLASSES,
    VIEW_SUFFIXES,
    rs3l_class_index,
)
from jetzoo.data.schema import DataError
from jetzoo.detector import Detector, DetectorConfig, Particles, is_invisible, wrap_phi
from jetzoo.utils.extras import require

# ------------------------------------------------------------------------------ physics setup
SM_PROCESSES: dict[str, tuple[str, ...]] = {
    "q": ("HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:gg2qqbar = on"),
    "g": ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"),
    "tau": ("WeakSingleBoson:ffbar2ffbar(s:gmZ) = on", "23:onMode = off", "23:onIfAny = 15"),
}


@dataclass(frozen=True)
class DarkModel:
    """A Hidden Valley dark-QCD parameter set: SU(n_colours) with n_flavours dark quarks,
    confinement scale ``lambda_d`` and dark quark / pion / rho masses (GeV). Dark mesons decay
    promptly to SM quarks (all visible, as in the ATLAS resonant dark-quark search)."""

    n_colours: int
    n_flavours: int
    lambda_d: float
    m_quark: float
    m_pion: float
    m_rho: float


# Four parameter sets in the spirit of the ATLAS search for resonant dark-quark production
# (JHEP 02 (2024) 128), cited by Rieck et al.: from heavy dark hadrons and few flavours (A: a few
# massive dark mesons decaying to c or b pairs, a sparse, wide, high-mass jet) to light dark
# hadrons and many flavours (D: many light mesons, a QCD-like but denser jet). The numbers are
# chosen here to span that range with jets an R = 0.4 anti-kT jet still contains (dark pions
# of 20 GeV at pT ~ 150 GeV spread over dR ~ 1 and give no parton-matched jet); they are not
# copied from the ATLAS table (not available offline).
DARK_MODEL_PARAMS: dict[str, DarkModel] = {
    "A": DarkModel(n_colours=3, n_flavours=2, lambda_d=8.0, m_quark=4.0, m_pion=8.0, m_rho=20.0),
    "B": DarkModel(n_colours=3, n_flavours=2, lambda_d=5.0, m_quark=5.0, m_pion=10.0, m_rho=12.0),
    "C": DarkModel(n_colours=3, n_flavours=4, lambda_d=2.0, m_quark=1.0, m_pion=2.0, m_rho=5.0),
    "D": DarkModel(n_colours=3, n_flavours=6, lambda_d=1.0, m_quark=0.5, m_pion=1.0, m_rho=2.5),
}


def _heaviest_quark_below(mass: float) -> int:
    """PDG id of the heaviest SM quark pair a dark meson of ``mass`` can decay to."""
    for pid, m in ((5, 4.8), (4, 1.5), (3, 0.5)):
        if mass > 2 * m + 0.1:
            return pid
    return 1


def dark_settings(model: DarkModel, zprime_mass: float, zprime_width: float) -> list[str]:
    """Pythia strings for ``HiddenValley:ffbar2Zv`` with Z' -> dark quarks and ``model``.

    The Z' width is forced to ``zprime_width`` (mass range 200-1500 GeV): with the parton
    luminosities this gives a falling dijet-mass spectrum, so the dark jets' pT spectrum
    resembles the SM one and the resampling to the SM keeps ~30% of them (a narrow Z' keeps
    ~15%).
    """
    q_pi = _heaviest_quark_below(model.m_pion)
    s = [
        "HiddenValley:ffbar2Zv = on",
        f"4900023:m0 = {zprime_mass:g}",
        "4900023:onMode = off",
        "4900023:onIfAny = 4900101",
        "4900023:doForceWidth = on",
        f"4900023:mWidth = {zprime_width:g}",
        "4900023:mMin = 200",
        "4900023:mMax = 1500",
        f"HiddenValley:Ngauge = {model.n_colours}",
        f"HiddenValley:nFlav = {model.n_flavours}",
        "HiddenValley:spinFv = 0",
        "HiddenValley:FSR = on",
        "HiddenValley:fragment = on",
        "HiddenValley:alphaOrder = 1",
        "HiddenValley:setLambda = on",
        f"HiddenValley:Lambda = {model.lambda_d:g}",
        f"HiddenValley:pTminFSR = {1.1 * model.lambda_d:g}",
        "HiddenValley:probVector = 0.75",
        f"4900101:m0 = {model.m_quark:g}",
        f"4900111:m0 = {model.m_pion:g}",
        f"4900211:m0 = {model.m_pion:g}",
        f"4900113:m0 = {model.m_rho:g}",
        f"4900213:m0 = {model.m_rho:g}",
        f"4900111:oneChannel = 1 1.0 91 {q_pi} -{q_pi}",
        f"4900211:oneChannel = 1 1.0 91 {q_pi} -{q_pi}",
        "4900211:mayDecay = on",
    ]
    if model.m_rho > 2 * model.m_pion:
        s += [
            "4900113:oneChannel = 1 1.0 0 4900211 -4900211",
            "4900213:oneChannel = 1 1.0 0 4900211 4900111",
        ]
    else:
        q_rho = _heaviest_quark_below(model.m_rho)
        s += [
            f"4900113:oneChannel = 1 1.0 91 {q_rho} -{q_rho}",
            f"4900213:oneChannel = 1 1.0 91 {q_rho} -{q_rho}",
        ]
    return s


@dataclass
class GenerationConfig:
    """Every setting of an RS3L generation (written to the manifest and each shard)."""

    seed: int = 0
    pt_hat_min: float = 100.0
    parton_eta_max: float = 3.0
    mpi: bool = True
    pileup_mu: float = 0.0
    pileup_z_width: float = 50.0  # mm
    pileup_pool: int = 400
    zprime_mass: float = 400.0  # GeV
    zprime_width: float = 200.0  # GeV, forced: a broad, falling spectrum like the SM dijets
    jet_r: float = 0.4
    det_jet_pt_min: float = 25.0
    had_jet_pt_min: float = 50.0
    track_dr: float = 0.4
    track_z0_max: float = 2.0  # mm
    origin_match_dr: float = 0.4
    det_match_dr: float = 0.3
    view_match_dr: float = 0.2
    max_pt_asymmetry: float = 0.3
    max_tau_attempts: int = 2000
    tau_spin_correlations: bool = False  # TauDecays:mode = 1: ~200x slower per tau re-draw
    detector: dict[str, Any] = field(default_factory=dict)  # DetectorConfig overrides

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pythia_settings(kind: str, cfg: GenerationConfig, pythia_seed: int) -> list[str]:
    """All Pythia strings for class ``kind`` (``q``, ``g``, ``tau`` or ``dark_X``)."""
    common = [
        "Beams:eCM = 13000",
        "HadronLevel:all = off",
        "Next:numberCount = 0",
        "Print:quiet = on",
        "Random:setSeed = on",
        f"Random:seed = {pythia_seed}",
        f"PartonLevel:MPI = {'on' if cfg.mpi else 'off'}",
        "ParticleDecays:limitTau0 = on",
        "ParticleDecays:tau0Max = 10",
        "15:offIfAny = 11 13",  # hadronic tau decays only
        f"TauDecays:mode = {1 if cfg.tau_spin_correlations else 0}",
    ]
    if kind in SM_PROCESSES:
        return common + list(SM_PROCESSES[kind]) + [f"PhaseSpace:pTHatMin = {cfg.pt_hat_min:g}"]
    if kind.startswith("dark_") and kind[5:] in DARK_MODEL_PARAMS:
        return common + dark_settings(
            DARK_MODEL_PARAMS[kind[5:]], cfg.zprime_mass, cfg.zprime_width
        )
    raise ValueError(f"unknown RS3L process {kind!r}; known: {', '.join(RS3L_CLASSES)}")


def label_of(pid: int, kind: str) -> int:
    """Class index of a hard-process parton with PDG id ``pid`` in a ``kind`` event, or -1."""
    a = abs(pid)
    if kind.startswith("dark_"):
        return rs3l_class_index(kind) if 4_900_101 <= a <= 4_900_108 else -1
    if 1 <= a <= 5:
        return rs3l_class_index("q")
    if a == 21:
        return rs3l_class_index("g")
    if a == 15:
        return rs3l_class_index("tau")
    return -1


# ------------------------------------------------------------------------------ event records
def final_state(event: Any) -> Particles:
    """The final-state particles of a Pythia event as :class:`Particles` (one pass)."""
    rows = [
        (p.px(), p.py(), p.pz(), p.e(), p.id(), p.charge(), p.xProd(), p.yProd(), p.zProd())
        for p in event.particles()
        if p.isFinal()
    ]
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 9)
    return Particles(
        a[:, 0],
        a[:, 1],
        a[:, 2],
        a[:, 3],
        a[:, 4].astype(np.int64),
        a[:, 5],
        a[:, 6],
        a[:, 7],
        a[:, 8],
    )


def record_table(event: Any, n: int | None = None) -> np.ndarray:
    """``(n, 5)`` = (id, px, py, pz, e) of the first ``n`` record entries (all by default)."""
    n = event.size() if n is None else n
    return np.array(
        [
            (event[i].id(), event[i].px(), event[i].py(), event[i].pz(), event[i].e())
            for i in range(n)
        ],
        dtype=np.float64,
    ).reshape(-1, 5)


class PileupPool:
    """Minimum-bias (``SoftQCD:inelastic``) events, generated once and overlaid many times."""

    def __init__(self, n_events: int, pythia_seed: int, min_pt: float) -> None:
        pythia8mc = require("pythia8mc", "jetzoo generate rs3l")

        py = pythia8mc.Pythia("", False)
        for s in (
            "Beams:eCM = 13000",
            "SoftQCD:inelastic = on",
            "Next:numberCount = 0",
            "Print:quiet = on",
            "Random:setSeed = on",
            f"Random:seed = {pythia_seed}",
            "ParticleDecays:limitTau0 = on",
            "ParticleDecays:tau0Max = 10",
        ):
            py.readString(s)
        if not py.init():
            raise RuntimeError("Pythia failed to initialise the pile-up generator")
        self.events: list[Particles] = []
        while len(self.events) < n_events:
            if py.next():
                p = final_state(py.event)
                self.events.append(p.select(p.pt >= min_pt))

    def overlay(self, mu: float, z_width: float, rng: np.random.Generator) -> Particles | None:
        """Poisson(mu) pool events, each rotated in phi and moved to a vertex z ~ N(0, z_width)."""
        n = rng.poisson(mu)
        if n == 0:
            return None
        parts = []
        for k in rng.integers(0, len(self.events), n):
            p = self.events[k]
            c, s = np.cos(a := rng.uniform(-np.pi, np.pi)), np.sin(a)
            parts.append(
                p._replace(
                    px=c * p.px - s * p.py,
                    py=s * p.px + c * p.py,
                    x=c * p.x - s * p.y,
                    y=s * p.x + c * p.y,
                    z=p.z + rng.normal(0.0, z_width),
                )
            )
        return Particles.concatenate(parts)


@dataclass
class EventViews:
    """One parton-level event hadronized twice."""

    views: tuple[Particles, Particles]
    origins: np.ndarray  # (k, 4) = record index, pdg id, eta, phi of the hard-process partons
    tau_attempts: int  # tau-decay draws of view b needed to repeat view a's channels
    n_parton: int  # size of the shared parton-level record
    tau_channels: tuple = ()  # per view: per tau the sorted daughter ids (tau events only)
    records: tuple[np.ndarray, ...] = ()  # (parton record, view a record, view b record)


class Resimulator:
    """Pythia set up for one class: parton-level events, each hadronized into two views."""

    def __init__(
        self, kind: str, cfg: GenerationConfig, pythia_seed: int, keep_records: bool = False
    ) -> None:
        pythia8mc = require("pythia8mc", "jetzoo generate rs3l")

        self.kind, self.cfg, self.keep_records = kind, cfg, keep_records
        self._p8 = pythia8mc
        self.pythia = pythia8mc.Pythia("", False)
        for s in pythia_settings(kind, cfg, pythia_seed):
            if not self.pythia.readString(s):
                raise ValueError(f"Pythia rejected the setting {s!r}")
        if not self.pythia.init():
            raise RuntimeError(f"Pythia failed to initialise for {kind!r}")
        self.n_rejected = 0  # parton-level events outside the acceptance
        self.n_failed = 0  # tau decay channels not repeated within max_tau_attempts
        self.attempts = 0  # tau-decay draws of the current view

    def _origins(self) -> np.ndarray | None:
        ev = self.pythia.event
        rows = [
            (i, ev[i].id(), ev[i].eta(), ev[i].phi(), ev[i].pT())
            for i in range(ev.size())
            if abs(ev[i].status()) == 23
        ]
        o = np.array(rows, dtype=np.float64).reshape(-1, 5)
        if (
            len(o) == 0
            or (np.abs(o[:, 2]) >= self.cfg.parton_eta_max).any()
            or (o[:, 4] < self.cfg.pt_hat_min).any()
        ):
            return None
        return o[:, :4]

    def _tau_channels(self, taus: list[int]) -> tuple[tuple[int, ...], ...] | None:
        """Daughter ids of each tau; None if a tau has other than 1 or 3 charged prongs."""
        ev = self.pythia.event
        out = []
        for i in taus:
            tau = ev[i]
            prongs = sum(
                1 for j in tau.daughterListRecursive() if ev[j].isFinal() and ev[j].isCharged()
            )
            if prongs not in (1, 3):
                return None
            out.append(tuple(sorted(ev[j].id() for j in tau.daughterList())))
        return tuple(out)

    def _hadronize(self, saved: Any) -> bool:
        """Refill the event with the parton-level copy and hadronize it. The copy already
        holds its junctions, so they are not searched again (``findJunctions = False``:
        re-finding them fails for colour-reconnected MPI events)."""
        self.pythia.event.assign(saved)
        return bool(self.pythia.forceHadronLevel(False))

    def _decay_taus(self, taus: list[int], want: tuple | None) -> tuple | None:
        """Hadronize with the taus kept stable, then re-draw only the tau decays until every
        tau has 1 or 3 charged prongs and, if ``want`` is given, these exact channels.
        Returns the channels, or None after ``max_tau_attempts``. ``self.attempts`` counts."""
        pd = self.pythia.particleData
        pd.mayDecay(15, False)
        try:
            ok = self._hadronize(self._saved)
        finally:
            pd.mayDecay(15, True)
        if not ok:
            return None
        hadrons = self._p8.Event(self.pythia.event)
        for _ in range(self.cfg.max_tau_attempts):
            self.attempts += 1
            self.pythia.event.assign(hadrons)
            if not self.pythia.moreDecays():
                continue
            channels = self._tau_channels(taus)
            if channels is not None and (want is None or channels == want):
                return channels
        return None

    def next_event(self) -> EventViews | None:
        """The next accepted event with its two views; None (counted in ``n_failed``) if a
        view could not be hadronized or the tau decay channels were not repeated within
        ``max_tau_attempts`` draws."""
        py = self.pythia
        while True:
            if not py.next():
                continue
            origins = self._origins()
            if origins is not None:
                break
            self.n_rejected += 1
        self._saved = saved = self._p8.Event(py.event)
        n_parton = saved.size()
        taus = [i for i in range(n_parton) if saved[i].idAbs() == 15 and saved[i].isFinal()]
        views: list[Particles] = []
        records: list[np.ndarray] = [record_table(saved)] if self.keep_records else []
        channels: list[tuple] = []
        tau_attempts = 0
        for view in range(2):
            self.attempts = 0
            if taus:
                found = self._decay_taus(taus, channels[0] if view else None)
                ok = found is not None
                channels.append(found)
                tau_attempts = self.attempts if view else tau_attempts
            else:
                ok = any(self._hadronize(saved) for _ in range(3))
            if not ok:
                self.n_failed += 1
                return None
            views.append(final_state(py.event))
            if self.keep_records:
                records.append(record_table(py.event))
        return EventViews(
            views=(views[0], views[1]),
            origins=origins,
            tau_attempts=tau_attempts,
            n_parton=n_parton,
            tau_channels=tuple(channels),
            records=tuple(records),
        )


# ------------------------------------------------------------------------------ jets
def delta_r(eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    """Pairwise dR between two sets of directions, shape ``(len(1), len(2))``."""
    deta = np.asarray(eta1)[:, None] - np.asarray(eta2)[None, :]
    dphi = wrap_phi(np.asarray(phi1)[:, None] - np.asarray(phi2)[None, :])
    return np.hypot(deta, dphi)


@dataclass
class ViewJets:
    """One view's jets matched to the hard-process partons (by origin row)."""

    det: dict[int, int]  # origin row -> detector-jet index
    had: dict[int, int]  # origin row -> hadron-jet index
    det_kin: np.ndarray  # (n, 4) pt, eta, phi, mass
    had_kin: np.ndarray
    det_consts: list[np.ndarray]
    tracks: np.ndarray
    cells: np.ndarray


def view_inputs(particles: Particles, cells: np.ndarray) -> tuple[FourMomenta, FourMomenta]:
    """The four-momenta one view clusters: visible hadron-level particles, calorimeter cells
    (massless, at the cell centre)."""
    vis = particles.select(~is_invisible(particles.pid))
    pt_c = cells[:, 0] / np.cosh(cells[:, 1])
    return (vis.px, vis.py, vis.pz, vis.e), (
        pt_c * np.cos(cells[:, 2]),
        pt_c * np.sin(cells[:, 2]),
        pt_c * np.sinh(cells[:, 1]),
        cells[:, 0],
    )


def match_view(
    hadron_jets: tuple[np.ndarray, list[np.ndarray]],
    cell_jets: tuple[np.ndarray, list[np.ndarray]],
    tracks: np.ndarray,
    cells: np.ndarray,
    origins: np.ndarray,
    cfg: GenerationConfig,
) -> ViewJets:
    """Match one view's hadron-level and detector jets (:func:`view_inputs` clustered) to the
    partons."""
    had_kin, _ = hadron_jets
    det_kin, det_consts = cell_jets
    had, det = {}, {}
    if len(had_kin) and len(origins):
        dr = delta_r(origins[:, 2], origins[:, 3], had_kin[:, 1], had_kin[:, 2])
        for k in range(len(origins)):
            j = int(np.argmin(dr[k]))
            if dr[k, j] < cfg.origin_match_dr and int(np.argmin(dr[:, j])) == k:
                had[k] = j
    if had and len(det_kin):
        dr = delta_r(had_kin[:, 1], had_kin[:, 2], det_kin[:, 1], det_kin[:, 2])
        for k, j in had.items():
            d = int(np.argmin(dr[j]))
            if dr[j, d] < cfg.det_match_dr:
                det[k] = d
    return ViewJets(
        det=det,
        had=had,
        det_kin=det_kin,
        had_kin=had_kin,
        det_consts=det_consts,
        tracks=tracks,
        cells=cells,
    )


@dataclass
class JetPair:
    """A positive pair: per view (tracks, cells, jet features, hadron-jet features)."""

    label: int
    event: int
    origin: int  # record index of the originating parton
    views: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]


def _jet_payload(
    v: ViewJets, k: int, cfg: GenerationConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d, h = v.det[k], v.had[k]
    pt, eta, phi, mass = v.det_kin[d]
    t = v.tracks
    near = (np.hypot(t[:, 1] - eta, wrap_phi(t[:, 2] - phi)) < cfg.track_dr) & (
        np.abs(t[:, 4]) < cfg.track_z0_max
    )
    tracks = t[near][np.argsort(-t[near, 0], kind="stable")]
    cells = v.cells[v.det_consts[d]]
    cells = cells[np.argsort(-cells[:, 0], kind="stable")]
    jet = np.array([pt, eta, phi, mass, len(tracks), len(cells)], dtype=np.float32)
    return tracks, cells, jet, v.had_kin[h].astype(np.float32)


def make_pairs(
    a: ViewJets, b: ViewJets, origins: np.ndarray, kind: str, event: int, cfg: GenerationConfig
) -> list[JetPair]:
    """Positive pairs of one event: the same parton's jets in both views, passing the cuts."""
    pairs = []
    for k in sorted(set(a.det) & set(b.det)):
        label = label_of(int(origins[k, 1]), kind)
        if label < 0:
            continue
        da, db = a.det_kin[a.det[k]], b.det_kin[b.det[k]]
        ha, hb = a.had_kin[a.had[k]], b.had_kin[b.had[k]]
        if min(da[0], db[0]) <= cfg.det_jet_pt_min or min(ha[0], hb[0]) <= cfg.had_jet_pt_min:
            continue
        if delta_r(ha[1:2], ha[2:3], hb[1:2], hb[2:3])[0, 0] >= cfg.view_match_dr:
            continue
        if abs(da[0] - db[0]) / (da[0] + db[0]) >= cfg.max_pt_asymmetry:
            continue
        pairs.append(
            JetPair(
                label=label,
                event=event,
                origin=int(origins[k, 0]),
                views=(_jet_payload(a, k, cfg), _jet_payload(b, k, cfg)),
            )
        )
    return pairs


# ------------------------------------------------------------------------------ shards
def shard_seeds(seed: int, kind: str, shard: int) -> tuple[int, np.random.SeedSequence]:
    """(Pythia seed in [1, 9e8], numpy SeedSequence) of one shard; independent of workers."""
    ss = np.random.SeedSequence([seed, RS3L_CLASSES.index(kind), shard])
    pythia_seed = int(ss.generate_state(1)[0]) % 900_000_000 + 1
    return pythia_seed, ss.spawn(1)[0]


# Stored precision (mantissa bits of float32) per column: far below the detector resolution
# (2^-11 = 0.05% for energies / pT, 2^-12 * pi = 0.8 mrad for cell positions, which are cell
# centres on a grid of >= 25 mrad, 2^-15 * pi = 0.1 mrad for track angles), and it lets gzip
# halve the files.
TRACK_MANTISSA_BITS = (11, 15, 15, 12, 12)
CELL_MANTISSA_BITS = (11, 12, 12, 23)


def round_mantissa(x: np.ndarray, bits: tuple[int, ...]) -> np.ndarray:
    """Round each column of a float32 array to ``bits`` mantissa bits (nearest, ties up)."""
    x = np.ascontiguousarray(x, dtype=np.float32).copy()
    ints = x.view(np.uint32)
    for col, b in enumerate(bits):
        if b < 23:
            drop = np.uint32(23 - b)
            half = np.uint32(1) << (drop - np.uint32(1))
            ints[:, col] = ((ints[:, col] + half) >> drop) << drop
    return x


def write_shard(path: Path, pairs: list[JetPair], kind: str, attrs: dict[str, Any]) -> None:
    """Write pairs to an RS3L HDF5 shard atomically (temp file + rename); tracks and cells
    are stored with :data:`TRACK_MANTISSA_BITS` / :data:`CELL_MANTISSA_BITS` precision."""
    import h5py

    from jetzoo import __version__
    from jetzoo.utils.io import atomic_path

    comp = {"compression": "gzip", "compression_opts": 6, "shuffle": True}
    n = len(pairs)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = RS3L_FORMAT
        f.attrs["classes"] = json.dumps(list(RS3L_CLASSES))
        f.attrs["class"] = kind
        f.attrs["jetzoo_version"] = __version__
        f.attrs["n_pairs"] = n
        for key, value in attrs.items():
            scalar = isinstance(value, (int, float, str, np.integer, np.floating))
            f.attrs[key] = value if scalar else json.dumps(value)
        f.create_dataset("labels", data=np.array([p.label for p in pairs], dtype=np.int64))
        f.create_dataset(
            "pair_index",
            data=np.array([(p.event, p.origin) for p in pairs], dtype=np.int64).reshape(n, 2),
        )
        for v, suffix in enumerate(VIEW_SUFFIXES):
            tracks = [p.views[v][0] for p in pairs]
            cells = [p.views[v][1] for p in pairs]
            for name, arrays, bits in (
                ("tracks", tracks, TRACK_MANTISSA_BITS),
                ("cells", cells, CELL_MANTISSA_BITS),
            ):
                offsets = np.zeros(n + 1, dtype=np.int64)
                offsets[1:] = np.cumsum([len(a) for a in arrays])
                width = len(bits)
                flat = np.concatenate(arrays, axis=0) if n else np.zeros((0, width))
                flat = round_mantissa(flat.reshape(-1, width), bits)
                f.create_dataset(
                    name + suffix,
                    data=flat,
                    chunks=True if len(flat) else None,
                    **(comp if len(flat) else {}),
                )
                f.create_dataset(f"{name[:-1]}_offsets{suffix}", data=offsets)
            f.create_dataset(
                "jet_features" + suffix,
                data=np.array([p.views[v][2] for p in pairs], dtype=np.float32).reshape(
                    n, len(JET_FEATURES)
                ),
            )
            f.create_dataset(
                "hadron_jet_features" + suffix,
                data=np.array([p.views[v][3] for p in pairs], dtype=np.float32).reshape(
                    n, len(HADRON_JET_FEATURES)
                ),
            )


def shard_is_valid(path: Path) -> bool:
    """True if ``path`` is a complete RS3L shard (atomic writes leave no partial files)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return (
                f.attrs.get("format") == RS3L_FORMAT
                and "n_pairs" in f.attrs
                and len(f["labels"]) == int(f.attrs["n_pairs"])
            )
    except (OSError, KeyError):
        return False


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


# ------------------------------------------------------------------------------ dark resampling
def read_jet_features(path: Path, key: str = "jet_features") -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return f[key][:]


def subset_shard(src: Path, dst: Path, keep: np.ndarray, attrs: dict[str, Any]) -> int:
    """Copy the pairs ``keep`` (bool per pair) of shard ``src`` into a new shard ``dst``."""
    import h5py

    with h5py.File(src, "r") as f:
        kind = str(f.attrs["class"])
        base = {k: f.attrs[k] for k in ("seed", "pythia_seed", "shard", "settings", "stats")}
        labels, index = f["labels"][:], f["pair_index"][:]
        views = []
        for suffix in VIEW_SUFFIXES:
            data = {
                k: f[k + suffix][:]
                for k in (
                    "tracks",
                    "track_offsets",
                    "cells",
                    "cell_offsets",
                    "jet_features",
                    "hadron_jet_features",
                )
            }
            views.append(data)
    pairs = []
    for i in np.flatnonzero(keep):
        payload = []
        for d in views:
            to, co = d["track_offsets"], d["cell_offsets"]
            payload.append(
                (
                    d["tracks"][to[i] : to[i + 1]],
                    d["cells"][co[i] : co[i + 1]],
                    d["jet_features"][i],
                    d["hadron_jet_features"][i],
                )
            )
        pairs.append(
            JetPair(
                label=int(labels[i]),
                event=int(index[i, 0]),
                origin=int(index[i, 1]),
                views=tuple(payload),
            )
        )
    write_shard(dst, pairs, kind, {**base, **attrs})
    return len(pairs)


def resampling_weights(
    sm: np.ndarray,
    dark: np.ndarray,
    n_pt_bins: int = 8,
    eta_edges: Iterable[float] = (0.0, 1.0, 2.0, 3.0),
) -> np.ndarray:
    """Acceptance probability per dark jet that makes its (pT, |eta|) follow the SM jets'.

    Bins: SM pT quantiles x |eta| edges; weight = p_SM(bin) / p_dark(bin), scaled so that the
    largest weight is 1 (rejection sampling: no jet is used twice).
    """
    pt_edges = np.quantile(sm[:, 0], np.linspace(0, 1, n_pt_bins + 1))
    pt_edges[0], pt_edges[-1] = -np.inf, np.inf
    eta_edges = np.asarray(list(eta_edges), dtype=np.float64)
    eta_edges[-1] = np.inf

    def bins(x: np.ndarray) -> np.ndarray:
        ip = np.clip(np.searchsorted(pt_edges, x[:, 0], side="right") - 1, 0, n_pt_bins - 1)
        ie = np.clip(
            np.searchsorted(eta_edges, np.abs(x[:, 1]), side="right") - 1, 0, len(eta_edges) - 2
        )
        return ip * (len(eta_edges) - 1) + ie

    nb = n_pt_bins * (len(eta_edges) - 1)
    p_sm = np.bincount(bins(sm), minlength=nb) / len(sm)
    b_dark = bins(dark)
    p_dark = np.bincount(b_dark, minlength=nb) / max(len(dark), 1)
    ratio = np.where(p_dark > 0, p_sm / np.maximum(p_dark, 1e-12), 0.0)
    w = ratio[b_dark]
    return w / w.max() if len(w) and w.max() > 0 else w


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


def _shard_entry(out: Path, path: Path) -> dict[str, Any]:
    import h5py

    from jetzoo.utils.io import sha256_file

    with h5py.File(path, "r") as f:
        stats = json.loads(f.attrs["stats"]) if "stats" in f.attrs else {}
        entry = {
            "path": str(path.relative_to(out)),
            "class": str(f.attrs["class"]),
            "pairs": int(f.attrs["n_pairs"]),
            "pythia_seed": int(f.attrs["pythia_seed"]),
        }
    entry.update(
        {
            k: stats[k]
            for k in ("events", "rejected_events", "failed_tau_events", "tau_attempts_mean")
            if k in stats
        }
    )
    entry["sha256"] = sha256_file(path)
    return entry


def summarize(out: Path, shard_paths: list[Path]) -> dict[str, Any]:
    """Physics numbers of a dataset: pair pT correlation, mean tracks / cells per jet, ..."""
    import h5py

    ja, jb, ha = [], [], []
    for p in shard_paths:
        with h5py.File(p, "r") as f:
            ja.append(f["jet_features"][:])
            jb.append(f["jet_features_b"][:])
            ha.append(f["hadron_jet_features"][:])
    if not ja or sum(len(a) for a in ja) < 2:
        return {}
    a, b, h = np.concatenate(ja), np.concatenate(jb), np.concatenate(ha)
    return {
        "pairs": int(len(a)),
        "pt_correlation": float(np.corrcoef(a[:, 0], b[:, 0])[0, 1]),
        "mean_tracks_per_jet": float(np.concatenate([a[:, 4], b[:, 4]]).mean()),
        "mean_cells_per_jet": float(np.concatenate([a[:, 5], b[:, 5]]).mean()),
        "mean_detector_over_hadron_pt": float(np.mean(a[:, 0] / h[:, 0])),
        "mean_detector_pt": float(a[:, 0].mean()),
    }


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
        return _shard_entry(out, path) if shard_is_valid(path) else None

    def simulate(
        self, out: Path, shard: Shard, progress: Callable[[int], None] | None
    ) -> dict[str, Any]:
        kind, k = shard.key
        stats = run_task(ShardTask(kind, k, shard.units, str(out / shard.file)), self.cfg, progress)
        return {"entry": _shard_entry(out, out / shard.file), "stats": stats}

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

    shards = [_shard_entry(out, p) for p in sm_paths]
    for kind in dark_kinds:
        shards += [_shard_entry(out, p) for p in sorted((out / kind).glob("shard-*.h5"))]
    raw_shards = [
        _shard_entry(out, p)
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
