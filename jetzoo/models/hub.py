"""The Hugging Face Hub transport of the zoo: name -> (repo id, revision), downloads through the
HF cache, and uploads (:func:`upload`). It knows nothing of jetzoo model folders: validating a
folder before it is published is :mod:`jetzoo.models.publish` (``jetzoo publish``).

Environment: ``huggingface_hub`` reads ``HF_HUB_OFFLINE``, ``HF_HOME`` and ``HF_HUB_CACHE`` once,
when it is imported. jetzoo reads them again at every call, so setting them later in the same
process (a notebook, a test) still works: offline mode becomes ``local_files_only=True`` and the
cache folder is passed explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jetzoo.models import registry

#: the files of a saved model folder, in upload order (see :mod:`jetzoo.models.zoo`)
HUB_FILES = ("config.json", "model.safetensors", "README.md")
_TRUE = {"1", "on", "yes", "true"}


class HubError(RuntimeError):
    """A Hub download or upload failed; the message says why (offline, not found, ...)."""


def resolve_name(name: str, revision: str | None = None) -> tuple[str, str]:
    """The Hub ``(repo_id, revision)`` a registered model name is published under."""
    spec = registry.get_model_spec(name)
    if not spec.hub_repo:
        raise HubError(f"model {name!r} has no Hub repository")
    return spec.hub_repo, revision or spec.revision


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) as set now, not at import time."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return env.strip().lower() in _TRUE or bool(constants.HF_HUB_OFFLINE)


def cache_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """The HF hub cache: ``cache_dir``, else ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else the
    huggingface_hub default."""
    from huggingface_hub import constants

    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def _hub_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub import errors

    found: list[type[BaseException]] = [
        errors.EntryNotFoundError,
        errors.HfHubHTTPError,
        errors.HFValidationError,
        errors.OfflineModeIsEnabled,
        OSError,
    ]
    try:
        import httpx

        found.append(httpx.HTTPError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


def download(
    repo_id: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None
) -> Path:
    """Snapshot ``repo_id`` at ``revision`` (config, weights, card) into the HF cache and return
    the local folder. Offline, only the cache is read. A :class:`HubError` on failure."""
    from huggingface_hub import snapshot_download

    from jetzoo import __version__

    offline = is_offline()
    try:
        folder = snapshot_download(
            repo_id=repo_id,
            revision=revision,
            cache_dir=str(cache_folder(cache_dir)),
            allow_patterns=list(HUB_FILES),
            local_files_only=offline,
            library_name="jetzoo",
            library_version=__version__,
        )
    except _hub_errors() as err:
        mode = "offline (HF_HUB_OFFLINE=1), not in the cache" if offline else type(err).__name__
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise HubError(f"{mode}: {first}" if first else mode) from err
    return Path(folder)


def default_message(config: dict[str, Any]) -> str:
    """The commit message of an upload: ``Upload NAME (jetzoo V)``."""
    return (
        f"Upload {config.get('model_name', 'model')} (jetzoo {config.get('jetzoo_version', '?')})"
    )


def upload(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str = "Upload model",
    token: str | None = None,
    api: Any = None,
) -> str:
    """Upload exactly :data:`HUB_FILES` of ``folder`` to ``repo_id`` (creating the repo, and the
    branch ``revision`` if it is not ``main``) through ``HfApi``. The folder is not validated
    here (that is :func:`jetzoo.models.publish.publish`). Returns the commit URL (or the repo
    URL when the Hub gives none); :class:`HubError` on failure."""
    folder = Path(folder)
    missing = [f for f in HUB_FILES if not (folder / f).is_file()]
    if missing:
        raise HubError(f"{folder}: missing {', '.join(missing)}; re-save it with save_pretrained")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token, library_name="jetzoo")
    try:
        repo_url = api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            revision=revision,
            commit_message=commit_message,
            allow_patterns=list(HUB_FILES),
        )
    except _hub_errors() as err:
        raise HubError(f"publishing {folder} to {repo_id} failed: {err}") from err
    return str(getattr(info, "commit_url", None) or repo_url)
