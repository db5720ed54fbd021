"""One embedding cache per (model, dataset, split): a backbone embeds a jet once.

Tasks of one dataset share jets (top tagging reads the q, g, t jets of the five-class test
split; the anomaly task the q, g jets of its training split), and a submission that is run
again (a new evaluation, a crash) finds them embedded. Entries are keyed by the model's
identity (weights *and* architecture config, :func:`jetzoo.models.zoo.identity_sha256`: the
same weights with another ``mask_padding`` embed differently), the dataset's sha256, the split
key (split fractions + seed: which jets a split holds), the split name and the output
(``embed`` or ``reconstruction_score``); each holds the rows (positions in the split) embedded
so far, and a request embeds only the rows it lacks.

On disk (``<root>/<identity12>/<dataset12>/<splitkey>-<split>-<fn>.npz``, written atomically
under a file lock, after merging the rows another process wrote meanwhile) when a root is
given: ``$JETZOO_CACHE``, else ``~/.cache/jetzoo/embeddings``; in memory always.
A backbone without an identity (an in-memory model) or data without a dataset hash
(synthetic) is never cached.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from jetzoo.utils.io import atomic_path

Key = tuple[str, str, str, str, str]


def default_root() -> Path:
    """``$JETZOO_CACHE`` or ``~/.cache/jetzoo/embeddings``."""
    env = os.environ.get("JETZOO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jetzoo" / "embeddings"


class EmbeddingCache:
    """Embeddings per (weights, dataset, split key, split, output), in memory and on disk."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._mem: dict[Key, tuple[np.ndarray, np.ndarray]] = {}
        self.computed = 0  # rows embedded by this cache (the rest were found)

    def _file(self, key: Key) -> Path | None:
        if self.root is None:
            return None
        weights, dataset, split_key, split, fn = key
        return self.root / weights[:12] / dataset[:12] / f"{split_key}-{split}-{fn}.npz"

    def _load(self, key: Key) -> tuple[np.ndarray, np.ndarray] | None:
        if key in self._mem:
            return self._mem[key]
        entry = self._read(self._file(key))
        if entry is not None:
            self._mem[key] = entry
        return entry

    @staticmethod
    def _read(path: Path | None) -> tuple[np.ndarray, np.ndarray] | None:
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return npz["rows"], npz["values"]
        except (OSError, ValueError, KeyError):  # a damaged cache file is recomputed
            return None

    def _save(self, key: Key, rows: np.ndarray, values: np.ndarray) -> None:
        path = self._file(key)
        if path is None:
            self._mem[key] = (rows, values)
            return
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_name(f".{path.name}.lock"))):
            on_disk = self._read(path)  # rows another process added since this one read
            if on_disk is not None:
                rows, values = _merge(on_disk, (rows, values.astype(on_disk[1].dtype)))
            buf = io.BytesIO()
            np.savez(buf, rows=rows, values=values)
            with atomic_path(path) as tmp:
                tmp.write_bytes(buf.getvalue())
        self._mem[key] = (rows, values)

    def get(self, key: Key | None, rows: Tensor, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Outputs of the split rows ``rows`` (positions in the split, any order), calling
        ``compute(positions_into_rows)`` for those not cached; ``key`` None: no caching."""
        if key is None:
            self.computed += len(rows)
            return compute(torch.arange(len(rows)))
        wanted = rows.numpy().astype(np.int64)
        entry = self._load(key)
        have_rows = entry[0] if entry is not None else np.empty(0, np.int64)
        missing = ~np.isin(wanted, have_rows)
        if missing.any():
            new_pos = np.flatnonzero(missing)
            new_vals = compute(torch.as_tensor(new_pos)).detach().cpu().numpy()
            self.computed += len(new_pos)
            new_rows = wanted[new_pos]
            self._save(key, *_merge(entry, (new_rows, new_vals)))
            entry = self._mem[key]
        pos = np.searchsorted(entry[0], wanted)
        return torch.from_numpy(entry[1][pos])


def _merge(
    old: tuple[np.ndarray, np.ndarray] | None, new: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and values of both, sorted by row, each row once (the first entry kept)."""
    if old is None:
        rows, vals = new
    else:
        rows = np.concatenate([old[0], new[0]])
        vals = np.concatenate([old[1], new[1].astype(old[1].dtype)])
    order = np.argsort(rows, kind="stable")
    rows, vals = rows[order], vals[order]
    _, first = np.unique(rows, return_index=True)
    return rows[first], vals[first]
