"""Particle-feature preprocessing stored with a dataset and with every saved backbone.

Model inputs are (eta_rel, phi_rel, log pt_rel), each standardised with a mean and a standard
deviation computed on real (unpadded) particles of the training set. The numbers live in
``preprocessing.json`` beside the shards and in a backbone's ``config.json``, so inference on a
user's raw JetNet features uses exactly the numbers the model was trained with.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

PT_FLOOR = 1e-8  # log of pt_rel is taken as log(max(pt_rel, PT_FLOOR))


@dataclass
class Preprocessing:
    """Standardisation of (eta_rel, phi_rel, log pt_rel) on real particles."""

    mean: list[float] = field(default_factory=lambda: [0.0, 0.0, -4.0])
    std: list[float] = field(default_factory=lambda: [0.1, 0.1, 1.0])
    features: list[str] = field(default_factory=lambda: ["eta_rel", "phi_rel", "log_pt_rel"])

    @classmethod
    def fit(cls, particle_features: np.ndarray) -> "Preprocessing":
        """Fit on an array ``(N, P, 4)`` in the JetNet layout (mask in the last column)."""
        pf = np.asarray(particle_features, dtype=np.float64)
        real = pf[..., 3] > 0
        if not real.any():
            raise ValueError("cannot fit preprocessing: no real particles")
        cols = np.stack([pf[..., 0][real], pf[..., 1][real],
                         np.log(np.maximum(pf[..., 2][real], PT_FLOOR))], axis=-1)
        mean = cols.mean(axis=0)
        std = np.maximum(cols.std(axis=0), 1e-6)
        return cls(mean=[float(v) for v in mean], std=[float(v) for v in std])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        p = cls(**d)
        if len(p.mean) != 3 or len(p.std) != 3 or not all(math.isfinite(v) for v in p.mean + p.std):
            raise ValueError(f"preprocessing needs 3 finite means and stds, got {d}")
        return p

    def save(self, path: str | Path) -> None:
        from jetzoo.utils.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "Preprocessing":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: invalid preprocessing file ({err})") from err
