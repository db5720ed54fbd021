"""JetCLR-style jet augmentations as composable torch functions on padded batches.

Every augmentation has the signature ``aug(x, mask, jet_pt, generator=None) -> (x, mask)``:

- ``x`` (B, N, 3) raw (eta_rel, phi_rel, pt_rel), ``mask`` (B, N) bool (True = real particle,
  padding at the end), ``jet_pt`` (B,) jet pT in GeV (only :func:`smear` uses it: the particle pT
  in GeV is ``x[..., 2] * jet_pt``);
- padded entries are never changed (they stay exactly zero) and inputs are not modified in place.

Augmentations (the jBOT paper Sec. 4.2, following JetCLR, Dillon et al. 2108.04253):

- :func:`rotate`: rotation of (eta_rel, phi_rel) about the jet axis by an angle uniform in
  [-pi, pi] per jet;
- :func:`smear`: eta and phi of each particle smeared independently by a Gaussian of variance
  Lambda_QCD / pT (Lambda_QCD = 0.1 GeV), pT clipped from below at ``pt_clip_min`` GeV;
- :func:`collinear_split`: jets with free slots get particles split in two collinear particles
  sharing the pT (fractions z, 1 - z with z ~ U(0, 1)), pT sum conserved, re-sorted by pT;
  with ``truncate=True`` full jets too, keeping their N hardest particles;
- :func:`translate` (optional): a per-jet shift of eta and phi by N(0, width).

:func:`local_crop` cuts a local view (the particles nearest a pT-drawn seed particle), as DINO's
local crops; jBOT's ``local_views`` option uses it.

:func:`build_augmentations` turns a config (list of names or {name: kwargs}) into a
:class:`Compose`, the form recipes read from YAML.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "rotate",
    "smear",
    "collinear_split",
    "translate",
    "local_crop",
    "Compose",
    "build_augmentations",
    "AUGMENTATIONS",
    "DEFAULT_AUGMENTATIONS",
    "LAMBDA_QCD",
]

LAMBDA_QCD = 0.1  # GeV

Augmentation = Callable[..., tuple[Tensor, Tensor]]


def _check(x: Tensor, mask: Tensor) -> Tensor:
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"augmentations take x of shape (B, N, 3), got {tuple(x.shape)}")
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match x {tuple(x.shape)}")
    return mask.bool()


def _rand(shape: Sequence[int], like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.rand(tuple(shape), generator=generator, device=like.device, dtype=like.dtype)


def _randn(shape: Sequence[int], like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(tuple(shape), generator=generator, device=like.device, dtype=like.dtype)


def rotate(
    x: Tensor,
    mask: Tensor,
    jet_pt: Tensor | None = None,
    generator: torch.Generator | None = None,
    angle: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Rotate (eta_rel, phi_rel) about the jet axis (the origin) by ``angle`` (B,) or by an
    angle uniform in [-pi, pi] per jet. Distances to the axis and pT are unchanged."""
    mask = _check(x, mask)
    if angle is None:
        angle = (2 * _rand((x.shape[0],), x, generator) - 1) * math.pi
    c, s = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    eta, phi = x[..., 0], x[..., 1]
    out = torch.stack([c * eta - s * phi, s * eta + c * phi, x[..., 2]], dim=-1)
    return out * mask.unsqueeze(-1), mask


def smear(
    x: Tensor,
    mask: Tensor,
    jet_pt: Tensor | None = None,
    generator: torch.Generator | None = None,
    lambda_qcd: float = LAMBDA_QCD,
    pt_clip_min: float = 0.1,
    sigma_law: str = "sqrt",
    pt_rel_scale: float = 3e-4,
) -> tuple[Tensor, Tensor]:
    """Smear eta_rel and phi_rel of each particle by N(0, sigma^2), sigma^2 = Lambda_QCD / pT.

    ``jet_pt`` (B,) in GeV is required: the particle pT in GeV is ``pt_rel * jet_pt``. The pT
    is clipped below at ``pt_clip_min`` GeV (sigma <= 1 for the defaults), as in JetCLR.
    ``sigma_law="sqrt"`` (default) is the jBOT paper's variance Lambda_QCD / pT;
    ``sigma_law="linear"`` is sigma = Lambda_QCD / pT as in the JetCLR reference code
    (``distort_jets``), ~10x narrower for 10-100 GeV particles.
    ``sigma_law="pt_rel"`` is the jBOT reference code's (hftsoi/jbot ``gaussian_smear_eta_phi``):
    sigma = ``pt_rel_scale`` / pt_rel with pt_rel clipped below at 1e-6, no jet pT needed; at
    pT_jet = 1 TeV that is 0.3 GeV / pT, 3x the linear law.
    """
    if sigma_law not in ("sqrt", "linear", "pt_rel"):
        raise ValueError(
            f"smear: sigma_law must be 'sqrt', 'linear' or 'pt_rel', got {sigma_law!r}"
        )
    mask = _check(x, mask)
    if sigma_law == "pt_rel":
        sigma = pt_rel_scale / x[..., 2].clamp_min(1e-6)
    elif jet_pt is None:
        raise ValueError(
            "smear needs the jet pT in GeV (batch key 'jet', column 0) to compute "
            "sigma^2 = Lambda_QCD / pT"
        )
    else:
        pt = (x[..., 2] * jet_pt.to(x.dtype)[:, None]).clamp_min(pt_clip_min)
        sigma = torch.sqrt(lambda_qcd / pt) if sigma_law == "sqrt" else lambda_qcd / pt
    noise = _randn((*x.shape[:2], 2), x, generator) * sigma.unsqueeze(-1)
    out = torch.cat([x[..., :2] + noise, x[..., 2:]], dim=-1)
    return out * mask.unsqueeze(-1), mask


def translate(
    x: Tensor,
    mask: Tensor,
    jet_pt: Tensor | None = None,
    generator: torch.Generator | None = None,
    width: float = 0.1,
) -> tuple[Tensor, Tensor]:
    """Shift eta_rel and phi_rel of all particles of a jet by one N(0, width^2) draw per jet."""
    mask = _check(x, mask)
    shift = _randn((x.shape[0], 1, 2), x, generator) * width
    out = torch.cat([x[..., :2] + shift, x[..., 2:]], dim=-1)
    return out * mask.unsqueeze(-1), mask


def sort_by_pt(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Order real particles by decreasing pT, padding at the end."""
    key = torch.where(mask, x[..., 2], torch.full_like(x[..., 2], -1.0))
    order = torch.argsort(key, dim=1, descending=True, stable=True)
    return (torch.gather(x, 1, order.unsqueeze(-1).expand_as(x)), torch.gather(mask, 1, order))


def collinear_split(
    x: Tensor,
    mask: Tensor,
    jet_pt: Tensor | None = None,
    generator: torch.Generator | None = None,
    max_splits: int | None = None,
    truncate: bool = False,
) -> tuple[Tensor, Tensor]:
    """Split randomly chosen particles into two collinear particles (JetCLR collinear fill).

    A jet with n real particles in N slots gets ``min(N - n, n, max_splits)`` splits: distinct
    particles chosen at random keep a fraction z ~ U(0, 1) of their pT, and a new particle at
    the same (eta, phi) with (1 - z) of the pT fills a free slot. The pT sum is conserved; the
    result is re-sorted by decreasing pT with padding at the end. Full jets are unchanged.

    ``truncate=True`` splits every jet, full ones included: ``min(n, max_splits)`` splits
    (``max_splits`` is then required), after which the jet keeps its N hardest particles, as
    the JetNet format's cut to the 30 leading particles would had the shower made the split
    pair. Particles (split products included) that fall below the N-th lose their slot, so the
    pT sum is conserved only for jets that had room for every split.
    """
    mask = _check(x, mask)
    b, n_slots, _ = x.shape
    n_real = mask.sum(1)
    if truncate:
        if max_splits is None:
            raise ValueError(
                "collinear_split: truncate=True needs max_splits (the number of splits per jet)"
            )
        n_split = n_real.clamp_max(max_splits)
    else:
        n_split = torch.minimum(n_slots - n_real, n_real)
        if max_splits is not None:
            n_split = n_split.clamp_max(max_splits)
    # a random permutation per jet with the real particles first
    keys = torch.where(mask, _rand((b, n_slots), x, generator), torch.full_like(x[..., 0], 2.0))
    order = torch.argsort(keys, dim=1)  # (B, N): source particle of split j is order[:, j]
    active = torch.arange(n_slots, device=x.device).expand(b, -1) < n_split[:, None]
    z = _rand((b, n_slots), x, generator)
    # the source particle keeps z * pT
    keep = torch.ones_like(x[..., 0]).scatter(1, order, torch.where(active, z, 1.0))
    kept = torch.cat([x[..., :2], (x[..., 2] * keep).unsqueeze(-1)], dim=-1)
    # the new particle: same (eta, phi), (1 - z) * pT
    src = torch.gather(x, 1, order.unsqueeze(-1).expand_as(x))
    new = torch.cat([src[..., :2], (src[..., 2] * (1 - z)).unsqueeze(-1)], dim=-1)
    # both in a 2N buffer, sorted by pT (stable: originals before split products) and cut back
    # to N slots; without truncate every split has a free slot, so the cut drops only padding
    buf_mask = torch.cat([mask, active], dim=1)
    buf = torch.cat([kept, new], dim=1)
    buf = torch.where(buf_mask.unsqueeze(-1), buf, torch.zeros_like(buf))
    out, out_mask = sort_by_pt(buf, buf_mask)
    return out[:, :n_slots], out_mask[:, :n_slots]


def local_crop(
    x: Tensor, mask: Tensor, n_particles: int = 10, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """A local view of each jet, as DINO's local crops of an image: the ``n_particles``
    particles nearest in (eta, phi) to a seed particle drawn with probability pT_i / sum pT.

    Returns ``(B, n_particles, 3)`` and its mask: the kept particles with their features
    unchanged (pT still relative to the whole jet), in the jet's order (by decreasing pT when
    the jet is), padding at the end for jets with fewer real particles. Not one of
    :data:`AUGMENTATIONS`: it shortens the particle axis.
    """
    mask = _check(x, mask)
    if n_particles < 1:
        raise ValueError(f"local_crop: n_particles must be >= 1, got {n_particles}")
    k = min(n_particles, x.shape[1])
    weight = torch.where(mask, x[..., 2].clamp_min(0), torch.zeros_like(x[..., 2]))
    weight[:, 0] += (weight.sum(1) <= 0).to(weight.dtype)  # no pT: the first slot is the seed
    seed = torch.multinomial(weight, 1, generator=generator)  # (B, 1)
    centre = torch.gather(x[..., :2], 1, seed.unsqueeze(-1).expand(-1, -1, 2))  # (B, 1, 2)
    dist = ((x[..., :2] - centre) ** 2).sum(-1)
    dist = torch.where(mask, dist, torch.full_like(dist, math.inf))
    keep = torch.topk(dist, k, dim=1, largest=False).indices.sort(dim=1).values
    out_mask = torch.gather(mask, 1, keep)
    # sorted slots keep the jet's order: its real particles first, padding (if any) last
    out = torch.gather(x, 1, keep.unsqueeze(-1).expand(-1, -1, 3)) * out_mask.unsqueeze(-1)
    return out, out_mask


AUGMENTATIONS: dict[str, Augmentation] = {
    "rotate": rotate,
    "smear": smear,
    "collinear_split": collinear_split,
    "translate": translate,
}
DEFAULT_AUGMENTATIONS: tuple[str, ...] = ("rotate", "smear", "collinear_split")


class Compose:
    """Apply augmentations in order: ``Compose([rotate, smear])(x, mask, jet_pt)``."""

    def __init__(self, augmentations: Sequence[Augmentation]) -> None:
        self.augmentations = list(augmentations)

    def __call__(
        self,
        x: Tensor,
        mask: Tensor,
        jet_pt: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        for aug in self.augmentations:
            x, mask = aug(x, mask, jet_pt, generator=generator)
        return x, mask

    def __repr__(self) -> str:
        names = [getattr(getattr(a, "func", a), "__name__", repr(a)) for a in self.augmentations]
        return f"Compose({names})"


def build_augmentations(
    spec: Sequence[str] | Mapping[str, Mapping[str, Any] | None] | None = DEFAULT_AUGMENTATIONS,
) -> Compose:
    """Build a :class:`Compose` from a list of names (``["rotate", "smear"]``) or an ordered
    mapping name -> keyword arguments (``{"smear": {"lambda_qcd": 0.1}, "rotate": {}}``).
    ``None`` or an empty list gives the identity."""
    if spec is None:
        return Compose([])
    items = spec.items() if isinstance(spec, Mapping) else [(name, None) for name in spec]
    augs: list[Augmentation] = []
    for name, kwargs in items:
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}")
        augs.append(partial(AUGMENTATIONS[name], **dict(kwargs or {})))
    return Compose(augs)
