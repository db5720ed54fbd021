"""A parametric, numpy-vectorised detector: charged-particle tracking and a 6-layer calorimeter.

It stands in for the GEANT4-based COCOA simulation of Rieck et al. (three ECAL and three
HCAL layers, parametric tracking, particles below 1 GeV neglected). Every number is a field of
:class:`DetectorConfig`; the defaults and where they come from:

Acceptance and input
    * Final-state particles with pT < 1 GeV are dropped before the detector (Rieck et al., Sec. 3:
      "primary particles are neglected if their transverse momentum is less than 1 GeV").
    * Neutrinos and dark-sector stable particles (PDG ids >= 4.9e6, 51-53) are invisible.
    * Geometry is cylindrical for all |eta|: solenoid radius 1.2 m, field 2 T (ATLAS,
      JINST 3 (2008) S08003, "the ATLAS detector paper", Sec. 1 and 2), calorimeter front
      at R = 1.5 m (ATLAS EM barrel). With a cylinder, a shower of physical width r has the
      same width r/R in eta and phi at every eta, so lateral widths below are in eta-phi units.
    * Charged particles enter the calorimeter at phi0 - q * asin(0.3 B R_sol / (2 pT)) (the
      helix position at the solenoid radius); eta at the calorimeter accounts for the
      production vertex z (pile-up vertices are spread 50 mm in z).

Tracking (|eta| < 2.5, the ATLAS Inner Detector acceptance)
    * Efficiency 0.95 for |eta| <= 1.5 and 0.85 for 1.5 < |eta| <= 2.5 (pT > 1 GeV): the charged
      hadron efficiency of the Delphes ATLAS card (de Favereau et al., JHEP 02 (2014) 057).
    * sigma(pT)/pT = 0.05% pT/GeV (+) 1%, applied to the curvature q/pT (ATLAS detector
      paper, Table 1.1, Inner Detector design resolution).
    * sigma(phi) = sigma(theta) = 0.1 mrad (+) 2 mrad GeV/pT (order of the ATLAS expected
      angular resolution, CERN-OPEN-2008-020, Inner Detector chapter).
    * Impact parameters from the production vertex (straight line, mm): d0 = x sin(phi) -
      y cos(phi), z0 = z - (x cos(phi) + y sin(phi)) pz/pT, relative to the hard-scatter
      vertex at the origin, smeared with sigma(d0) = 10 um * sqrt(1 + (14 GeV/pT)^2) and
      sigma(z0 sin(theta)) = 91 um * sqrt(1 + (2.3 GeV/pT)^2) (CERN-OPEN-2008-020, barrel).

Calorimeter: 3 ECAL + 3 HCAL layers, |eta| < 3, eta-phi cells (ATLAS-like granularity, the
binning COCOA uses: 256/256/128 phi cells in the ECAL, 64/64/32 in the HCAL)
    ========  =================  ======  ==========================  =================
    layer     d_eta x d_phi      n_phi   depth                        noise per cell
    ========  =================  ======  ==========================  =================
    ECAL1     0.025 x 2pi/256    256     0 - 4.3 X0                  20 MeV
    ECAL2     0.025 x 2pi/256    256     4.3 - 20.3 X0               30 MeV
    ECAL3     0.050 x 2pi/128    128     20.3 - 22.3 X0 (= 1.0 lam)  20 MeV
    HCAL1     0.100 x 2pi/64     64      1.0 - 2.5 lambda            20 MeV
    HCAL2     0.100 x 2pi/64     64      2.5 - 6.6 lambda            20 MeV
    HCAL3     0.200 x 2pi/32     32      6.6 - 8.4 lambda            20 MeV
    ========  =================  ======  ==========================  =================
    ATLAS LAr: middle layer 0.025 x 0.0245, back layer 0.05 x 0.0245, 4.3/16/2 X0 at eta = 0;
    Tile: 0.1 x 0.1 (A, BC) and 0.2 x 0.1 (D), 1.5/4.1/1.8 lambda (ATLAS detector paper,
    Sec. 5.2-5.3, Table 1.3). The LAr strip layer is simplified to the middle-layer granularity.
    Cell noise: ATLAS electronic noise is 10-50 MeV per LAr cell and ~20 MeV per Tile cell
    (ATLAS, Eur. Phys. J. C 77 (2017) 490, Fig. 2); a cell is kept if E > 2 sigma_noise.

Longitudinal sharing
    * e and photons: the Gamma-function profile dE/dt ~ (bt)^(a-1) exp(-bt), b = 0.5,
      t_max = (a-1)/b = ln(E/E_c) - 0.5 (electrons) with E_c = 10 MeV (PDG Review "Passage of
      particles through matter", Eq. 34.36); photons first convert after an exponential
      depth of mean 9/7 X0 (PDG Eq. 34.31). Energy beyond the ECAL leaks into the HCAL layers.
    * hadrons: first interaction after an exponential depth of mean 1 lambda. From there the
      EM part of the shower (pi0s, fraction f_em below) follows the EM profile, and the rest a
      Gamma profile in lambda with mode t_max = 0.2 ln(E/GeV) + 0.7 lambda and unit scale
      (PDG hadronic-shower t_max); a charged pion then leaves ~30% of its energy in the ECAL.
      Energy beyond 8.4 lambda punches through and is lost.
    * muons deposit 0.3 GeV per lambda of layer depth (minimum ionisation, ~2.5 GeV in all),
      no shower, smeared like hadronic deposits.

Lateral sharing: a 2-d Gaussian per deposit, integrated over the cells of a (2k+1)^2 window
(k = ceil(3 sigma / cell size)) and renormalised inside it. EM widths 0.008/0.0125/0.02 in
ECAL1-3 (90% within one Moliere radius, R_M ~ 4 cm at R = 1.5 m) and 0.03 elsewhere;
hadronic width 0.04 (95% within one lambda, ~20 cm at R ~ 2-3 m).

Response and resolution
    * EM scale. Hadronic showers have an EM fraction f_em = 1 - (E/1 GeV)^(k-1), k = 0.82
      (PDG, Groom), and the non-EM part is seen with h/e = 0.7 (ATLAS Tile e/h ~ 1.36).
    * Stochastic term per (particle, layer) deposit: Gamma-distributed energy with mean E and
      variance a^2 E, a = 10% sqrt(GeV) for EM showers, 50% sqrt(GeV) for hadronic showers
      (ATLAS detector paper, Table 1.1), so the layer sum has the resolution a/sqrt(E);
      constant term per particle 0.7% (EM) and 3% (hadronic); noise term per cell (above).

All functions are vectorised over particles and cells: one ``np.bincount`` per layer
accumulates the deposits on the (ieta, iphi) grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.special import erf, gammainc

TRACK_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "d0", "z0")  # GeV, -, rad, mm, mm
CELL_FEATURES: tuple[str, ...] = ("e", "eta", "phi", "layer")  # GeV, -, rad, 0..5
LAYER_NAMES: tuple[str, ...] = ("ECAL1", "ECAL2", "ECAL3", "HCAL1", "HCAL2", "HCAL3")


@dataclass(frozen=True)
class CaloLayer:
    """One calorimeter layer: granularity, depth and noise (see the module docstring)."""

    name: str
    deta: float
    nphi: int
    depth_lambda: tuple[float, float]  # [start, end) in interaction lengths from the front
    depth_x0: tuple[float, float] | None  # [start, end) in X0 (ECAL layers), None for HCAL
    noise: float  # GeV per cell
    em_width: float  # lateral sigma of EM showers, eta-phi units
    had_width: float  # lateral sigma of hadronic showers, eta-phi units


def _default_layers() -> tuple[CaloLayer, ...]:
    lam_ecal = 1.0  # ECAL depth in interaction lengths (22.3 X0 of Pb/LAr)
    x0_to_lam = lam_ecal / 22.3
    ecal = [
        ("ECAL1", 0.025, 256, (0.0, 4.3), 0.020, 0.008),
        ("ECAL2", 0.025, 256, (4.3, 20.3), 0.030, 0.0125),
        ("ECAL3", 0.050, 128, (20.3, 22.3), 0.020, 0.020),
    ]
    layers = [
        CaloLayer(n, de, nphi, (x0[0] * x0_to_lam, x0[1] * x0_to_lam), x0, noise, w, 0.04)
        for n, de, nphi, x0, noise, w in ecal
    ]
    hcal = [
        ("HCAL1", 0.10, 64, (1.0, 2.5)),
        ("HCAL2", 0.10, 64, (2.5, 6.6)),
        ("HCAL3", 0.20, 32, (6.6, 8.4)),
    ]
    layers += [CaloLayer(n, de, nphi, lam, None, 0.020, 0.03, 0.04) for n, de, nphi, lam in hcal]
    return tuple(layers)


@dataclass(frozen=True)
class DetectorConfig:
    """All parameters of the parametric detector (defaults documented in the module docstring)."""

    min_particle_pt: float = 1.0
    # geometry
    b_field: float = 2.0  # T
    solenoid_radius: float = 1.2  # m
    calo_radius: float = 1.5  # m
    calo_eta_max: float = 3.0
    # tracking
    track_eta_max: float = 2.5
    track_eff_central: float = 0.95  # |eta| <= 1.5
    track_eff_forward: float = 0.85  # 1.5 < |eta| <= 2.5
    track_pt_res_slope: float = 5e-4  # per GeV
    track_pt_res_const: float = 0.01
    track_angle_res: tuple[float, float] = (1e-4, 2e-3)  # rad, rad GeV
    d0_res: tuple[float, float] = (0.010, 14.0)  # mm, GeV
    z0_res: tuple[float, float] = (0.091, 2.3)  # mm (z0 sin theta), GeV
    # calorimeter
    layers: tuple[CaloLayer, ...] = field(default_factory=_default_layers)
    em_critical_energy: float = 0.010  # GeV
    em_profile_b: float = 0.5
    had_fem_k: float = 0.82
    had_h_over_e: float = 0.7
    em_stochastic: float = 0.10  # sqrt(GeV)
    had_stochastic: float = 0.50
    em_constant: float = 0.007
    had_constant: float = 0.03
    muon_dedx: float = 0.3  # GeV per interaction length
    cell_threshold_sigma: float = 2.0

    @property
    def n_layers(self) -> int:
        return len(self.layers)


class Particles(NamedTuple):
    """Final-state particles of one event view as flat numpy arrays (GeV, mm)."""

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pid: np.ndarray  # int
    charge: np.ndarray
    x: np.ndarray  # production vertex, mm
    y: np.ndarray
    z: np.ndarray

    def select(self, keep: np.ndarray) -> "Particles":
        return Particles(*(a[keep] for a in self))

    @staticmethod
    def concatenate(parts: list["Particles"]) -> "Particles":
        return Particles(*(np.concatenate(cols) for cols in zip(*parts)))

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)


class DetectorResponse(NamedTuple):
    """Reconstructed objects of one view: ``tracks (n, 5)`` = TRACK_FEATURES and
    ``cells (m, 4)`` = CELL_FEATURES (cells above threshold only)."""

    tracks: np.ndarray
    cells: np.ndarray


def pseudorapidity(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """eta = asinh(pz / pT), finite for pT > 0."""
    return np.arcsinh(pz / np.maximum(np.hypot(px, py), 1e-12))


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Map angles to [-pi, pi)."""
    return (np.asarray(phi) + np.pi) % (2 * np.pi) - np.pi


def is_invisible(pid: np.ndarray) -> np.ndarray:
    """Neutrinos and dark-sector stable particles leave no signal."""
    a = np.abs(pid)
    return (a == 12) | (a == 14) | (a == 16) | ((a >= 51) & (a <= 53)) | (a >= 4_900_000)


class Detector:
    """Apply tracking and calorimetry to one view's particles; ``rng`` makes it reproducible."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        c = self.config
        self._neta = [int(round(2 * c.calo_eta_max / L.deta)) for L in c.layers]
        self._lam_edges = np.array([L.depth_lambda for L in c.layers])  # (L, 2)
        ecal = [L for L in c.layers if L.depth_x0 is not None]
        self._lam_per_x0 = ecal[-1].depth_lambda[1] / ecal[-1].depth_x0[1]

    # ----------------------------------------------------------------------------- helpers
    def cell_centers(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """(eta centres, phi centres) of a layer's grid."""
        L = self.config.layers[layer]
        eta = -self.config.calo_eta_max + (np.arange(self._neta[layer]) + 0.5) * L.deta
        phi = -np.pi + (np.arange(L.nphi) + 0.5) * (2 * np.pi / L.nphi)
        return eta, phi

    def n_cells(self) -> int:
        """Total number of calorimeter cells."""
        return int(sum(n * L.nphi for n, L in zip(self._neta, self.config.layers)))

    # ----------------------------------------------------------------------------- tracking
    def tracks(self, p: Particles, rng: np.random.Generator) -> np.ndarray:
        """Reconstructed tracks ``(n, 5)`` = (pT, eta, phi, d0, z0) of charged particles."""
        c = self.config
        pt = p.pt
        eta = pseudorapidity(p.px, p.py, p.pz)
        phi = np.arctan2(p.py, p.px)
        charged = (p.charge != 0) & (np.abs(eta) < c.track_eta_max)
        eff = np.where(np.abs(eta) <= 1.5, c.track_eff_central, c.track_eff_forward)
        keep = charged & (rng.random(len(pt)) < eff)
        pt, eta, phi = pt[keep], eta[keep], phi[keep]
        x, y, z, pz = p.x[keep], p.y[keep], p.z[keep], p.pz[keep]
        n = len(pt)
        # truth impact parameters of a straight line from the production vertex
        d0 = x * np.sin(phi) - y * np.cos(phi)
        z0 = z - (x * np.cos(phi) + y * np.sin(phi)) * pz / pt
        sin_theta = 1.0 / np.cosh(eta)
        # resolutions
        rel = np.hypot(c.track_pt_res_slope * pt, c.track_pt_res_const)
        pt_reco = pt / np.abs(1.0 + rel * rng.standard_normal(n))
        ang = np.hypot(c.track_angle_res[0], c.track_angle_res[1] / pt)
        phi_reco = wrap_phi(phi + ang * rng.standard_normal(n))
        theta = 2 * np.arctan(np.exp(-eta)) + ang * rng.standard_normal(n)
        eta_reco = -np.log(np.tan(np.clip(theta, 1e-6, np.pi - 1e-6) / 2))
        s_d0 = c.d0_res[0] * np.sqrt(1 + (c.d0_res[1] / pt) ** 2)
        s_z0 = c.z0_res[0] * np.sqrt(1 + (c.z0_res[1] / pt) ** 2) / sin_theta
        d0_reco = d0 + s_d0 * rng.standard_normal(n)
        z0_reco = z0 + s_z0 * rng.standard_normal(n)
        return np.stack([pt_reco, eta_reco, phi_reco, d0_reco, z0_reco], axis=1).astype(np.float32)

    # ----------------------------------------------------------------------------- calorimeter
    def _em_fractions(self, e: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Fractions ``(n, L)`` of EM-shower energy per layer: Gamma longitudinal profile
        starting at depth ``start`` (X0); beyond the ECAL, depth is counted in X0 of the ECAL
        mixture (lambda / X0 of the ECAL) through the HCAL layers."""
        c = self.config
        b = c.em_profile_b
        y = np.maximum(e / c.em_critical_energy, 1.0 + 1e-9)
        a = b * np.maximum(np.log(y) - 0.5, 0.5) + 1.0
        t = np.clip(self._lam_edges[None, :, :] / self._lam_per_x0 - start[:, None, None], 0, None)
        cdf = gammainc(a[:, None, None], b * t)
        return cdf[..., 1] - cdf[..., 0]

    def _had_fractions(self, e: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Fractions ``(n, L)`` of the non-EM part of a hadronic shower per layer, starting at
        the first interaction ``start`` (lambda)."""
        t_max = 0.2 * np.log(np.maximum(e, 1.0)) + 0.7
        a = t_max + 1.0  # Gamma(a, scale 1 lambda): mode = t_max
        t = np.clip(self._lam_edges[None, :, :] - start[:, None, None], 0.0, None)
        cdf = gammainc(a[:, None, None], t)
        return cdf[..., 1] - cdf[..., 0]

    def calorimeter(self, p: Particles, rng: np.random.Generator) -> np.ndarray:
        """Cells above threshold ``(m, 4)`` = (E, eta, phi, layer), energy-ordered."""
        c = self.config
        keep = ~is_invisible(p.pid)
        p = p.select(keep)
        pt = p.pt
        eta0 = pseudorapidity(p.px, p.py, p.pz)
        phi0 = np.arctan2(p.py, p.px)
        # magnetic bending and vertex displacement
        arg = np.clip(0.3 * c.b_field * c.solenoid_radius / (2 * np.maximum(pt, 1e-9)), 0, 1)
        phi = wrap_phi(phi0 - np.sign(p.charge) * np.arcsin(arg))
        eta = np.arcsinh((p.z * 1e-3 + c.calo_radius * np.sinh(eta0)) / c.calo_radius)
        inside = (np.abs(eta) < c.calo_eta_max) & (arg < 1)
        p, eta, phi = p.select(inside), eta[inside], phi[inside]
        apid = np.abs(p.pid)
        em = (apid == 11) | (apid == 22)
        mu = apid == 13
        had = ~(em | mu)
        n, n_layers = len(p.e), len(c.layers)
        e = p.e
        dep = np.zeros((n, n_layers))
        if em.any():  # photons convert after an exponential depth of mean 9/7 X0
            start = np.where(apid[em] == 22, rng.exponential(9.0 / 7.0, int(em.sum())), 0.0)
            dep[em] = e[em, None] * self._em_fractions(e[em], start)
        if had.any():  # EM part (pi0s) from the first interaction on, plus the non-EM part
            eh = e[had]
            start = rng.exponential(1.0, len(eh))
            f_em = 1.0 - np.power(np.maximum(eh, 1.0), c.had_fem_k - 1.0)
            em_part = self._em_fractions(f_em * eh, start / self._lam_per_x0)
            dep[had] = (f_em * eh)[:, None] * em_part + ((1.0 - f_em) * eh * c.had_h_over_e)[
                :, None
            ] * self._had_fractions(eh, start)
        if mu.any():
            dep[mu] = c.muon_dedx * np.diff(self._lam_edges, axis=1)[:, 0][None, :]
        # constant term per particle, stochastic term per deposit (Gamma, mean E, var a^2 E)
        const = np.where(em, c.em_constant, c.had_constant)
        dep *= np.clip(1.0 + const * rng.standard_normal(n), 0.0, None)[:, None]
        a2 = np.where(em, c.em_stochastic, c.had_stochastic)[:, None] ** 2 * np.ones((1, n_layers))
        pos = dep > 1e-6
        dep[pos] = rng.gamma(dep[pos] / a2[pos], a2[pos])
        dep[~pos] = 0.0
        cells = []
        for layer in range(n_layers):
            grid = self._share_laterally(layer, dep[:, layer], eta, phi, em, rng)
            cells.append(self._read_out(layer, grid, rng))
        out = np.concatenate(cells, axis=0)
        return out[np.argsort(-out[:, 0], kind="stable")]

    def _share_laterally(
        self,
        layer: int,
        energy: np.ndarray,
        eta: np.ndarray,
        phi: np.ndarray,
        em: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Energy grid ``(n_eta * n_phi,)`` of one layer from Gaussian lateral profiles."""
        c = self.config
        L = c.layers[layer]
        neta, nphi = self._neta[layer], L.nphi
        dphi = 2 * np.pi / nphi
        grid = np.zeros(neta * nphi)
        for is_em, width in ((True, L.em_width), (False, L.had_width)):
            sel = (em == is_em) & (energy > 0)
            if not sel.any():
                continue
            en, et, ph = energy[sel], eta[sel], phi[sel]
            ke = max(1, math.ceil(3 * width / L.deta))
            kp = max(1, math.ceil(3 * width / dphi))
            ie0 = np.floor((et + c.calo_eta_max) / L.deta).astype(np.int64)
            ip0 = np.floor((ph + np.pi) / dphi).astype(np.int64) % nphi
            off_e = np.arange(-ke, ke + 1)
            off_p = np.arange(-kp, kp + 1)
            # position of the particle inside its cell, in units of sigma, integrated per cell
            ue = (et + c.calo_eta_max - ie0 * L.deta)[:, None]
            lo_e = (off_e[None, :] * L.deta - ue) / (width * math.sqrt(2))
            w_e = 0.5 * (erf(lo_e + L.deta / (width * math.sqrt(2))) - erf(lo_e))
            up = (ph + np.pi - ip0 * dphi)[:, None]
            lo_p = (off_p[None, :] * dphi - up) / (width * math.sqrt(2))
            w_p = 0.5 * (erf(lo_p + dphi / (width * math.sqrt(2))) - erf(lo_p))
            # renormalise inside the window; energy falling beyond |eta| < eta_max is lost
            norm = w_e.sum(axis=1) * w_p.sum(axis=1)
            ieta = ie0[:, None] + off_e[None, :]
            w_e = np.where((ieta >= 0) & (ieta < neta), w_e, 0.0)
            w = w_e[:, :, None] * w_p[:, None, :] * (en / np.maximum(norm, 1e-12))[:, None, None]
            iphi = (ip0[:, None] + off_p[None, :]) % nphi
            flat = np.clip(ieta, 0, neta - 1)[:, :, None] * nphi + iphi[:, None, :]
            grid += np.bincount(flat.ravel(), weights=w.ravel(), minlength=neta * nphi)
        return grid

    def _read_out(self, layer: int, grid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Add electronic noise to every cell and keep cells above threshold."""
        L = self.config.layers[layer]
        grid = grid + L.noise * rng.standard_normal(grid.shape)
        idx = np.flatnonzero(grid > self.config.cell_threshold_sigma * L.noise)
        eta_c, phi_c = self.cell_centers(layer)
        ie, ip = np.divmod(idx, L.nphi)
        return np.stack(
            [grid[idx], eta_c[ie], phi_c[ip], np.full(len(idx), layer, float)], axis=1
        ).astype(np.float32)

    # ----------------------------------------------------------------------------- both
    def simulate(self, particles: Particles, rng: np.random.Generator) -> DetectorResponse:
        """Tracks and cells of one view (particles below ``min_particle_pt`` dropped first)."""
        p = particles.select(particles.pt >= self.config.min_particle_pt)
        return DetectorResponse(tracks=self.tracks(p, rng), cells=self.calorimeter(p, rng))
