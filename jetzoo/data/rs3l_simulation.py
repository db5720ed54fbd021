"""RS3L physics: the processes and dark-QCD models, Pythia settings, and the re-simulation of
one event into two views that share the hard scatter and the parton shower (with an optional
pile-up overlay). Used by :mod:`jetzoo.data.rs3l_generator`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from jetzoo.data.rs3l_schema import RS3L_CLASSES, rs3l_class_index
from jetzoo.detector import Particles
from jetzoo.utils.extras import require

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
