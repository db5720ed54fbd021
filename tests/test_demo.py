"""`make demo`: a shipped backbone embeds jets it never saw, beats its random init on the frozen
kNN and linear probes, and the 2-D projection plot is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jetzoo.demo import main


@pytest.mark.slow
def test_demo_scores_a_shipped_backbone_and_writes_the_projection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--model", "jbot-s", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    scores = {
        m[1]: (float(m[2]), float(m[3]))
        for m in re.finditer(
            r"^jbot-s, (random init|pre-trained)\s+([0-9.]+)\s+([0-9.]+)$", out, re.M
        )
    }
    assert set(scores) == {"random init", "pre-trained"}, out
    assert scores["pre-trained"][0] > scores["random init"][0] + 0.02  # kNN (release: +0.05)
    assert scores["pre-trained"][1] > scores["random init"][1]  # linear probe
    # the pre-training set is read from the model's own config, not hard-coded
    from jetzoo import JetZoo

    seen = JetZoo.from_pretrained("jbot-s").pretrained_cfg["dataset"]
    assert f"jbot-s was pre-trained on {seen['path']} (sha256 {seen['sha256'][:16]})" in out, out
    png = tmp_path / "projection.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
