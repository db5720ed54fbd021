"""MomentumRecipe: an SSLRecipe with an EMA teacher and its cosine momentum schedule.

The teacher is a frozen copy of named student modules (``init_teacher(["backbone", "head"])``),
stored in ``self.teacher`` (a ModuleDict, so checkpoints carry it). After every optimiser step,
``theta_t <- m * theta_t + (1 - m) * theta_s`` with m following a cosine schedule from
``ema_momentum`` (0.996) to ``ema_momentum_end`` (1.0) over the fit (the jBOT paper, Table 1,
after BYOL/DINO); buffers (e.g. the preprocessing numbers) are copied. The teacher always runs
in eval mode (no dropout): its targets are the deterministic output of the averaged weights.
Under DDP the student weights are identical on every rank after the step, so the teachers stay
identical without communication.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from jetzoo.recipes.base import SSLRecipe

__all__ = ["MomentumRecipe", "cosine_momentum"]


def cosine_momentum(step: int, total: int, start: float = 0.996, end: float = 1.0) -> float:
    """EMA momentum at ``step`` of ``total``: end - (end - start) * (cos(pi step/total) + 1) / 2."""
    progress = min(max(step / max(total, 1), 0.0), 1.0)
    return end - (end - start) * (math.cos(math.pi * progress) + 1) / 2


class MomentumRecipe(SSLRecipe):
    """SSLRecipe whose subclasses call :meth:`init_teacher` at the end of ``__init__``.

    Args (besides :class:`SSLRecipe`'s):
        ema_momentum: teacher momentum at the first step.
        ema_momentum_end: teacher momentum at the last step.
    """

    def __init__(
        self,
        backbone: str = "jbot-s",
        backbone_overrides: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        ema_momentum: float = 0.996,
        ema_momentum_end: float = 1.0,
        train_dropout: float | None = None,
    ) -> None:
        super().__init__(backbone, backbone_overrides, optimizer, train_dropout)
        if not 0.0 <= ema_momentum <= ema_momentum_end <= 1.0:
            raise ValueError(
                f"need 0 <= ema_momentum ({ema_momentum}) <= ema_momentum_end "
                f"({ema_momentum_end}) <= 1"
            )
        self.ema_momentum = ema_momentum
        self.ema_momentum_end = ema_momentum_end
        self._momentum_names: tuple[str, ...] = ()
        self._last_ema_step = -1

    def init_teacher(self, names: Sequence[str]) -> None:
        """Create the teacher as frozen deep copies of the student modules ``names``."""
        self._momentum_names = tuple(names)
        self.teacher = nn.ModuleDict({n: copy.deepcopy(getattr(self, n)) for n in names})
        self.teacher.requires_grad_(False)
        self.teacher.eval()

    def backbone_copies(self) -> list[nn.Module]:
        return (
            [self.backbone, self.teacher["backbone"]]
            if "backbone" in self._momentum_names
            else [self.backbone]
        )

    def train(self, mode: bool = True) -> "MomentumRecipe":
        super().train(mode)
        if hasattr(self, "teacher"):
            self.teacher.eval()
        return self

    def current_momentum(self) -> float:
        """Momentum of the next EMA update (the schedule at ``global_step``)."""
        total = self.total_steps()
        if total is None:
            return self.ema_momentum
        return cosine_momentum(self.global_step, total, self.ema_momentum, self.ema_momentum_end)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """theta_t <- m theta_t + (1 - m) theta_s for every momentum pair; copy buffers."""
        for name in self._momentum_names:
            student, teacher = getattr(self, name), self.teacher[name]
            s_params, t_params = list(student.parameters()), list(teacher.parameters())
            torch._foreach_mul_(t_params, momentum)
            torch._foreach_add_(t_params, [p.detach() for p in s_params], alpha=1 - momentum)
            for b_s, b_t in zip(student.buffers(), teacher.buffers()):
                b_t.copy_(b_s)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # global_step counts optimiser steps: update once per step (gradient accumulation)
        step = self.trainer.global_step
        if step != self._last_ema_step and step > 0:
            total = self.total_steps()
            m = (
                cosine_momentum(step - 1, total, self.ema_momentum, self.ema_momentum_end)
                if total
                else self.ema_momentum
            )
            self.update_teacher(m)
            self._last_ema_step = step
