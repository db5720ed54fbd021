"""The model zoo: ``JetZoo.from_pretrained`` / ``save_pretrained`` and the saved-folder format.

A saved backbone is a folder with three files::

    model.safetensors   the state dict (safetensors only: loading never unpickles anything)
    config.json         {"jetzoo_version", "format_version", "model_name", "backbone",
                         "recipe", "dataset", "training", "results", "comparisons",
                         "weights_sha256"}
    README.md           the model card (Hugging Face YAML metadata, see ``model_card.py``)

``backbone`` is the model's ``config`` (architecture + preprocessing), enough to rebuild it with
:func:`jetzoo.models.registry.build_from_config`.

``JetZoo.from_pretrained(x)`` resolves ``x`` in this order:

1. a local folder;
2. a registered name (``list_models()``): weights shipped inside the package at
   ``jetzoo/weights/<name>/`` if present, else the model's Hub repo and revision
   (``ModelSpec.hub_repo`` / ``revision``) through ``huggingface_hub``;
3. a Hub repo id ``org/name`` through ``huggingface_hub`` (honours ``HF_HUB_OFFLINE`` and the HF
   cache, see :mod:`jetzoo.models.hub`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from jetzoo.models import registry
from jetzoo.utils.io import sha256_file
from jetzoo.utils.names import name_problem

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
ZOO_FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME)
FORMAT_VERSION = 1
_PICKLE_WEIGHTS = ("pytorch_model.bin", "model.pt", "model.pth", "model.ckpt")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class ZooError(ValueError):
    """A model folder, config or weights file is missing, corrupt or does not fit; the message
    names the file and the field."""


class ModelNotFoundError(ZooError):
    """Nothing could be loaded for a name; the message lists every place that was tried."""


class UnknownModelError(ZooError, KeyError):
    """An unknown registered model name; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def _jetzoo_version() -> str:
    from jetzoo import __version__

    return __version__


# ---------------------------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------------------------


def _model_name(model: nn.Module) -> str:
    """The name a model was created or loaded as (``model.model_name``), else its arch name."""
    name = getattr(model, "model_name", None)
    if isinstance(name, str) and name:
        return name
    return str(dict(getattr(model, "config", {})).get("arch", type(model).__name__))


def build_config(
    model: nn.Module,
    *,
    model_name: str | None = None,
    recipe: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    results: Any = None,
    comparisons: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``config.json`` content for ``model`` (without ``weights_sha256``)."""
    backbone = getattr(model, "config", None)
    if not isinstance(backbone, dict) or "arch" not in backbone:
        raise ZooError(
            f"{type(model).__name__} has no `config` dict with an 'arch' field; "
            "only registered backbones can be saved"
        )
    name = model_name or _model_name(model)
    if name_problem(name):  # it becomes a folder name (results, cards, shipped weights)
        raise ZooError(f"model_name: {name_problem(name)}")
    config = {
        "jetzoo_version": _jetzoo_version(),
        "format_version": FORMAT_VERSION,
        "model_name": name,
        "backbone": backbone,
        "recipe": recipe,
        "dataset": dataset,
        "training": training,
        "results": results,
    }
    if comparisons:
        config["comparisons"] = comparisons
    for key, value in config.items():  # fail before writing anything if a field cannot be stored
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ZooError(f"config.json field {key!r} is not valid JSON: {err}") from err
    return config


def config_sha256(model_or_config: nn.Module | dict[str, Any]) -> str:
    """sha256 of a backbone's architecture config (``model.config``: architecture options and
    the preprocessing its buffers hold), as canonical JSON."""
    config = getattr(model_or_config, "config", model_or_config)
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def identity_sha256(weights_sha256: str, config_sha: str) -> str:
    """The identity of a scored model: the weights *and* the architecture config. Two folders
    with the same weights but, say, another ``mask_padding`` embed differently, so embedding
    caches and leaderboard results are keyed by this, never by the weights alone."""
    return hashlib.sha256(f"weights:{weights_sha256}\nconfig:{config_sha}".encode()).hexdigest()


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ZooError(f"{target}: exists and is not a folder")
    if target.is_dir():
        foreign = sorted(p.name for p in target.iterdir() if p.name not in ZOO_FILES)
        if foreign:
            raise ZooError(
                f"{target}: refusing to overwrite a folder that holds files not written "
                f"by save_pretrained ({', '.join(foreign[:5])}); choose an empty folder"
            )


def save_pretrained(
    model: nn.Module,
    save_directory: str | os.PathLike,
    *,
    model_name: str | None = None,
    recipe: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    results: Any = None,
    comparisons: list[dict[str, Any]] | None = None,
    license: str = "mit",
) -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``README.md`` into ``save_directory``.

    The folder is written atomically: everything goes to a temporary sibling folder which then
    replaces ``save_directory`` (an existing folder may only hold these three files).

    Args:
        model: a registered backbone (has ``config`` with an ``arch`` field).
        save_directory: the output folder.
        model_name: the name in config.json and the card (default: the registered name the model
            was loaded as or whose config it matches).
        recipe: the pre-training recipe (method + hyper-parameters).
        dataset: the pre-training data, e.g. ``{"name", "sha256", "n_jets", "classes"}``.
        training: e.g. ``{"wall_time_s", "epochs", "jets_per_s", "device"}``.
        results: leaderboard results (see :func:`jetzoo.models.model_card.normalize_results`).
        comparisons: rows set against baselines (see :mod:`jetzoo.release`), shown in
            the card's results section.
        license: the license id written into the model card metadata.

    Returns:
        The folder path.
    """
    from jetzoo.models.model_card import render_model_card

    target = Path(save_directory).expanduser()
    config = build_config(
        model,
        model_name=model_name,
        recipe=recipe,
        dataset=dataset,
        training=training,
        results=results,
        comparisons=comparisons,
    )
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        state = {
            k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
        }
        # one metadata key only: safetensors orders a multi-key header at random, and the same
        # weights should always give the same file bytes (and weights_sha256)
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        config["weights_sha256"] = sha256_file(tmp / WEIGHTS_NAME)
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        (tmp / CARD_NAME).write_text(
            render_model_card(
                config, license=license, n_params=sum(p.numel() for p in model.parameters())
            )
        )
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def load_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``folder/config.json``; a :class:`ZooError` naming the file and field."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ZooError(
            f"{path}: not found; {folder} is not a jetzoo model folder "
            f"(expected {', '.join(ZOO_FILES)})"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ZooError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(config, dict):
        raise ZooError(f"{path}: expected a JSON object, got {type(config).__name__}")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ZooError(f"{path}: field 'format_version' must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ZooError(
            f"{path}: format_version {version} is newer than this jetzoo supports "
            f"({FORMAT_VERSION}); the model was saved with jetzoo "
            f"{config.get('jetzoo_version', '?')} and you run jetzoo {_jetzoo_version()}: "
            "upgrade jetzoo (pip install -U jetzoo)"
        )
    backbone = config.get("backbone")
    if not isinstance(backbone, dict) or not isinstance(backbone.get("arch"), str):
        raise ZooError(f"{path}: field 'backbone' must be an object with a string 'arch'")
    if config.get("model_name") is not None:  # it becomes a folder name (results, cards)
        problem = name_problem(config["model_name"])
        if problem:
            raise ZooError(f"{path}: field 'model_name': {problem}")
    return config


def _check_state(path: Path, state: dict[str, Any], model: nn.Module) -> None:
    """The tensors (or shapes) in ``state`` are exactly ``model``'s, shape for shape."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = {
        k: tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v) for k, v in state.items()
    }
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {state[k]} vs config {expected[k]}"
        for k in expected
        if k in state and state[k] != expected[k]
    ]
    problems = []
    if wrong:
        problems.append("shape mismatch " + "; ".join(wrong[:5]))
    if missing:
        problems.append("missing tensors " + ", ".join(missing[:5]))
    if unexpected:
        problems.append("unexpected tensors " + ", ".join(unexpected[:5]))
    if problems:
        raise ZooError(
            f"{path}: weights do not match the architecture in {CONFIG_NAME} "
            f"({' | '.join(problems)})"
        )


def _build_checked(config_path: Path, weights: Path, backbone: dict[str, Any]) -> nn.Module:
    """Build the backbone of ``config_path``'s field ``backbone`` only after its sizes passed the
    architecture's limits and, built on the meta device (nothing allocated), its tensor shapes
    equal those in the safetensors header of ``weights``; any failure is one :class:`ZooError`
    naming the file and the field."""
    problem = registry.config_problem(backbone)
    if problem is not None and problem[0] == "arch":
        raise ZooError(f"{config_path}: field 'backbone' does not build a model: {problem[1]}")
    if problem is not None:
        raise ZooError(f"{config_path}: field 'backbone.{problem[0]}': {problem[1]}")

    def build() -> nn.Module:
        try:
            return registry.build_from_config(backbone)
        except Exception as err:  # noqa: BLE001 - a constructor refuses a config many ways
            raise ZooError(
                f"{config_path}: field 'backbone' does not build a model: "
                f"{type(err).__name__}: {err}"
            ) from err

    with torch.device("meta"):
        skeleton = build()
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ZooError(f"{weights}: corrupt safetensors file ({err})") from err
    _check_state(weights, shapes, skeleton)
    return build()


def _check_values(path: Path, state: dict[str, torch.Tensor], model: nn.Module) -> None:
    """Every floating tensor finite; every standard deviation the model divides by (a buffer
    named ``*std``: the preprocessing's) > 0. Learned parameters may take any finite sign."""
    buffers = {name for name, _ in model.named_buffers()}
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ZooError(f"{path}: tensor {key!r} holds NaN or inf")
        if key in buffers and key.endswith("std") and tensor.numel() and float(tensor.min()) <= 0:
            raise ZooError(
                f"{path}: tensor {key!r} (a preprocessing standard deviation) "
                f"must be > 0, got {[round(float(v), 6) for v in tensor.flatten()]}"
            )


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a safetensors file (a pickle, a ``torch.save`` zip, truncated), from
    its first bytes and size; None if it looks like one. Nothing is unpickled."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
    never = (
        "; jetzoo reads safetensors only and never unpickles weights (convert a state "
        "dict with safetensors.torch.save_file)"
    )
    if head.startswith(b"PK\x03\x04"):
        what = "a zip archive (torch.save), not safetensors" + never
    elif head[:1] == b"\x80":
        what = "a pickle file, not safetensors" + never
    elif len(head) < 9:
        what = f"truncated ({size} bytes), not a safetensors file"
    else:
        header = int.from_bytes(head[:8], "little")
        if head[8:9] != b"{":
            what = "not a safetensors file (no JSON header)"
        elif 8 + header > size:
            what = f"truncated: its header needs {8 + header} bytes, the file has {size}"
        else:
            with open(path, "rb") as f:
                f.seek(8)
                try:
                    meta = json.loads(f.read(header))
                    end = max(
                        (int(v["data_offsets"][1]) for k, v in meta.items() if k != "__metadata__"),
                        default=0,
                    )
                except (ValueError, KeyError, TypeError, IndexError):
                    return "not a safetensors file (unreadable JSON header)"
            if 8 + header + end > size:
                what = f"truncated: its tensors need {8 + header + end} bytes, the file has {size}"
            else:
                return None
    return what


def load_folder(folder: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Build the backbone saved in ``folder`` and load its safetensors weights (eval mode)."""
    folder = Path(folder)
    config = load_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        pickled = [n for n in _PICKLE_WEIGHTS if (folder / n).exists()]
        hint = (
            f"; {', '.join(pickled)} is not loaded: jetzoo reads safetensors only, never "
            "pickled files"
            if pickled
            else ""
        )
        name = config.get("model_name") or "NAME"
        raise ZooError(
            f"{weights}: not found: the folder has a config but no weights{hint}. "
            f"create_backbone({name!r}) gives the architecture with random weights"
        )
    problem = safetensors_problem(weights)
    if problem:
        raise ZooError(f"{weights}: {problem}")
    expected_sha = config.get("weights_sha256")
    if expected_sha is not None and sha256_file(weights) != expected_sha:
        raise ZooError(
            f"{weights}: sha256 differs from field 'weights_sha256' in {CONFIG_NAME}: "
            "the file is corrupt or was changed after saving"
        )
    model = _build_checked(folder / CONFIG_NAME, weights, config["backbone"])
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ZooError(f"{weights}: corrupt safetensors file ({err})") from err
    _check_state(weights, state, model)
    _check_values(weights, state, model)
    model.load_state_dict(state, strict=True)
    model.pretrained_cfg = {**config, "source": str(folder)}
    model.model_name = str(config.get("model_name") or config["backbone"]["arch"])
    return model.to(device).eval()


def _shipped_folder(name: str) -> Path | None:
    """``jetzoo/weights/<name>/`` inside the installed package, if it holds a config."""
    try:
        root = resources.files("jetzoo").joinpath("weights", name)
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover
        return None
    if not root.joinpath(CONFIG_NAME).is_file():
        return None
    if isinstance(root, Path):
        return root
    tmp = Path(tempfile.mkdtemp(prefix=f"jetzoo-{name}-"))  # zipped install: extract the files
    for fname in ZOO_FILES:
        if root.joinpath(fname).is_file():
            (tmp / fname).write_bytes(root.joinpath(fname).read_bytes())
    return tmp


def resolve(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """The local folder holding ``name_or_path`` (see the module docstring for the order)."""
    from jetzoo.models import hub

    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        raise ZooError(
            f"{path}: is a file; pass the model folder that holds {', '.join(ZOO_FILES)}"
        )
    looks_like_path = (
        isinstance(name_or_path, os.PathLike)
        or text.startswith((".", "/", "~"))
        or text.count("/") > 1
    )
    if registry.is_registered(text):
        tried = []
        shipped = _shipped_folder(text)
        if shipped is not None:
            return shipped
        tried.append(f"shipped weights jetzoo/weights/{text}/ (not in this installation)")
        repo_id, rev = hub.resolve_name(text, revision)
        try:
            return hub.download(repo_id, rev, cache_dir)
        except hub.HubError as err:
            tried.append(f"Hugging Face Hub {repo_id}@{rev} ({err})")
        raise ModelNotFoundError(
            f"no pretrained weights for {text!r}. Tried: "
            + "; ".join(tried)
            + f". create_backbone({text!r}) gives the architecture with random weights."
        )
    if not looks_like_path and _REPO_ID.match(text):
        try:
            return hub.download(text, revision, cache_dir)
        except hub.HubError as err:
            raise ModelNotFoundError(
                f"could not load {text!r}. Tried: local folder ./{text} (does not exist); "
                f"Hugging Face Hub {text}@{revision or 'main'} ({err})"
            ) from err
    if looks_like_path:
        raise ModelNotFoundError(f"{path}: folder not found")
    try:
        registry.get_model_spec(text)
    except KeyError as err:
        raise UnknownModelError(
            f"{err.args[0]}. Pass a registered name, a model folder or a Hub repo id 'org/name'."
        ) from None
    raise AssertionError("unreachable")  # pragma: no cover


class JetZoo:
    """Entry point of the zoo: ``JetZoo.from_pretrained("jbot-b")``."""

    @staticmethod
    def from_pretrained(
        name_or_path: str | os.PathLike,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
    ) -> nn.Module:
        """Load a pretrained backbone in eval mode.

        Args:
            name_or_path: a local folder, a registered name (``list_models()``) or a Hub repo id
                ``org/name``.
            revision: Hub branch, tag or commit (default: the registered revision, else main).
            cache_dir: Hugging Face cache folder (default: ``HF_HUB_CACHE`` / ``HF_HOME``).
            device: where to put the model.
        """
        return load_folder(resolve(name_or_path, revision, cache_dir), device=device)

    save_pretrained = staticmethod(save_pretrained)

    @staticmethod
    def list_models(pattern: str | None = None) -> list[str]:
        """Registered model names (see :func:`jetzoo.models.registry.list_models`)."""
        return registry.list_models(pattern)


class PretrainedMixin:
    """``save_pretrained`` / ``push_to_hub`` methods for backbone classes (one implementation:
    both delegate to this module and :mod:`jetzoo.models.hub`).

    Not huggingface_hub's ``PyTorchModelHubMixin``: its ``from_pretrained`` builds the model from
    ``config.json`` before anything is checked (a ``depth: 1000000`` allocates until the process
    dies, where :func:`from_pretrained` refuses it in 1 ms), and its folders carry neither the
    preprocessing nor the weights / config / identity sha256 that key the leaderboard's results.
    """

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> Path:
        """Save this backbone; keyword arguments as :func:`save_pretrained`."""
        return save_pretrained(self, save_directory, **kwargs)  # type: ignore[arg-type]

    def _preprocessing_in_buffers(
        self, stored: dict[str, Any], buffers: dict[str, str]
    ) -> dict[str, Any]:
        """``stored`` (the preprocessing a backbone was built with) with each entry ``key``
        replaced by the values of the buffer named ``buffers[key]`` where they differ, as after
        ``load_state_dict`` (e.g. an export from a checkpoint): the numbers it computes with."""
        prep = dict(stored)
        for key, name in buffers.items():
            buf = getattr(self, name)
            if not torch.equal(torch.tensor(prep[key], dtype=buf.dtype), buf.cpu()):
                prep[key] = [float(v) for v in buf.tolist()]
        return prep

    def push_to_hub(
        self,
        repo_id: str,
        *,
        revision: str | None = None,
        private: bool = False,
        commit_message: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Save this backbone to a temporary folder and upload it (:func:`hub.upload`)."""
        from jetzoo.models import hub

        with tempfile.TemporaryDirectory(prefix="jetzoo-push-") as tmp:
            folder = self.save_pretrained(Path(tmp) / "model", **kwargs)
            config = load_config(folder)
            return hub.upload(
                folder,
                repo_id,
                revision=revision,
                private=private,
                commit_message=commit_message or hub.default_message(config),
                token=token,
            )
