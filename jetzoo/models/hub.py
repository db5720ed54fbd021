"""The Hugging Face Hub side of the zoo: name -> (repo id, revision), downloads through the HF
cache, and ``jetzoo publish DIR --repo-id org/name``.

Environment: ``huggingface_hub`` reads ``HF_HUB_OFFLINE``, ``HF_HOME`` and ``HF_HUB_CACHE`` once,
when it is imported. jetzoo reads them again at every call, so setting them later in the same
process (a notebook, a test) still works: offline mode becomes ``local_files_only=True`` and the
cache folder is passed explicitly.
"""
from __future__ import annotations

import argparse
import os
import sys
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

    found: list[type[BaseException]] = [errors.EntryNotFoundError, errors.HfHubHTTPError,
                                        errors.HFValidationError, errors.OfflineModeIsEnabled,
                                        OSError]
    try:
        import httpx

        found.append(httpx.HTTPError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


def download(repo_id: str, revision: str | None = None,
             cache_dir: str | os.PathLike | None = None) -> Path:
    """Snapshot ``repo_id`` at ``revision`` (config, weights, card) into the HF cache and return
    the local folder. Offline, only the cache is read. A :class:`HubError` on failure."""
    from huggingface_hub import snapshot_download

    from jetzoo import __version__

    offline = is_offline()
    try:
        folder = snapshot_download(
            repo_id=repo_id, revision=revision, cache_dir=str(cache_folder(cache_dir)),
            allow_patterns=list(HUB_FILES), local_files_only=offline,
            library_name="jetzoo", library_version=__version__)
    except _hub_errors() as err:
        mode = "offline (HF_HUB_OFFLINE=1), not in the cache" if offline else type(err).__name__
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise HubError(f"{mode}: {first}" if first else mode) from err
    return Path(folder)


def publish(folder: str | os.PathLike, repo_id: str, *, revision: str | None = None,
            private: bool = False, commit_message: str | None = None, token: str | None = None,
            api: Any = None) -> str:
    """Validate a saved model folder (it must load) and upload it to the Hub.

    Creates the repo if needed (``exist_ok=True``) and the branch ``revision`` if it is not
    ``main``, then uploads exactly :data:`HUB_FILES` with ``HfApi.upload_folder``.

    Returns:
        The commit URL (or the repo URL when the Hub gives none).
    """
    from jetzoo.models.zoo import load_config, load_folder

    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder}: not a folder")
    load_folder(folder)  # raises ZooError naming the file and field if anything is wrong
    config = load_config(folder)
    missing = [f for f in HUB_FILES if not (folder / f).is_file()]
    if missing:
        raise HubError(f"{folder}: missing {', '.join(missing)}; re-save it with save_pretrained")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token, library_name="jetzoo")
    message = commit_message or (f"Upload {config.get('model_name', 'model')} "
                                 f"(jetzoo {config.get('jetzoo_version', '?')})")
    try:
        repo_url = api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                                 revision=revision, commit_message=message,
                                 allow_patterns=list(HUB_FILES))
    except _hub_errors() as err:
        raise HubError(f"publishing {folder} to {repo_id} failed: {err}") from err
    return str(getattr(info, "commit_url", None) or repo_url)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a folder written by save_pretrained (config.json, "
                                       "model.safetensors, README.md)")
    parser.add_argument("--repo-id", required=True, help="Hub repository, org/name")
    parser.add_argument("--revision", default=None, help="branch to push to (default: main)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--commit-message", default=None, help="default: 'Upload NAME (jetzoo V)'")
    parser.add_argument("--token", default=None, help="HF token (default: HF_TOKEN / login)")


def main(args: argparse.Namespace) -> int:
    """``jetzoo publish``: validate, create the repo, upload; print the commit URL."""
    from jetzoo.models.zoo import ZooError

    try:
        url = publish(args.folder, args.repo_id, revision=args.revision, private=args.private,
                      commit_message=args.commit_message, token=args.token)
    except (HubError, ZooError) as err:
        print(f"jetzoo publish: error: {err}", file=sys.stderr)
        return 1
    print(url)
    return 0
