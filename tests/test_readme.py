"""README.md is a user's guide: short, its Python runs, and its first-hour commands run on a fresh
checkout in order (in an empty folder, as a new user would type them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block(marker: str, lang: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```{lang}\n(.*?)```", README, re.S)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def test_readme_is_a_users_guide() -> None:
    assert len(README.splitlines()) <= 250
    for word in (r"\bissues?\b", r"\bsessions?\b", r"seed paper", r"\bTODO\b"):
        assert not re.search(word, README, re.I), word
    for link in re.findall(r"\]\(([^)#]+)\)", README):  # relative links resolve
        assert link.startswith("http") or (ROOT / link).exists(), link


def test_the_docs_show_the_same_first_hour() -> None:
    docs = (ROOT / "docs" / "getting-started.md").read_text()
    assert f"```bash\n{_block('walk', 'bash')}```" in docs


def test_readme_python_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_block("readme-python", "python"), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "jbot-b" in out and "torch.Size([256, 64])" in out


@pytest.mark.slow
def test_first_hour_commands_run_in_order(tmp_path: Path) -> None:
    """The README's first-hour block, line by line, in an empty folder."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "JETZOO_DATA": str(tmp_path / "data"),
        "JETZOO_CACHE": str(tmp_path / "cache"),
    }
    timings = []
    for line in [ln for ln in _block("walk", "bash").splitlines() if ln.strip()]:
        t0 = time.perf_counter()
        proc = subprocess.run(
            line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        timings.append((line, round(time.perf_counter() - t0, 1)))
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert (tmp_path / "runs" / "mini" / "backbone" / "model.safetensors").is_file()
    assert (tmp_path / "runs" / "mini" / "embeddings.h5").is_file()
    assert list((tmp_path / "runs" / "results" / "mini").glob("*/jetnet-5class.json"))
    assert (tmp_path / "runs" / "board" / "README.md").is_file()
    assert all(seconds < 300 for _, seconds in timings), timings
