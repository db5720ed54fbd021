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
#: no constituent sits further than this from its jet's axis in eta or phi (R <= 1.5 jets);
#: one that does (a unit or wrapping error) would dominate the fitted std of every jet's input
MAX_ANGLE = 5.0


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
        problem = cls.outlier_problem(pf)
        if problem:
            raise ValueError(f"cannot fit preprocessing: {problem}")
        cols = np.stack(
            [pf[..., 0][real], pf[..., 1][real], np.log(np.maximum(pf[..., 2][real], PT_FLOOR))],
            axis=-1,
        )
        mean = cols.mean(axis=0)
        std = np.maximum(cols.std(axis=0), 1e-6)
        return cls(mean=[float(v) for v in mean], std=[float(v) for v in std])

    @staticmethod
    def outlier_problem(particle_features: np.ndarray) -> str | None:
        """Why ``(N, P, 4)`` JetNet-layout particles cannot be jet constituents (a real
        particle with ``|eta_rel|`` or ``|phi_rel|`` above :data:`MAX_ANGLE`), naming the jet;
        None if they can."""
        pf = np.asarray(particle_features)
        real = pf[..., 3] > 0
        far = real & ((np.abs(pf[..., 0]) > MAX_ANGLE) | (np.abs(pf[..., 1]) > MAX_ANGLE))
        if not far.any():
            return None
        jet, part = (int(v[0]) for v in np.nonzero(far))
        return (
            f"{int(far.sum())} particle(s) lie more than {MAX_ANGLE} from their jet axis "
            f"(jet {jet}: eta_rel {pf[jet, part, 0]:.4g}, phi_rel {pf[jet, part, 1]:.4g}); "
            "relative coordinates in radians are expected (a unit or phi-wrapping error?)"
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        if not isinstance(d, dict):
            raise ValueError(f"preprocessing must be a mapping, got {type(d).__name__}")
        unknown = sorted(set(d) - {"mean", "std", "features"})
        if unknown:
            raise ValueError(f"preprocessing has unknown field {unknown[0]!r}")
        p = cls(**d)
        numbers = [*p.mean, *p.std] if isinstance(p.mean, list) and isinstance(p.std, list) else []
        if (
            len(p.mean) != 3
            or len(p.std) != 3
            or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in numbers
            )
        ):
            raise ValueError(f"preprocessing needs 3 finite means and stds, got {d}")
        if min(p.std) <= 0:
            raise ValueError(f"preprocessing std must be > 0, got {p.std}")
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
