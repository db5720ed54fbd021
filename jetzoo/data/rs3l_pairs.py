"""RS3L jets and pairs: anti-kT jets of one view (hadron-level particles and calorimeter cells),
matched to the hard-process partons, and the positive pairs of an event (the same parton's
jets in both views, passing the pair cuts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jetzoo.data.clustering import FourMomenta
from jetzoo.data.rs3l_simulation import GenerationConfig, label_of
from jetzoo.detector import Particles, is_invisible, wrap_phi


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
