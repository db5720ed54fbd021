"""Which backbone is scored on which data: load MODEL, check its weights and the dataset
shards against their stated sha256, and describe the model for the result file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from jetzoo.data.schema import DataError
from jetzoo.leaderboard.errors import SubmissionError
from jetzoo.leaderboard.schema import safe_name
from jetzoo.leaderboard.tasks import backbone_family
from jetzoo.utils.io import sha256_file
from jetzoo.utils.names import InvalidNameError, check_name, name_from_repo_id


@dataclass
class ModelInfo:
    """What the result file records about the scored model."""

    id: str
    revision: str
    weights_sha256: str
    source: str
    recipe: str | None = None
    config_sha256: str = ""  # the architecture config (zoo.config_sha256)
    identity_sha256: str = ""  # weights + config: what results and cached embeddings are keyed by

    def as_dict(self, backbone: nn.Module) -> dict[str, Any]:
        return {
            "id": self.id,
            "revision": self.revision,
            "weights_sha256": self.weights_sha256,
            "config_sha256": self.config_sha256,
            "identity_sha256": self.identity_sha256,
            "source": self.source,
            "arch": str(backbone.config.get("arch", "?")),
            "family": backbone_family(backbone),
            "num_features": int(backbone.num_features),
            "n_params": int(sum(p.numel() for p in backbone.parameters())),
            "recipe": self.recipe,
        }


def load_model(
    model: str | Path,
    revision: str | None = None,
    weights_sha256: str | None = None,
    name: str | None = None,
) -> tuple[nn.Module, ModelInfo]:
    """Load MODEL (zoo name, model folder, Hub repo id or run folder) and check its weights.

    The sha256 of ``model.safetensors`` must equal the ``weights_sha256`` stated in its
    ``config.json`` and ``weights_sha256`` if given; otherwise :class:`SubmissionError`.
    """
    from jetzoo.models import zoo

    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir() and not (path / zoo.CONFIG_NAME).is_file() and (path / "backbone").is_dir():
        path = path / "backbone"  # a run folder of `jetzoo run`
        text = str(path)
    try:
        folder = zoo.resolve(text, revision)
        config = zoo.load_config(folder)
    except (zoo.ZooError, KeyError) as err:
        raise SubmissionError(f"cannot load model {text!r}: {err}") from err
    weights = folder / zoo.WEIGHTS_NAME
    if not weights.is_file():
        raise SubmissionError(f"{weights}: not found; nothing to score")
    actual = sha256_file(weights)
    for stated, where in (
        (config.get("weights_sha256"), f"{folder / zoo.CONFIG_NAME}"),
        (weights_sha256, "--weights-sha256"),
    ):
        if stated is not None and stated.lower() != actual:
            raise SubmissionError(
                f"refused: weights sha256 mismatch for {weights}: stated {stated} ({where}) but "
                f"the file hashes to {actual}. The weights were changed or are not the ones "
                "stated; re-save the model or state the right hash"
            )
    try:
        backbone = zoo.load_folder(folder)
    except zoo.ZooError as err:
        raise SubmissionError(f"cannot load model {text!r}: {err}") from err
    if name is not None:
        where = "--name"
    elif path.is_dir():
        where = f"{path}: the model id taken from the folder name (pass --name)"
        name = safe_name(
            path.resolve().parent.name if path.name == "backbone" else path.resolve().name
        )
    else:
        where = f"{folder / zoo.CONFIG_NAME} field 'model_name'"
        name = str(config.get("model_name") or name_from_repo_id(text))
    try:
        check_name(name, where)
    except InvalidNameError as err:
        raise SubmissionError(str(err)) from None
    recipe = config.get("recipe")
    recipe_name = (
        (recipe.get("recipe") or recipe.get("name")) if isinstance(recipe, dict) else recipe
    )
    info = ModelInfo(
        id=name,
        revision=revision or ("local" if path.is_dir() else "main"),
        weights_sha256=actual,
        source=str(folder),
        recipe=str(recipe_name) if recipe_name else None,
        config_sha256=zoo.config_sha256(backbone),
    )
    info.identity_sha256 = zoo.identity_sha256(actual, info.config_sha256)
    return backbone, info


def verify_dataset(path: Path, stated_sha256: str | None = None) -> str:
    """The dataset sha256 of ``path``, every shard checked against its ``manifest.json``
    (:func:`jetzoo.data.shards.verified_dataset_sha256`); :class:`SubmissionError` if a shard's
    or the dataset's hash differs from the recorded or the stated (``--dataset-sha256``) one."""
    from jetzoo.data import shards as sh

    try:
        actual = sh.verified_dataset_sha256(path)
    except DataError as err:
        raise SubmissionError(f"refused: dataset sha256 mismatch: {err}") from err
    if stated_sha256 is not None and stated_sha256.lower() != actual:
        raise SubmissionError(
            f"refused: dataset sha256 mismatch for {path}: stated "
            f"{stated_sha256} (--dataset-sha256) but the dataset is {actual}"
        )
    return actual
