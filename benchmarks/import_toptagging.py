"""Peak memory and speed of importing a Top Quark Tagging file in the published layout.

Writes ``train.h5`` of ``--jets`` jets (default 1.2M, the size of the published train.h5) with
pandas ``to_hdf(format='table', append=True)`` in chunks, as the published files were written
(PyTables table: 804 float32 columns E/PX/PY/PZ of 200 constituents and the truth four-vector,
then ttv and is_signal_new), then runs ``jetzoo data import toptagging`` on it in a child
process and prints its wall time, jets/s and peak RSS (``ru_maxrss`` of the child). The file
is ~3.9 GB at 1.2M jets; ``--keep`` keeps it in ``--dir``.

    python benchmarks/import_toptagging.py                 # ~1.2M jets
    python benchmarks/import_toptagging.py --jets 100000   # quicker
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_file(path: Path, n: int, chunk: int = 50_000, seed: int = 0) -> None:
    """``n`` jets of 20-80 massless constituents around eta 0, phi 0 (E, PX, PY, PZ_i
    interleaved per constituent, as in the published files; zero padding)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = [f"{p}_{i}" for i in range(200) for p in ("E", "PX", "PY", "PZ")]
    names += ["truthE", "truthPX", "truthPY", "truthPZ"]
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        count = rng.integers(20, 81, size=m)
        valid = np.arange(200)[None, :] < count[:, None]
        pt = rng.exponential(15.0, (m, 200)) * valid
        eta, phi = 0.3 * rng.standard_normal((m, 200)), 0.3 * rng.standard_normal((m, 200))
        four = np.stack(
            [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1
        ).reshape(m, 800)
        values = np.concatenate([four, np.zeros((m, 4))], axis=1).astype(np.float32)
        frame = pd.DataFrame(values, columns=names, index=np.arange(lo, lo + m))
        frame["ttv"] = np.zeros(m, np.int64)
        frame["is_signal_new"] = rng.integers(0, 2, m).astype(np.int64)
        frame.to_hdf(path, key="table", format="table", append=lo > 0, mode="a" if lo else "w")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=1_200_000)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp)")
    parser.add_argument("--keep", action="store_true", help="keep the written file and shards")
    args = parser.parse_args(argv)
    work = args.dir or Path(tempfile.mkdtemp(prefix="jetzoo-toptag-"))
    src, out = work / "toptag", work / "out"
    src.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not (src / "train.h5").is_file():
        write_file(src / "train.h5", args.jets)
    write_s = time.perf_counter() - t0
    size_gb = (src / "train.h5").stat().st_size / 1e9
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jetzoo.cli",
            "data",
            "import",
            "toptagging",
            str(src),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    import_s = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    print("| jets | file GB | write s | import s | jets/s | peak RSS GB |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.jets} | {size_gb:.2f} | {write_s:.0f} | {import_s:.0f} | "
        f"{args.jets / import_s:.0f} | {peak_gb:.2f} |"
    )
    if not args.keep and args.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
