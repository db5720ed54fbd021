"""FastDropout: inverted dropout with a cheaper random mask on the CPU.

PyTorch's CPU dropout draws one Mersenne-Twister number per element (``bernoulli_``), which
made dropout a third of a jBOT-S forward + backward on the 2-core machine. Here one 64-bit draw
of the same generator gives four 16-bit lanes, and an element is kept when its lane is at or
above a threshold: the keep probability is ``round((1 - p) * 2**16) / 2**16`` (0.2 -> 0.199997),
and kept elements are scaled by its inverse, so the expectation is exact. Seeding
(``torch.manual_seed`` / ``lightning.seed_everything``) makes it reproducible as usual. On other
devices it is ``torch.nn.functional.dropout`` (fused there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FastDropout", "set_dropout"]

_LANES = 1 << 16


class FastDropout(nn.Module):
    """``nn.Dropout(p)`` in distribution; 2-3x faster on the CPU (see module docstring)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    @property
    def p(self) -> float:
        """The drop probability (settable)."""
        return self._p

    @p.setter
    def p(self, p: float) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self._p = p
        keep = round((1.0 - p) * _LANES)
        self._threshold = _LANES // 2 - keep  # keep iff lane (int16) >= threshold
        self._scale = _LANES / keep

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        n = x.numel()
        bits = torch.randint(-(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64)
        keep = bits.view(torch.int16)[:n].view(x.shape) >= self._threshold
        return x * (keep.to(x.dtype) * self._scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def set_dropout(module: nn.Module, p: float) -> int:
    """Set the rate of every dropout layer that is on (:class:`FastDropout`, ``nn.Dropout``
    with rate > 0) in ``module`` to ``p`` and return how many there are; layers at rate 0 stay
    off. The module's ``config`` is not touched: this changes how it trains, not what it is
    (e.g. pre-training without the dropout a backbone keeps for fine-tuning)."""
    layers = [m for m in module.modules() if isinstance(m, (FastDropout, nn.Dropout)) and m.p > 0]
    for m in layers:
        m.p = p
    return len(layers)
