"""benchmarks/gpu_bundle.py and gpu_zoo.sh, what a GPU sitting of a zoo run uses, on the CPU:
the slimmed Pythia data make byte-identical jets, and the sitting script trains, resumes and
leaves what the repository keeps."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "jetzoo_bench_gpu_bundle", ROOT / "benchmarks" / "gpu_bundle.py"
)
bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle)

PYTHIA_SHARE = Path(sys.prefix) / "share" / "Pythia8"  # where pip put pythia8mc's data here


def test_slim_pythia_keeps_the_module_and_the_data_generation_reads(tmp_path: Path) -> None:
    wheel = tmp_path / "pythia8mc-8.317.2-cp312-cp312-manylinux_2_17_x86_64.whl"
    data = "pythia8mc-8.317.2.data/data/share/Pythia8/"
    names = [
        "pythia8mc.cpython-312-x86_64-linux-gnu.so",
        "pythia8mc-8.317.2.dist-info/RECORD",
        data + "xmldoc/Welcome.xml",
        data + "tunes/Monash2013-ee.cmnd",
        data + "pdfdata/NNPDF23_lo_as_0130_qed_0000.dat",
        data + "pdfdata/CT14qed.dat",
        data + "pdfdoc/pythia8300.pdf",
        data + "htmldoc/Index.js",
    ]
    with zipfile.ZipFile(wheel, "w") as z:
        for n in names:
            z.writestr(n, n)
    slim = bundle.slim_pythia(wheel, tmp_path / "slim.zip")
    with zipfile.ZipFile(slim) as z:
        kept = {n: z.read(n).decode() for n in z.namelist()}
    assert sorted(kept) == sorted(
        [
            "pythia8mc.cpython-312-x86_64-linux-gnu.so",
            "share/Pythia8/xmldoc/Welcome.xml",
            "share/Pythia8/tunes/Monash2013-ee.cmnd",
            "share/Pythia8/pdfdata/NNPDF23_lo_as_0130_qed_0000.dat",
        ]
    )
    assert kept["share/Pythia8/xmldoc/Welcome.xml"] == data + "xmldoc/Welcome.xml"  # the bytes


def test_slim_pythia_refuses_a_wheel_without_the_module(tmp_path: Path) -> None:
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("other/README", "x")
    with pytest.raises(RuntimeError, match="no extension module"):
        bundle.slim_pythia(wheel, tmp_path / "slim.zip")


def _generate(out: Path, env: dict[str, str]) -> str:
    """The dataset sha256 of 12 q and 12 W jets, seed 3, made in a fresh process."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jetzoo",
            "generate",
            "jetnet",
            "--classes",
            "q,w",
            "--jets-per-class",
            "12",
            "--seed",
            "3",
            "--workers",
            "1",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    )
    return json.loads((out / "manifest.json").read_text())["dataset_sha256"]


@pytest.mark.skipif(not (PYTHIA_SHARE / "xmldoc").is_dir(), reason="no pip-installed Pythia data")
def test_slim_pythia_data_make_the_same_jets(tmp_path: Path) -> None:
    slim = tmp_path / "slim"
    for f in PYTHIA_SHARE.rglob("*"):
        rel = "share/Pythia8/" + f.relative_to(PYTHIA_SHARE).as_posix()
        if f.is_file() and bundle.pythia_reads(rel):
            (slim / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, slim / rel)
    kept = sum(f.stat().st_size for f in slim.rglob("*") if f.is_file())
    assert kept < 8e6  # of about 70 MB
    env = {k: v for k, v in os.environ.items() if k != "PYTHIA8DATA"}
    full = _generate(tmp_path / "full", env)
    # PYTHIA8DATA is the only place Pythia then looks (tunes and PDFs relative to its xmldoc)
    assert (
        _generate(
            tmp_path / "slimmed", {**env, "PYTHIA8DATA": str(slim / "share" / "Pythia8" / "xmldoc")}
        )
        == full
    )


def _sitting(tmp_path: Path, out: str, epochs: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RUN": "t",
        "RUNS": str(tmp_path / "runs"),
        "RECIPE": "recipes/jbot-s.yaml",
        "MINUTES": "5",
        "OUT": str(tmp_path / out),
        "JETS": "40",
        "WORKERS": "1",
        "DATA": str(tmp_path / "data"),
        "ACCELERATOR": "cpu",
        "EVERY": "1",
        "PYTHON": sys.executable,
        "SITE": str(tmp_path / "site"),
        "WHEELS": str(tmp_path / "none"),
    }  # not .whl/: its wheels are the GPU's Python 3.12
    return subprocess.run(
        [
            "bash",
            "benchmarks/gpu_zoo.sh",
            f"trainer.max_epochs={epochs}",
            "data.batch_size=32",
            "optimizer.warmup_epochs=1",
            "trainer.limit_val_batches=1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_gpu_zoo_sitting_trains_resumes_and_keeps_the_sitting(tmp_path: Path) -> None:
    first = _sitting(tmp_path, "out1", 2)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "wrote 200 jets" in first.stdout and "2 epochs" in first.stdout
    got = sorted(p.name for p in (tmp_path / "out1").iterdir())
    assert got == [
        "config.yaml",
        "epoch000.ckpt",
        "epoch001.ckpt",
        "last.ckpt",
        "metrics.csv",
        "summary.json",
    ]
    second = _sitting(tmp_path, "out2", 4)  # the next sitting resumes from last.ckpt
    assert second.returncode == 0, second.stdout + second.stderr
    summary = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["sittings"] == 2
    # only this sitting's epoch checkpoints come back, the newest first, 3 at most
    assert sorted(p.name for p in (tmp_path / "out2").glob("epoch*.ckpt")) == [
        "epoch002.ckpt",
        "epoch003.ckpt",
    ]
