"""Make ``.whl/``: what a bare GPU machine needs, beyond its own torch image, to generate jets and
train there (run here, where pip reaches the package registries; ``.whl/`` is git-ignored).

A lent GPU machine (Python 3.12, torch, lightning, timm, h5py, scikit-learn; no internet) lacks
omegaconf (+ antlr4), fastjet and pythia8mc. Its working tree travels under 64 MiB in all, and the
pythia8mc wheel alone is 29.6 MB, of which 19.5 MB are Pythia's manuals and PDF grids that jet
generation never reads. So pythia8mc travels as ``pythia8mc-slim.zip``: the extension module and
the ``share/Pythia8`` files a run reads (``xmldoc/``, ``tunes/`` and the default PDF set,
NNPDF2.3 QCD+QED LO), 11 MB. Jets generated with it are byte-identical (same dataset sha256)
to jets generated with the full installation; ``gpu_zoo.sh`` unpacks it and points
``PYTHIA8DATA`` at its ``xmldoc``.

    python benchmarks/gpu_bundle.py [--out .whl] [--python 3.12]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEELS = ["omegaconf==2.4.0", "antlr4-python3-runtime==4.13.2", "fastjet==3.5.2.0"]
PYTHIA = "pythia8mc==8.317.2"
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
# what Pythia reads for jetzoo's generators: its settings, the tune files the default settings
# include, and the default PDF set (PDF:pSet = 13)
PYTHIA_DATA = (
    "share/Pythia8/xmldoc/",
    "share/Pythia8/tunes/",
    "share/Pythia8/pdfdata/NNPDF23_lo_as_0130_qed_0000.dat",
)


def pythia_reads(rel: str) -> bool:
    """Whether jet generation reads ``rel``, a path under Pythia's ``share/`` folder's parent
    (``share/Pythia8/xmldoc/Welcome.xml``)."""
    return rel.startswith(PYTHIA_DATA)


def download(spec: str, dest: Path, python: str) -> Path:
    """``pip download`` one binary wheel for the GPU machine's Python into ``dest``."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "-d",
        str(dest),
        spec,
    ]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run(cmd, check=True)
    name = spec.split("==")[0].replace("-", "_").lower()
    found = [w for w in dest.glob("*.whl") if w.name.lower().startswith(name + "-")]
    if len(found) != 1:
        raise RuntimeError(f"{dest}: expected one wheel of {spec}, found {found}")
    return found[0]


def slim_pythia(wheel: Path, out: Path) -> Path:
    """Repack the pythia8mc wheel as a zip of its extension module and the data it reads:
    ``<module>.so`` and ``share/Pythia8/...`` at the top, to unzip into a ``PYTHONPATH`` folder."""
    kept = 0
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            name = info.filename
            if name.endswith(".so") and "/" not in name:
                dst.writestr(name, src.read(info))
                kept += 1
            elif ".data/data/share/" in name and not name.endswith("/"):
                rel = name.split(".data/data/", 1)[1]
                if pythia_reads(rel):
                    dst.writestr(rel, src.read(info))
                    kept += 1
    if kept < 3:
        raise RuntimeError(f"{wheel}: no extension module or Pythia data found to keep")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".whl"))
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python version")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in WHEELS:
        print(download(spec, args.out, args.python).name)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download(PYTHIA, Path(tmp), args.python)
        slim = slim_pythia(wheel, args.out / "pythia8mc-slim.zip")
        print(
            f"{slim.name}: {slim.stat().st_size / 1e6:.1f} MB (from {wheel.name}, "
            f"{wheel.stat().st_size / 1e6:.1f} MB)"
        )
    total = sum(f.stat().st_size for f in args.out.iterdir() if f.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
