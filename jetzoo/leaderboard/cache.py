"""One embedding cache per (weights, dataset, split): a backbone embeds a jet once.

Tasks of one dataset share jets (top tagging reads the q, g, t jets of the five-class test
split; the anomaly task the q, g jets of its training split), and a submission that is run
again (a new evaluation, a crash) finds them embedded. Entries are keyed by the weights'
sha256, the dataset's sha256, the split key (split fractions + seed: which jets a split holds),
the split name and the output (``embed`` or ``reconstruction_score``); each holds the rows
(positions in the split) embedded so far, and a request embeds only the rows it lacks.

On disk (``<root>/<weights12>/<dataset12>/<splitkey>-<split>-<fn>.npz``, written atomically)
when a root is given: ``$JETZOO_CACHE``, else ``~/.cache/jetzoo/embeddings``; in memory always.
A backbone without a weights hash (an in-memory model) or data without a dataset hash
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
        path = self._file(key)
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    entry = (npz["rows"], npz["values"])
            except (OSError, ValueError, KeyError):  # a damaged cache file is recomputed
                return None
            self._mem[key] = entry
            return entry
        return None

    def _save(self, key: Key, rows: np.ndarray, values: np.ndarray) -> None:
        self._mem[key] = (rows, values)
        path = self._file(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, rows=rows, values=values)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getvalue())

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
            if entry is None:
                all_rows, all_vals = new_rows, new_vals
            else:
                all_rows = np.concatenate([entry[0], new_rows])
                all_vals = np.concatenate([entry[1], new_vals.astype(entry[1].dtype)])
            order = np.argsort(all_rows, kind="stable")
            all_rows, all_vals = all_rows[order], all_vals[order]
            _, first = np.unique(all_rows, return_index=True)  # duplicate requested rows
            self._save(key, all_rows[first], all_vals[first])
            entry = self._mem[key]
        pos = np.searchsorted(entry[0], wanted)
        return torch.from_numpy(entry[1][pos])
