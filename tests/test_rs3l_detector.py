"""The parametric detector against its documented numbers (single particles, no Pythia)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.stats import norm

from jetzoo.detector import Detector, DetectorConfig, Particles, wrap_phi


def particles(
    pid: int,
    e: float,
    eta: float,
    phi: float,
    n: int,
    charge: float = 0.0,
    x: float = 0.0,
    y: float = 0.0,
    z: float = 0.0,
    mass: float = 0.0,
) -> Particles:
    p = math.sqrt(max(e * e - mass * mass, 0.0))
    pt = p / math.cosh(eta)
    full = lambda v: np.full(n, float(v))  # noqa: E731
    return Particles(
        full(pt * math.cos(phi)),
        full(pt * math.sin(phi)),
        full(pt * math.sinh(eta)),
        full(e),
        np.full(n, pid, dtype=np.int64),
        full(charge),
        full(x),
        full(y),
        full(z),
    )


def quiet_detector() -> Detector:
    """Default detector with negligible cell noise (1 keV), to look at showers alone."""
    layers = tuple(dataclasses.replace(L, noise=1e-6) for L in DetectorConfig().layers)
    return Detector(DetectorConfig(layers=layers))


def shower_sums(
    det: Detector, pid: int, e: float, n: int, seed: int, charge: float = 0.0, eta: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Per-particle total cell energy and per-layer energy of n single-particle events."""
    rng = np.random.default_rng(seed)
    totals, layers = np.zeros(n), np.zeros((n, 6))
    one = particles(pid, e, eta, 0.0, 1, charge)
    for k in range(n):
        cells = det.calorimeter(one, rng)
        totals[k] = cells[:, 0].sum()
        layers[k] = np.bincount(cells[:, 3].astype(int), weights=cells[:, 0], minlength=6)
    return totals, layers


def test_em_shower_response_resolution_and_depth() -> None:
    e = 50.0
    totals, layers = shower_sums(quiet_detector(), 22, e, 300, seed=1)
    # mean: full response minus ~1% leakage behind 22.3 X0
    assert 0.97 < totals.mean() / e < 1.0
    # resolution: 10%/sqrt(E) (+) 0.7% = 1.56%
    expected = math.hypot(0.10 / math.sqrt(e), 0.007)
    assert totals.std() / totals.mean() == pytest.approx(expected, rel=0.2)
    frac = layers.sum(0) / layers.sum()
    assert frac[1] > 0.75  # ECAL2 (4.3-20.3 X0) holds the shower maximum
    assert frac[3:].sum() < 0.05  # little leakage into the HCAL


def test_hadron_shower_response_follows_fem_and_h_over_e() -> None:
    e = 50.0
    totals, layers = shower_sums(quiet_detector(), 211, e, 300, seed=2, charge=1.0)
    f_em = 1 - e ** (0.82 - 1)
    response = f_em + (1 - f_em) * 0.7  # 0.852 before punch-through
    assert totals.mean() / e == pytest.approx(response, abs=0.03)
    # 50%/sqrt(E) (+) 3% = 7.7% plus longitudinal leakage fluctuations
    assert 0.06 < totals.std() / totals.mean() < 0.13
    frac = layers.sum(0) / layers.sum()
    assert frac[3:].sum() > 0.55 and 0.15 < frac[:3].sum() < 0.45


def test_muon_is_a_mip() -> None:
    totals, _ = shower_sums(quiet_detector(), 13, 50.0, 100, seed=3, charge=-1.0)
    # 0.3 GeV per interaction length over 8.4 lambda, Gamma-smeared
    assert totals.mean() == pytest.approx(0.3 * 8.4, rel=0.1)


def test_noise_cells_above_threshold_match_gaussian_tail() -> None:
    det = Detector()
    empty = Particles(*(np.zeros(0) for _ in range(9)))
    n_above = [len(det.calorimeter(empty, np.random.default_rng(s))) for s in range(3)]
    expected = det.n_cells() * norm.sf(2.0)  # E > 2 sigma_noise
    assert det.n_cells() == 2 * 240 * 256 + 120 * 128 + 2 * 60 * 64 + 30 * 32
    assert np.mean(n_above) == pytest.approx(expected, abs=4 * math.sqrt(expected / 3))


def test_lateral_profile_centroid_and_width() -> None:
    det = quiet_detector()
    rng = np.random.default_rng(4)
    eta0 = 0.4123
    cells = np.concatenate(
        [det.calorimeter(particles(22, 30.0, eta0, 0.2, 1), rng) for _ in range(50)]
    )
    near = (np.abs(cells[:, 1] - eta0) < 0.2) & (np.abs(wrap_phi(cells[:, 2] - 0.2)) < 0.2)
    mid = cells[(cells[:, 3] == 1) & near]  # ECAL2, away from the (1 keV) noise cells
    w = mid[:, 0]
    centroid = np.average(mid[:, 1], weights=w)
    assert centroid == pytest.approx(eta0, abs=0.003)
    # the energy-weighted rms over cell centres ~ sigma (0.0125) (+) cell size / sqrt(12)
    width = math.sqrt(np.average((mid[:, 1] - eta0) ** 2, weights=w))
    assert width == pytest.approx(math.hypot(0.0125, 0.025 / math.sqrt(12)), rel=0.25)


def test_charged_particles_bend_in_the_solenoid() -> None:
    det = quiet_detector()
    rng = np.random.default_rng(5)
    pt = 3.0
    for charge in (1.0, -1.0):
        cells = np.concatenate(
            [
                det.calorimeter(particles(211, pt * math.cosh(0.1), 0.1, 0.0, 1, charge), rng)
                for _ in range(30)
            ]
        )
        phi = np.average(wrap_phi(cells[:, 2]), weights=cells[:, 0])
        expected = -charge * math.asin(0.3 * 2.0 * 1.2 / (2 * pt))
        assert phi == pytest.approx(expected, abs=0.01)


def test_tracking_efficiency_and_resolutions() -> None:
    det = Detector()
    rng = np.random.default_rng(6)
    n = 20000
    central = det.tracks(particles(211, 10.0 * math.cosh(0.5), 0.5, 1.0, n, 1.0), rng)
    assert len(central) / n == pytest.approx(0.95, abs=3 * math.sqrt(0.95 * 0.05 / n))
    forward = det.tracks(particles(211, 10.0 * math.cosh(2.0), 2.0, 1.0, n, 1.0), rng)
    assert len(forward) / n == pytest.approx(0.85, abs=3 * math.sqrt(0.85 * 0.15 / n))
    outside = det.tracks(particles(211, 10.0 * math.cosh(2.7), 2.7, 1.0, 100, 1.0), rng)
    neutral = det.tracks(particles(130, 10.0, 0.0, 1.0, 100, 0.0), rng)
    assert len(outside) == 0 and len(neutral) == 0
    # curvature resolution at 100 GeV: 0.05% * 100 (+) 1% = 5.1%
    hard = det.tracks(particles(211, 100.0, 0.0, 1.0, n, 1.0), rng)
    assert np.std(1.0 / hard[:, 0]) * 100.0 == pytest.approx(math.hypot(0.05, 0.01), rel=0.05)
    # impact parameters at pT = 1 GeV, eta = 0: 10 um * sqrt(1 + 14^2), 91 um * sqrt(1 + 2.3^2)
    soft = det.tracks(particles(211, 1.0, 0.0, 1.0, n, 1.0, mass=0.0), rng)
    assert soft[:, 3].std() == pytest.approx(0.010 * math.sqrt(1 + 14.0**2), rel=0.05)
    assert soft[:, 4].std() == pytest.approx(0.091 * math.sqrt(1 + 2.3**2), rel=0.05)


def test_impact_parameters_of_a_displaced_vertex() -> None:
    det = Detector()
    rng = np.random.default_rng(7)
    # produced at (x, y, z) = (1, 0, 3) mm, moving along +y at eta = 0: d0 = x sin(phi) = 1 mm
    t = det.tracks(particles(211, 50.0, 0.0, math.pi / 2, 2000, 1.0, x=1.0, z=3.0), rng)
    assert np.median(t[:, 3]) == pytest.approx(1.0, abs=0.005)
    assert np.median(t[:, 4]) == pytest.approx(3.0, abs=0.01)


def test_soft_particles_and_invisibles_are_dropped() -> None:
    det = quiet_detector()
    rng = np.random.default_rng(8)
    soft = det.simulate(particles(211, 0.9, 0.0, 0.0, 5, 1.0), rng)
    nu = det.simulate(particles(12, 100.0, 0.0, 0.0, 5), rng)
    dark = det.simulate(particles(4900211, 100.0, 0.0, 0.0, 5), rng)
    for r in (soft, nu, dark):
        assert len(r.tracks) == 0 and r.cells[:, 0].sum() < 0.01
