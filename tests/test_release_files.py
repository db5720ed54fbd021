"""The release files: one version everywhere, a licence, a citation file and a changelog that
names the version that ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

import jetzoo

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_source():
    assert jetzoo.__version__ == "0.2.0"
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'attr = "jetzoo.__version__"' in text
    out = subprocess.run(
        [sys.executable, "-m", "jetzoo.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"jetzoo {jetzoo.__version__}"


def test_license_citation_and_changelog():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == jetzoo.__version__
    assert cff["license"] == "MIT"
    titles = " ".join(r["title"] for r in cff["references"])
    for paper in (
        "Re-simulation-based",
        "jBOT",
        "Symmetries, safety",
        "Self-Supervised Learning Strategies",
        "Particle Cloud Generation",
    ):
        assert paper in titles
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {jetzoo.__version__} (" in changelog and "## 0.1.0 (" in changelog
