"""Fine-tuning a backbone for classification: LLRD, LoRA and the supervised-from-scratch baseline.

- :class:`~jetzoo.models.classifier.JetClassifier` (the model trained here, saved and loaded
  like any zoo model): a backbone and an MLP head on its [CLS] embedding with two hidden layers
  of width 2d and d (the jBOT paper, Table 1), GELU activations.
- :func:`llrd_param_groups`: layer-wise learning-rate decay (BEiT convention). The head gets the
  base LR; a backbone parameter with ``backbone.get_layer_id(name) = i`` gets
  ``base_lr * decay ** (L + 1 - i)`` where ``L + 1`` is the largest layer id (the final norm,
  so ``L`` = depth for a ParticleTransformer): the final norm trains at the base LR, the last
  block at ``base * decay``, ..., the particle embedding at ``base * decay ** (L + 1)``.
- :func:`apply_lora`: low-rank adapters on the backbone's ``lora_targets`` (the fused ``qkv``
  projections of every registered model) through ``peft.LoraConfig(target_modules, r=rank)``.
  Base weights are frozen; each wrapped ``Linear(in, out)`` adds ``rank * (in + out)``
  trainable parameters.
- mode ``scratch``: the same architecture with fresh random weights, all parameters at the base LR.
- :func:`finetune`: a small grid scan (base LR x decay), each point trained through the Lightning
  Trainer (``devices=N`` works), the point with the best validation accuracy (ties: lower
  validation loss) is kept and scores the test split.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jetzoo.leaderboard.batches import Batch, make_loader, select, stratified_subset
from jetzoo.models.classifier import ClassifierHead, JetClassifier  # noqa: F401 (the model)

log = logging.getLogger(__name__)

#: llrd / lora / full start from the backbone's weights (full: every parameter at the base LR),
#: linear freezes it (only the head trains), scratch re-draws its weights (supervised baseline)
MODES = ("llrd", "lora", "full", "linear", "scratch")


def _no_weight_decay(name: str, param: nn.Parameter) -> bool:
    return param.ndim <= 1 or name.endswith(".bias") or "token" in name


def num_llrd_layers(backbone: nn.Module) -> int:
    """``L`` of the LLRD formula: the largest ``get_layer_id`` over parameters, minus one."""
    return max(backbone.get_layer_id(n) for n, _ in backbone.named_parameters()) - 1


def llrd_param_groups(
    model: JetClassifier, base_lr: float, decay: float, weight_decay: float = 1e-4
) -> list[dict[str, Any]]:
    """AdamW parameter groups with layer-wise LR decay (see the module docstring).

    Only parameters with ``requires_grad`` are included; biases, norms and tokens get no weight
    decay. Each group has ``name`` (``head`` or ``layer_<i>``), ``lr``, ``weight_decay`` and
    ``lr_scale`` = decay ** k.
    """
    n_layers = num_llrd_layers(model.backbone)
    groups: dict[tuple[str, bool], dict[str, Any]] = {}

    def add(key: str, exponent: int, name: str, param: nn.Parameter) -> None:
        no_wd = _no_weight_decay(name, param)
        g = groups.setdefault(
            (key, no_wd),
            {
                "name": key,
                "params": [],
                "param_names": [],
                "lr_scale": decay**exponent,
                "lr": base_lr * decay**exponent,
                "weight_decay": 0.0 if no_wd else weight_decay,
            },
        )
        g["params"].append(param)
        g["param_names"].append(name)

    for name, p in model.backbone.named_parameters():
        if p.requires_grad:
            layer = model.backbone.get_layer_id(name)
            add(f"layer_{layer}", n_layers + 1 - layer, name, p)
    for name, p in model.head.named_parameters():
        if p.requires_grad:
            add("head", 0, f"head.{name}", p)
    return list(groups.values())


def flat_param_groups(
    model: nn.Module, base_lr: float, weight_decay: float = 1e-4
) -> list[dict[str, Any]]:
    """All trainable parameters at ``base_lr`` (LoRA and from-scratch training)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if _no_weight_decay(name, p) else decay).append(p)
    return [
        {"name": "all", "params": decay, "lr": base_lr, "weight_decay": weight_decay},
        {"name": "all_no_wd", "params": no_decay, "lr": base_lr, "weight_decay": 0.0},
    ]


# --------------------------------------------------------------------------------------------
# LoRA
# --------------------------------------------------------------------------------------------


def apply_lora(
    backbone: nn.Module,
    rank: int = 4,
    alpha: float | None = None,
    target_modules: Sequence[str] | None = None,
) -> None:
    """Add peft rank-``rank`` adapters to the ``Linear`` layers named ``target_modules``
    (default: the backbone's ``lora_targets``, Backbone protocol) in place and freeze every
    other backbone parameter. A backbone without such layers is a ValueError naming them."""
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    if target_modules is None:
        target_modules = tuple(getattr(backbone, "lora_targets", ("qkv",)))
    names = [name for name, _ in backbone.named_modules()]
    if not any(n == t or n.endswith("." + t) for t in target_modules for n in names):
        raise ValueError(
            f"no module named {list(target_modules)} in {type(backbone).__name__}: "
            "nothing to adapt with LoRA"
        )
    config = LoraConfig(
        target_modules=list(target_modules),
        r=rank,
        lora_alpha=alpha if alpha is not None else rank,
        lora_dropout=0.0,
        bias="none",
    )
    inject_adapter_in_model(config, backbone)
    for name, p in backbone.named_parameters():
        p.requires_grad_("lora_" in name)


def merge_lora(model: JetClassifier) -> JetClassifier:
    """A plain :class:`JetClassifier` (no adapter modules) computing what ``model`` computes:
    each peft LoRA layer merged into its base weight (``W + scale * B A``), so the saved
    classifier is an ordinary zoo folder. A model without adapters is returned as it is."""
    wrapped = [m for m in model.modules() if hasattr(m, "base_layer") and hasattr(m, "merge")]
    if not wrapped:
        return model
    for module in wrapped:
        module.merge()
    state = {}
    for key, value in model.state_dict().items():
        if "lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = value
    plain = JetClassifier(model.backbone.config, dropout=model.dropout, classes=model.classes)
    plain.load_state_dict(state, strict=True)
    return plain.eval()


def count_trainable(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


class FineTuneModule(L.LightningModule):
    """Cross-entropy training of a :class:`JetClassifier` with given AdamW parameter groups and
    a cosine LR schedule (per step, to zero at the end of training)."""

    def __init__(self, model: JetClassifier, param_groups: list[dict[str, Any]]) -> None:
        super().__init__()
        self.model = model
        self._groups = param_groups

    def forward(self, batch: Batch) -> Tensor:
        return self.model(batch)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = F.cross_entropy(self.model(batch), batch["label"].long())
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["label"]))
        return loss

    def configure_optimizers(self) -> Any:
        groups = [{k: v for k, v in g.items() if k != "param_names"} for g in self._groups]
        groups = [g for g in groups if g["params"]]
        opt = torch.optim.AdamW(groups)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


@torch.no_grad()
def predict_proba(model: nn.Module, data: Batch, batch_size: int = 1024) -> Tensor:
    """Softmax probabilities ``(N, C)`` of ``model`` on ``data``, in order (eval mode, CPU out)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for batch in make_loader(data, batch_size):
        batch = {k: v.to(device) for k, v in batch.items()}
        out.append(torch.softmax(model(batch).float(), dim=-1).cpu())
    model.train(was_training)
    return torch.cat(out)


@dataclass
class FineTuneSettings:
    """How to fine-tune: ``mode`` in :data:`MODES`, the grid, the label fraction, the Trainer."""

    mode: str = "llrd"
    base_lrs: Sequence[float] = (8e-4,)
    decays: Sequence[float] = (0.7,)
    lora_rank: int = 4
    lora_targets: Sequence[str] | None = None  # default: the backbone's lora_targets
    label_fraction: float = 1.0
    max_epochs: int = 20
    batch_size: int = 256
    weight_decay: float = 1e-4
    head_dropout: float = 0.0
    seed: int = 0
    devices: int | str = 1
    accelerator: str = "auto"
    progress: bool = False
    checkpoint_dir: str | None = None  # per grid point: checkpoints/point-<k>/last.ckpt
    resume: bool = False  # continue each grid point from its last.ckpt
    sitting_minutes: float | None = None  # stop at the first epoch end past this (FineTunePaused)

    def grid(self) -> list[dict[str, float]]:
        """The (base_lr, decay) points scanned; decay only matters for ``llrd``."""
        if self.mode not in MODES:
            raise ValueError(f"unknown fine-tuning mode {self.mode!r}; known: {', '.join(MODES)}")
        decays: Iterable[float] = self.decays if self.mode == "llrd" else (1.0,)
        return [
            {"base_lr": float(lr), "decay": float(d)}
            for lr, d in itertools.product(self.base_lrs, decays)
        ]


@dataclass
class FineTuneResult:
    """Selected grid point, its test-set probabilities and the whole scan."""

    test_proba: Tensor
    best: dict[str, float]
    scan: list[dict[str, float]] = field(default_factory=list)
    trainable_params: int = 0
    n_train: int = 0
    lora_impl: str | None = None
    model: JetClassifier | None = None  # the selected classifier (CPU, eval mode)


def build_classifier(
    backbone: nn.Module,
    num_classes: int,
    settings: FineTuneSettings,
    classes: Sequence[str] | None = None,
) -> tuple[JetClassifier, str | None]:
    """A fresh :class:`JetClassifier` for ``settings.mode`` (copies the backbone; ``scratch``
    rebuilds it from its config with random weights; ``linear`` freezes it)."""
    from jetzoo.models.registry import random_init_like

    if settings.mode == "scratch":
        net = random_init_like(backbone, settings.seed)
    else:
        net = copy.deepcopy(backbone)
    net.train()  # a loaded backbone is in eval mode; fine-tuning uses its dropout
    for p in net.parameters():
        p.requires_grad_(True)
    lora_impl = (
        apply_lora(net, settings.lora_rank, target_modules=settings.lora_targets)
        if settings.mode == "lora"
        else None
    )
    if settings.mode == "linear":
        net.requires_grad_(False)
        net.eval()  # a frozen backbone keeps its dropout off
    torch.manual_seed(settings.seed)
    return JetClassifier(net, num_classes, settings.head_dropout, classes=classes), lora_impl


def param_groups_for(
    model: JetClassifier, settings: FineTuneSettings, base_lr: float, decay: float
) -> list[dict[str, Any]]:
    """LLRD groups for ``llrd``, one flat group otherwise."""
    if settings.mode == "llrd":
        return llrd_param_groups(model, base_lr, decay, settings.weight_decay)
    return flat_param_groups(model, base_lr, settings.weight_decay)


class FineTunePaused(RuntimeError):
    """A sitting (``settings.sitting_minutes``) ended before every grid point was trained; the
    checkpoints let ``settings.resume`` continue."""


def make_trainer(settings: FineTuneSettings, callbacks: Sequence[Any] = ()) -> L.Trainer:
    """The Lightning Trainer of one fine-tuning run (no logger; checkpoints only when a
    ``ModelCheckpoint`` is among ``callbacks``)."""
    if not settings.progress:  # one fit per grid point: keep Lightning's banner out of the log
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    devices = settings.devices
    multi = (isinstance(devices, int) and devices > 1) or (
        isinstance(devices, str) and devices not in ("1", "auto")
    )
    from lightning.pytorch.callbacks import ModelCheckpoint

    return L.Trainer(
        max_epochs=settings.max_epochs,
        accelerator=settings.accelerator,
        devices=devices,
        strategy="ddp" if multi else "auto",
        logger=False,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        callbacks=list(callbacks),
        enable_model_summary=False,
        enable_progress_bar=settings.progress,
        num_sanity_val_steps=0,
    )


def _sitting_callbacks(
    settings: FineTuneSettings, point: int, started: float
) -> tuple[list[Any], str | None]:
    """Checkpoints of grid point ``point`` (and the one to resume from), and a Lightning
    ``Timer`` ending the sitting at an epoch boundary."""
    import datetime
    import time
    from pathlib import Path

    from lightning.pytorch.callbacks import ModelCheckpoint, Timer

    callbacks: list[Any] = []
    resume_from = None
    if settings.checkpoint_dir is not None:
        folder = Path(settings.checkpoint_dir) / f"point-{point}"
        callbacks.append(
            ModelCheckpoint(
                dirpath=folder,
                save_last=True,
                save_top_k=0,
                every_n_epochs=1,
                enable_version_counter=False,
            )
        )
        if settings.resume and (folder / "last.ckpt").is_file():
            resume_from = str(folder / "last.ckpt")
    if settings.sitting_minutes is not None:
        left = max(settings.sitting_minutes * 60 - (time.perf_counter() - started), 1e-3)
        callbacks.append(Timer(duration=datetime.timedelta(seconds=left), interval="epoch"))
    return callbacks, resume_from


def finetune(
    backbone: nn.Module,
    train: Batch,
    val: Batch,
    test: Batch,
    num_classes: int,
    settings: FineTuneSettings,
    classes: Sequence[str] | None = None,
) -> FineTuneResult:
    """Fine-tune ``backbone`` on ``train`` (``settings.label_fraction`` of it, class-stratified)
    at every grid point, select on ``val`` accuracy and return the test probabilities and the
    selected classifier (its classes named ``classes``). The one fine-tuning implementation:
    the leaderboard's evaluators and ``jetzoo finetune`` both call it."""
    if settings.label_fraction < 1.0:
        train = select(
            train, stratified_subset(train["label"], settings.label_fraction, settings.seed)
        )
    n_train = len(train["label"])
    best: tuple[float, float] | None = None
    result: FineTuneResult | None = None
    scan = []
    import time

    started = time.perf_counter()
    for k, point in enumerate(settings.grid()):
        L.seed_everything(settings.seed, workers=True, verbose=False)
        model, lora_impl = build_classifier(backbone, num_classes, settings, classes)
        groups = param_groups_for(model, settings, point["base_lr"], point["decay"])
        module = FineTuneModule(model, groups)
        callbacks, resume_from = _sitting_callbacks(settings, k, started)
        trainer = make_trainer(settings, callbacks)
        loader = make_loader(
            train, min(settings.batch_size, n_train), shuffle=True, seed=settings.seed
        )
        trainer.fit(module, train_dataloaders=loader, ckpt_path=resume_from, weights_only=True)
        if trainer.current_epoch < settings.max_epochs:  # the sitting's time ran out
            raise FineTunePaused(
                f"grid point {k + 1} of {len(settings.grid())} paused after "
                f"epoch {trainer.current_epoch} of {settings.max_epochs}"
            )
        model = model.cpu()
        val_p = predict_proba(model, val)
        val_acc = float((val_p.argmax(1) == val["label"]).float().mean())
        val_loss = float(F.nll_loss(torch.log(val_p.clamp_min(1e-12)), val["label"].long()))
        scan.append({**point, "val_accuracy": val_acc, "val_loss": val_loss})
        log.info("fine-tune %s %s: val acc %.4f loss %.4f", settings.mode, point, val_acc, val_loss)
        key = (val_acc, -val_loss)
        if best is None or key > best:
            best = key
            result = FineTuneResult(
                test_proba=predict_proba(model, test),
                best=scan[-1],
                trainable_params=count_trainable(model),
                n_train=n_train,
                lora_impl=lora_impl,
                model=model.eval(),
            )
    assert result is not None
    result.scan = scan
    return result
