"""jBOT: iBOT-style self-distillation for jets (the jBOT paper, Sec. 3, 4.2, Table 1).

Per training step, from each jet two views u, v are drawn (rotation, eta/phi smearing,
collinear splitting). Each view gets a pT-aware token mask with a target ratio uniform in
[0, 0.5]. The student (backbone + projection head) sees the masked views, the EMA teacher the
full views. The loss is

    L = L_Part + L_[CLS] + lambda * L_KoLeo     (``part_weight`` scales L_Part; 1 here)

- L_Part (same-view, eq. 1): DINO cross-entropy between teacher and student projections of the
  masked particle tokens, averaged over the masked particles of each view, then over views;
- L_[CLS] (cross-view, eq. 2): teacher [CLS] of u vs student [CLS] of v and vice versa;
- L_KoLeo (eq. 3): on the l2-normalised student backbone [CLS] embedding of view u, lambda=0.01.

Optional, not in the paper: ``local_views`` L > 0 adds DINO's multi-crop. L local views per jet
(the particles nearest a pT-drawn seed particle) go through the student unmasked, their [CLS]
is matched to the teacher's [CLS] of u and of v, and L_[CLS] becomes the mean over all 2 + 2L
(student, teacher) view pairs.

How we read Table 1 (documented choices):

- Projection head: one head shared by the [CLS] and the particle tokens. Table 1 gives
  d_proj = d/2 and "two hidden layers: 8 d_proj, d_proj"; we read them as DINO's head scaled
  down: d -> 8*d_proj (GELU) -> d_proj (l2-normalised bottleneck) -> d_proj logits through
  l2-normalised prototype rows (DINO's weight-normed last layer, g = 1). The softmax runs over
  d_proj = 16 (jBOT-S) or 32 (jBOT-B). The paper does not say whether the head normalises; we
  follow DINO/iBOT, whose bounded cosine logits let the 0.04 teacher temperature sharpen from
  the first step (with a plain linear output and ViT-style 0.02 init the logits are ~1e-4 and
  the teacher is uniform) (:class:`jetzoo.models.heads.ProjectionHead`).
- Centering: c <- 0.9 c + 0.1 * batch mean of the teacher outputs. The [CLS] and the particle
  outputs have separate centres (as in iBOT's ``center`` and ``center2``); the particle centre
  averages over real particles only. Under DDP the batch means are all-reduced.
- Temperatures 0.04 (teacher, fixed, no warm-up) and 0.1 (student).
- EMA momentum: cosine 0.996 -> 1 over the fit (:class:`MomentumRecipe`); teacher in eval mode.
- Logged: ``entropy`` of the centred, sharpened teacher [CLS] distribution, ``center_norm`` (the
  [CLS] centre's l2 norm), ``loss_cls``, ``loss_part``, ``koleo``, ``ema_momentum``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from jetzoo.augmentations import local_crop
from jetzoo.losses import dino_cross_entropy, entropy, koleo, teacher_probs, update_center
from jetzoo.masking import pt_aware_mask, sample_mask_ratios
from jetzoo.models.heads import projection_head
from jetzoo.recipes.momentum import MomentumRecipe

__all__ = ["JBOTRecipe"]


class JBOTRecipe(MomentumRecipe):
    """jBOT pre-training of a particle backbone.

    Args:
        backbone, backbone_overrides, optimizer: see :class:`SSLRecipe`.
        proj_dim: d_proj (default d/2).
        proj_hidden_mult: first hidden layer width as a multiple of d_proj (8).
        teacher_temp, student_temp: softmax temperatures (0.04, 0.1).
        center_momentum: tau_c (0.9).
        koleo_weight: lambda (0.01).
        part_weight: the weight of L_Part, the masked-particle loss, against L_[CLS]'s 1 (1, the
            paper's sum; 0 leaves a DINO-style [CLS]-only objective plus KoLeo).
        mask_ratio_min, mask_ratio_max: per-view pT masking ratio range ([0, 0.5]).
        ema_momentum, ema_momentum_end: teacher EMA schedule (0.996 -> 1).
        augmentations: None = rotate, smear, collinear_split; [] = none; names or {name: kwargs}.
        prototypes: the head ends in a cosine against learnt prototypes (True) or, as the jBOT
            reference code, the l2-normalised bottleneck is the logit vector (False).
        n_prototypes: the number of prototypes, the teacher's softmax width (default d_proj;
            DINO uses far more than its bottleneck width).
        koleo_input: KoLeo on the backbone's [CLS] ("backbone", the reference's "raw [CLS]")
            or on the projected [CLS] ("head").
        local_views: local views per jet (0: none, the paper's jBOT). Each is an augmented view
            cut to its ``local_particles`` particles nearest a pT-drawn seed particle
            (:func:`jetzoo.augmentations.local_crop`); the student's [CLS] of each, unmasked,
            is matched to the teacher's [CLS] of both full views, and L_[CLS] averages over all
            (student, teacher) view pairs, as DINO's multi-crop.
        local_particles: particles per local view (10).
        train_dropout: the student's dropout rate while pre-training (None: the backbone's own;
            the jBOT reference pre-trains with its blocks' dropout off, ``recipes/jbot-s.yaml``
            has the measurement); the exported backbone keeps its own rate for fine-tuning.
    """

    uses_mask_token = True  # masked particles are replaced by the [MASK] token

    def __init__(
        self,
        backbone: str = "jbot-s",
        backbone_overrides: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        proj_dim: int | None = None,
        proj_hidden_mult: int = 8,
        teacher_temp: float = 0.04,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        koleo_weight: float = 0.01,
        part_weight: float = 1.0,
        mask_ratio_min: float = 0.0,
        mask_ratio_max: float = 0.5,
        ema_momentum: float = 0.996,
        ema_momentum_end: float = 1.0,
        augmentations: list[str] | dict[str, Any] | None = None,
        prototypes: bool = True,
        n_prototypes: int | None = None,
        koleo_input: str = "backbone",
        local_views: int = 0,
        local_particles: int = 10,
        train_dropout: float | None = None,
    ) -> None:
        super().__init__(
            backbone, backbone_overrides, optimizer, ema_momentum, ema_momentum_end, train_dropout
        )
        self.save_hyperparameters()
        if koleo_input not in ("backbone", "head"):
            raise ValueError(f"koleo_input must be 'backbone' or 'head', got {koleo_input!r}")
        if part_weight < 0:
            raise ValueError(f"part_weight must be >= 0, got {part_weight}")
        if local_views < 0 or local_particles < 1:
            raise ValueError(
                f"local_views must be >= 0 and local_particles >= 1, got "
                f"{local_views} and {local_particles}"
            )
        self.head = projection_head(
            self.backbone.num_features, proj_dim, proj_hidden_mult, prototypes, n_prototypes
        )
        k = self.head.out_dim
        self.register_buffer("center_cls", torch.zeros(1, k))
        self.register_buffer("center_part", torch.zeros(1, k))
        self.augment = self.make_augmentations(augmentations)
        sample_mask_ratios(1, mask_ratio_min, mask_ratio_max)  # validates the range
        self.init_teacher(["backbone", "head"])

    def _two_views(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Both augmented views stacked along the batch: (2B, N, 3), (2B, N)."""
        x, mask, jet_pt = batch["x"], batch["mask"].bool(), batch["jet"][:, 0]
        views = [self.augment(x, mask, jet_pt) for _ in range(2)]
        return torch.cat([v[0] for v in views]), torch.cat([v[1] for v in views])

    def _local_cls(self, batch: dict[str, Tensor]) -> Tensor:
        """The student backbone's [CLS] of ``local_views`` local views per jet, stacked."""
        x, mask, jet_pt = batch["x"], batch["mask"].bool(), batch["jet"][:, 0]
        views = [
            local_crop(*self.augment(x, mask, jet_pt), self.hparams.local_particles)
            for _ in range(self.hparams.local_views)
        ]
        return self.backbone(torch.cat([v[0] for v in views]), torch.cat([v[1] for v in views])).cls

    @torch.no_grad()
    def _update_centers(self, t_cls: Tensor, t_tok: Tensor, mask: Tensor) -> None:
        """EMA of the teacher batch means (all ranks): [CLS] and real-particle outputs."""
        update_center(self.center_cls, t_cls, self.hparams.center_momentum)
        update_center(self.center_part, t_tok, self.hparams.center_momentum, mask=mask)

    def compute_loss(
        self, batch: dict[str, Tensor], stage: str
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        hp = self.hparams
        x, mask = self._two_views(batch)
        b2 = x.shape[0]
        ratio = sample_mask_ratios(b2, hp.mask_ratio_min, hp.mask_ratio_max, device=x.device)
        token_mask = pt_aware_mask(x[..., 2], mask, ratio)

        student = self.backbone(x, mask, token_mask=token_mask)
        s_cls = self.head(student.cls)
        # L_Part reads the student at masked particles only (~1/4 of the tokens): the head runs
        # there, the other rows stay zero and carry zero weight in the loss
        s_masked = self.head(student.tokens[token_mask])
        s_tok = s_masked.new_zeros(*token_mask.shape, s_masked.shape[-1])
        s_tok[token_mask] = s_masked
        with torch.no_grad():
            teacher = self.teacher["backbone"](x, mask)
            t_cls, t_tok = self.teacher["head"](teacher.cls), self.teacher["head"](teacher.tokens)

        b = b2 // 2
        t_cls_swapped = torch.cat([t_cls[b:], t_cls[:b]])  # student u <-> teacher v
        loss_cls = dino_cross_entropy(
            s_cls, t_cls_swapped, self.center_cls, hp.student_temp, hp.teacher_temp
        )
        if hp.local_views:
            s_loc = self.head(self._local_cls(batch))  # (L * B, K): local view l at rows l*B...
            k = s_loc.shape[-1]
            pairs = (
                s_loc.view(-1, 1, b, k).expand(-1, 2, -1, -1).reshape(-1, k),
                t_cls.view(1, 2, b, k).expand(hp.local_views, -1, -1, -1).reshape(-1, k),
            )
            loss_local = dino_cross_entropy(
                *pairs, self.center_cls, hp.student_temp, hp.teacher_temp
            )
            # the mean over all (student, teacher) view pairs: 2 global, 2 per local view
            loss_cls = (loss_cls + hp.local_views * loss_local) / (1 + hp.local_views)
        loss_part = dino_cross_entropy(
            s_tok, t_tok, self.center_part, hp.student_temp, hp.teacher_temp, mask=token_mask
        )
        # one view only (on both, KoLeo would push the positives apart), as the reference
        loss_koleo = koleo((student.cls if hp.koleo_input == "backbone" else s_cls)[:b])
        loss = hp.part_weight * loss_part + loss_cls + hp.koleo_weight * loss_koleo

        metrics: dict[str, Tensor | float] = {
            "loss_cls": loss_cls.detach(),
            "loss_part": loss_part.detach(),
            "koleo": loss_koleo.detach(),
            "entropy": entropy(teacher_probs(t_cls, self.center_cls, hp.teacher_temp)),
            "center_norm": self.center_cls.norm(),
            "mask_fraction": (token_mask.sum() / mask.sum().clamp_min(1)).detach(),
        }
        if hp.local_views:
            metrics["loss_local"] = loss_local.detach()
        if stage == "train":
            metrics["ema_momentum"] = self.current_momentum()
            self._update_centers(t_cls, t_tok, mask)
        return loss, metrics
