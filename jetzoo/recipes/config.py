"""Recipe YAML schema, loading and validation.

A recipe file has the top-level keys ``recipe``, ``seed``, ``model``, ``optimizer``, ``data``,
``trainer``, ``output``, ``logging``, ``compile`` and ``init_from`` (see :class:`RecipeConfig`).
Loading merges, in order, the schema defaults, the YAML file and dotted command-line overrides
(``trainer.max_epochs=2``), then validates:

- unknown keys and wrong types in the fixed sections (``optimizer``, ``data``, ``output``,
  ``logging``) through the omegaconf structured schema;
- ``model``: the recipe's constructor signature (``inspect.signature``), the backbone name against
  the registry, ``model.backbone_overrides`` against the backbone architecture's signature;
- ``trainer``: the keyword arguments of ``lightning.Trainer``.

Every error is a :class:`ConfigError` whose message names the file (or the override) and the
dotted key, e.g. ``recipes/jbot-s.yaml: model.teacher_tmp: unknown key for recipe 'jbot' ...``.
"""

from __future__ import annotations

import difflib
import inspect
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml
from omegaconf import MISSING, DictConfig, OmegaConf

from jetzoo.data.schema import FAMILIES
from jetzoo.utils.structured import merge_structured
from jetzoo.utils.yaml_values import OverrideError, load_yaml, parse_assignment

RECIPE_NAMES: tuple[str, ...] = ("jetclr", "jbot", "autoencoder", "rs3l")
WANDB_MODES: tuple[str, ...] = ("online", "offline", "disabled")
#: ``compile`` values: torch.compile's modes ("default" = its default mode).
COMPILE_MODES: tuple[str, ...] = (
    "default",
    "reduce-overhead",
    "max-autotune",
    "max-autotune-no-cudagraphs",
)


class ConfigError(ValueError):
    """A recipe file or override is invalid; the message names the file and the dotted key."""


@dataclass
class OptimizerConfig:
    """AdamW settings handed to the recipe as ``optimizer=``."""

    lr: float = 5e-4
    weight_decay: float = 1e-4
    warmup_epochs: Optional[float] = None
    warmup_steps: Optional[int] = None
    scale_lr_by_batch: bool = False  # lr * (global batch size / 256), as in jBOT
    min_lr_ratio: float = 0.0  # the cosine decays to lr * min_lr_ratio
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class DataConfig:
    """Which dataset to train on and how to batch it."""

    family: str = "jetnet"  # jetnet (JetDataModule) | rs3l (RS3LDataModule)
    path: Optional[str] = None  # None or "sample": the embedded sample of that family
    classes: Optional[List[str]] = None
    batch_size: int = 256
    num_workers: int = 0
    pairs: bool = False
    split: List[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    seed: int = 0
    max_jets: Optional[int] = None  # training jets per epoch (CPU runs), in whole batches
    # hold the set in memory (no HDF5 read per batch); null: JetNet sets are read per batch,
    # RS3L sets are held when their shards are under 512 MB
    in_memory: Optional[bool] = None


@dataclass
class WandbConfig:
    """Weights & Biases logging; ``mode`` None = online if WANDB_API_KEY is set, else offline."""

    project: str = "jetzoo"
    mode: Optional[str] = None
    entity: Optional[str] = None
    name: Optional[str] = None


@dataclass
class LoggingConfig:
    csv: bool = True
    tensorboard: bool = True
    wandb: Optional[WandbConfig] = None


@dataclass
class OutputConfig:
    dir: Optional[str] = None  # default: runs/<recipe file stem>


@dataclass
class RecipeConfig:
    """The whole recipe file. ``model`` and ``trainer`` are open dicts validated separately."""

    recipe: str = MISSING
    seed: int = 0
    model: Dict[str, Any] = field(default_factory=dict)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: Dict[str, Any] = field(default_factory=dict)
    output: OutputConfig = field(default_factory=OutputConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    # torch.compile the backbone(s) before training: null (eager) or a torch.compile mode
    # (COMPILE_MODES); a GPU option: no gain on the 2-core CPU (notes: training speed on the CPU)
    compile: Optional[str] = None
    # start every backbone copy from trained weights: a run checkpoint (.ckpt: student and EMA
    # teacher), a zoo name, backbone folder or Hub repo id (jetzoo.recipes.warm_start)
    init_from: Optional[str] = None


# --------------------------------------------------------------------------------------------
# loading


def merge_config(base: DictConfig, other: Any, source: str) -> DictConfig:
    """``other`` merged into the structured ``base``; :class:`ConfigError` naming ``source``
    and the key that does not fit the schema."""
    return merge_structured(base, other, source, ConfigError)


#: The recipe files shipped with the package (``recipes/*.yaml`` of the repository).
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipe_files"


def shipped_recipes() -> list[str]:
    """Names of the recipe files shipped with jetzoo (``jetzoo run NAME`` runs one)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe_path(path: str | Path) -> Path:
    """A recipe file path, or the name of a shipped recipe (``jbot-b`` ->
    ``<package>/recipe_files/jbot-b.yaml``, the repository's ``recipes/jbot-b.yaml``)."""
    path = Path(path)
    if not path.is_file() and path.suffix == "" and len(path.parts) == 1:
        shipped = RECIPES_DIR / f"{path.name}.yaml"
        if shipped.is_file():
            return shipped
    return path


def read_recipe_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a recipe file (pre-training or fine-tuning); ConfigError if it
    is missing, not YAML, or not a mapping."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: recipe file not found; shipped recipes (pass the name): "
            + ", ".join(shipped_recipes())
        )
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a recipe file must be a mapping of top-level keys, got {type(data).__name__}"
        )
    section = data.get("data")
    if isinstance(section, dict) and "kind" in section and "family" not in section:
        section["family"] = section.pop("kind")  # the name before 0.3
        print(f"jetzoo: {path}: data.kind is now data.family (read as such)", file=sys.stderr)
    return data


def parse_override(item: str) -> dict[str, Any]:
    """``"a.b=1e-3"`` -> ``{"a": {"b": 0.001}}``: the value parsed as YAML by
    :func:`jetzoo.utils.yaml_values.parse_assignment` (the reader of every jetzoo override)."""
    try:
        parts, value = parse_assignment(item)
    except OverrideError as err:
        raise ConfigError(f"command-line {err}") from None
    out: dict[str, Any] = {}
    node = out
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """Load, merge and validate a recipe file plus dotted overrides; raise :class:`ConfigError`.

    Returns a structured omegaconf ``DictConfig`` of :class:`RecipeConfig` (attribute access:
    ``cfg.data.batch_size``); ``cfg_to_dict`` turns it into a plain dict.
    """
    path = resolve_recipe_path(path)
    cfg = typing.cast(DictConfig, OmegaConf.structured(RecipeConfig))
    cfg = merge_config(cfg, read_recipe_yaml(path), str(path))
    for item in overrides:
        try:
            override = parse_override(item)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        cfg = merge_config(cfg, override, f"{path}: command-line override {item!r}")
    source = f"{path} (with overrides {' '.join(overrides)})" if overrides else str(path)
    validate_config(cfg, source)
    return cfg


def cfg_to_dict(cfg: DictConfig) -> dict[str, Any]:
    """Plain, resolved, YAML/JSON-serialisable dict of a loaded config."""
    return typing.cast(dict, OmegaConf.to_container(cfg, resolve=True))


# --------------------------------------------------------------------------------------------
# validation


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def constructor_params(cls: type) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """Named keyword parameters accepted by ``cls(...)``, their resolved type hints (empty where
    hints cannot be resolved), and whether other keywords may be accepted too.

    A ``**kwargs`` is followed up the MRO while the parent's ``__init__`` is jetzoo code; a
    ``**kwargs`` forwarded elsewhere (e.g. to a wrapped module) leaves the set open.
    """
    params: dict[str, inspect.Parameter] = {}
    hints: dict[str, Any] = {}
    classes = [k for k in cls.__mro__ if "__init__" in k.__dict__]
    for i, klass in enumerate(classes):
        init = klass.__dict__["__init__"]
        sig = inspect.signature(init)
        try:
            hints.update({k: v for k, v in typing.get_type_hints(init).items() if k not in hints})
        except Exception:  # noqa: BLE001 - unresolvable annotations: skip type checks
            pass
        var_kw = False
        for name, p in sig.parameters.items():
            if name == "self" or p.kind == p.VAR_POSITIONAL:
                continue
            if p.kind == p.VAR_KEYWORD:
                var_kw = True
                continue
            params.setdefault(name, p)
        if not var_kw:
            return params, hints, False
        parent = classes[i + 1] if i + 1 < len(classes) else object
        if not parent.__module__.startswith("jetzoo."):
            return params, hints, True
    return params, hints, True


def _type_ok(value: Any, hint: Any) -> bool:
    """Loose isinstance for simple hints (int, float, bool, str, list, dict, Optional/Union)."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if origin in (list, tuple, typing.List, typing.Tuple, Sequence):
        return isinstance(value, (list, tuple))
    if origin in (dict, typing.Dict):
        return isinstance(value, dict)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in (str, list, dict, tuple):
        return isinstance(value, hint)
    return True  # anything fancier is left to the constructor


def check_kwargs(
    values: dict[str, Any], cls: type, source: str, prefix: str, what: str, skip: Sequence[str] = ()
) -> None:
    """Raise :class:`ConfigError` for a key of ``values`` that ``cls(...)`` does not accept or
    whose value has the wrong type; the message names ``source`` and ``prefix.key``."""
    params, hints, open_ended = constructor_params(cls)
    known = [k for k in params if k not in skip]
    for key, value in values.items():
        if key in skip:
            continue
        if key not in params and not open_ended:
            raise ConfigError(
                f"{source}: {prefix}{key}: unknown key for {what}"
                f"{_suggest(key, known)}; known keys: {', '.join(sorted(known))}"
            )
        hint = hints.get(key)
        if hint is not None and value is not None and not _type_ok(value, hint):
            raise ConfigError(
                f"{source}: {prefix}{key}: expected {_hint_name(hint)}, "
                f"got {type(value).__name__} {value!r}"
            )


def _hint_name(hint: Any) -> str:
    args = typing.get_args(hint)
    if args and typing.get_origin(hint) in (typing.Union, types.UnionType):
        names = [_hint_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def get_recipe_class(name: str) -> type:
    """The LightningModule class registered as ``name`` in ``jetzoo.recipes.RECIPES``."""
    from jetzoo.recipes import RECIPES  # the methods' registry

    return RECIPES[name]


def validate_config(cfg: DictConfig, source: str) -> None:
    """Semantic checks that the structured schema cannot express (see module docstring)."""
    if OmegaConf.is_missing(cfg, "recipe"):
        raise ConfigError(f"{source}: recipe: missing; one of {', '.join(RECIPE_NAMES)}")
    if cfg.recipe not in RECIPE_NAMES:
        raise ConfigError(
            f"{source}: recipe: unknown recipe {cfg.recipe!r}"
            f"{_suggest(cfg.recipe, RECIPE_NAMES)}; known: {', '.join(RECIPE_NAMES)}"
        )
    if cfg.data.family not in FAMILIES:
        raise ConfigError(
            f"{source}: data.family: {cfg.data.family!r} is not one of {', '.join(FAMILIES)}"
        )
    if cfg.data.batch_size < 1:
        raise ConfigError(f"{source}: data.batch_size: must be >= 1, got {cfg.data.batch_size}")
    if cfg.data.max_jets is not None and cfg.data.max_jets < 1:
        raise ConfigError(f"{source}: data.max_jets: must be >= 1 or null")
    split = list(cfg.data.split)
    if (
        len(split) != 3
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in split
        )
        or abs(sum(split) - 1.0) > 1e-6
    ):
        raise ConfigError(
            f"{source}: data.split: need 3 fractions summing to 1, got {list(cfg.data.split)}"
        )
    if cfg.data.num_workers < 0:
        raise ConfigError(f"{source}: data.num_workers: must be >= 0, got {cfg.data.num_workers}")
    for key in ("warmup_epochs", "warmup_steps", "weight_decay"):
        value = cfg.optimizer[key]
        if value is not None and value < 0:
            raise ConfigError(f"{source}: optimizer.{key}: must be >= 0, got {value}")
    _check_schedule(cfg, source)
    if cfg.optimizer.lr <= 0:
        raise ConfigError(f"{source}: optimizer.lr: must be > 0, got {cfg.optimizer.lr}")
    if cfg.optimizer.warmup_epochs is not None and cfg.optimizer.warmup_steps is not None:
        raise ConfigError(f"{source}: optimizer: set warmup_epochs or warmup_steps, not both")
    if cfg.compile is not None and cfg.compile not in COMPILE_MODES:
        raise ConfigError(
            f"{source}: compile: {cfg.compile!r} is not one of "
            f"{', '.join(COMPILE_MODES)} (or null: no torch.compile)"
        )
    wandb = cfg.logging.wandb
    if wandb is not None and wandb.mode is not None and wandb.mode not in WANDB_MODES:
        raise ConfigError(
            f"{source}: logging.wandb.mode: {wandb.mode!r} is not one of {', '.join(WANDB_MODES)}"
        )

    import lightning

    trainer = cfg_to_dict(cfg.trainer) if isinstance(cfg.trainer, DictConfig) else dict(cfg.trainer)
    check_kwargs(trainer, lightning.Trainer, source, "trainer.", "lightning.Trainer", skip=())
    for key in ("callbacks", "logger", "default_root_dir", "enable_checkpointing"):
        if key in trainer:
            raise ConfigError(
                f"{source}: trainer.{key}: set by jetzoo run (use the output and "
                "logging sections instead)"
            )

    model = cfg_to_dict(cfg.model)
    _validate_model(model, cfg.recipe, source)


#: Lightning precisions that train in float16 end to end (refused, see _check_schedule)
FLOAT16_TRUE = ("16-true", "16", "half")


def _check_schedule(cfg: DictConfig, source: str) -> None:
    """``trainer.max_epochs`` / ``max_steps``: the LR schedule needs a finite, positive length
    (Lightning reads -1 as "no limit"). ``trainer.precision`` is not float16 end to end: the
    recipes' normalisations, temperatures and logarithms underflow there (jBOT-S: a non-finite
    loss at step 0), where bf16 keeps float32's range."""
    trainer = cfg.trainer
    precision = str(trainer.get("precision"))
    if precision in FLOAT16_TRUE:
        raise ConfigError(
            f"{source}: trainer.precision: {precision!r} trains in float16 end to "
            "end, where the losses underflow (non-finite loss at step 0); use "
            "bf16-mixed or bf16-true (float32's range), or 16-mixed on a GPU"
        )
    epochs, steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    for key, value in (("max_epochs", epochs), ("max_steps", steps)):
        if isinstance(value, bool) or (value is not None and not isinstance(value, int)):
            continue  # the type check of the Trainer's arguments names it
        if key == "max_steps" and value == -1:
            continue  # Lightning's "unset"
        if value is not None and value < 1:
            raise ConfigError(
                f"{source}: trainer.{key}: must be >= 1, got {value} (the LR "
                "schedule needs a finite number of steps)"
            )


def _validate_model(model: dict[str, Any], recipe: str, source: str) -> None:
    from jetzoo.models.registry import get_architecture, get_model_spec

    for key in ("optimizer",):
        if key in model:
            raise ConfigError(f"{source}: model.{key}: goes in the top-level '{key}' section")
    backbone = model.get("backbone")
    if backbone is not None:
        if not isinstance(backbone, str):
            raise ConfigError(
                f"{source}: model.backbone: expected a registered backbone name, got {backbone!r}"
            )
        try:
            spec = get_model_spec(backbone)
        except KeyError as err:
            raise ConfigError(f"{source}: model.backbone: {err.args[0]}") from None
        overrides = model.get("backbone_overrides") or {}
        if not isinstance(overrides, dict):
            raise ConfigError(
                f"{source}: model.backbone_overrides: expected a mapping, got {overrides!r}"
            )
        check_kwargs(
            overrides,
            get_architecture(spec.arch),
            source,
            "model.backbone_overrides.",
            f"backbone {backbone!r} (architecture {spec.arch!r})",
        )
    try:
        cls = get_recipe_class(recipe)
    except (ImportError, KeyError, AttributeError):  # methods not installed: skip this check
        return
    check_kwargs(
        model, cls, source, "model.", f"recipe {recipe!r} ({cls.__name__})", skip=("optimizer",)
    )
