"""``jetzoo publish DIR --repo-id org/name``: validate a saved model folder, then upload it.

The top of the models layer: it uses :mod:`jetzoo.models.zoo` (the folder must load, its
weights must match their sha256) and :mod:`jetzoo.models.hub` (the upload); neither of those
imports this module.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from jetzoo.models import hub
from jetzoo.models.zoo import ZooError, load_config, load_folder

HubError = hub.HubError


def publish(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    api: Any = None,
) -> str:
    """Validate a saved model folder (it must load) and upload it to the Hub.

    Creates the repo if needed (``exist_ok=True``) and the branch ``revision`` if it is not
    ``main``, then uploads exactly :data:`jetzoo.models.hub.HUB_FILES` with
    ``HfApi.upload_folder``. Returns the commit URL (or the repo URL when the Hub gives none).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder}: not a folder")
    load_folder(folder)  # raises ZooError naming the file and field if anything is wrong
    config = load_config(folder)
    return hub.upload(
        folder,
        repo_id,
        revision=revision,
        private=private,
        commit_message=commit_message or hub.default_message(config),
        token=token,
        api=api,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder",
        help="a folder written by save_pretrained (config.json, model.safetensors, README.md)",
    )
    parser.add_argument("--repo-id", required=True, help="Hub repository, org/name")
    parser.add_argument("--revision", default=None, help="branch to push to (default: main)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--commit-message", default=None, help="default: 'Upload NAME (jetzoo V)'")
    parser.add_argument("--token", default=None, help="HF token (default: HF_TOKEN / login)")


def main(args: argparse.Namespace) -> int:
    """``jetzoo publish``: validate, create the repo, upload; print the commit URL."""
    try:
        url = publish(
            args.folder,
            args.repo_id,
            revision=args.revision,
            private=args.private,
            commit_message=args.commit_message,
            token=args.token,
        )
    except (HubError, ZooError) as err:
        print(f"jetzoo publish: error: {err}", file=sys.stderr)
        return 1
    print(url)
    return 0
