"""Render: tables per task with the baseline beside the SSL rows, ROC PNGs, refusal of tampering."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jetzoo.cli import main as cli_main
from jetzoo.leaderboard.render import render, task_table
from jetzoo.leaderboard.schema import ResultFileError, load_result, write_result


def _result(model: str, auc_ft: float, quick: bool = False) -> dict:
    rows = []
    for ev, auc, base in (("knn", 0.90, False), ("finetune-llrd-10%", auc_ft, False),
                          ("supervised-10%", 0.91, True), ("finetune-llrd-100%", auc_ft + 0.01,
                                                            False),
                          ("supervised-100%", 0.93, True)):
        rows.append({"task": "top-tagging", "evaluation": ev, "metric": "auc", "value": auc,
                     "spread": 0.0021, "n": 500, "baseline": base})
        rows.append({"task": "top-tagging", "evaluation": ev, "metric": "rej_b@eff_s=0.5",
                     "value": None if ev == "knn" else 41.25, "spread": 2.5, "n": 500})
    rows.append({"task": "anomaly-qcd", "evaluation": "anomaly-knn", "metric": "auc[w]",
                 "value": 0.8072, "spread": 0.0028, "n": 900})
    return {"model": {"id": model, "revision": "local", "weights_sha256": "a" * 64,
                      "arch": "particle_transformer", "family": "jetnet", "num_features": 16},
            "jetzoo_version": "0.1.0", "date": "2026-11-23T12:00:00+00:00", "quick": quick,
            "datasets": {"top-tagging": {"sha256": "b" * 64}}, "results": rows}


def _roc(task: str, ev: str, label: str) -> dict:
    tpr = np.linspace(0, 1, 20)
    return {f"{task}|{ev}|{label}": (tpr ** 3, tpr)}


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    write_result(d / "jbot-s.json", _result("jbot-s", 0.95, quick=True),
                 {**_roc("top-tagging", "knn", "t"), **_roc("anomaly-qcd", "anomaly-knn", "w")})
    write_result(d / "ae.json", _result("ae", 0.94), _roc("top-tagging", "supervised-10%", "t"))
    return d


def test_render_tables_and_pngs(results: Path, tmp_path: Path):
    out = tmp_path / "board"
    readme = render(results, out)
    text = readme.read_text()
    assert "## top-tagging" in text and "## anomaly-qcd" in text
    assert "| model | evaluation | auc | rej_b@eff_s=0.5 |" in text
    assert "results of jbot-s come from `--quick` runs" in text
    section = text.split("## top-tagging")[1].split("## anomaly-qcd")[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("| jbot-s |")]
    evals = [ln.split("|")[2].strip() for ln in lines]
    # frozen first, then per fraction: the baseline directly above its fine-tuned row
    assert evals[:5] == ["kNN probe (frozen)",
                         "supervised from scratch (baseline), 10% labels",
                         "fine-tuned, LLRD, 10% labels",
                         "supervised from scratch (baseline), 100% labels",
                         "fine-tuned, LLRD, 100% labels"]
    assert "| jbot-s | fine-tuned, LLRD, 10% labels | 0.9500 ± 0.0021 | 41.2 ± 2.5 |" in text
    assert "| jbot-s | kNN probe (frozen) | 0.9000 ± 0.0021 | n/a |" in text
    assert text.index("## top-tagging") < text.index("## anomaly-qcd")  # classification first
    assert "| ae | anomaly-knn | 0.8072 ± 0.0028 |" in text
    for task in ("top-tagging", "anomaly-qcd"):
        png = out / "roc" / f"{task}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"(roc/{task}.png)" in text


def test_task_table_rows_are_model_plus_evaluation(results: Path):
    res = [load_result(p)[0] for p in sorted(results.glob("*.json"))]
    table = task_table("anomaly-qcd", res).splitlines()
    assert table[0] == "| model | evaluation | auc[w] |"
    assert len(table) == 2 + 2  # header, rule, one row per model


def test_render_refuses_tampered_file(results: Path, tmp_path: Path, capsys):
    path = results / "ae.json"
    path.write_text(path.read_text().replace('"value": 0.94', '"value": 0.99'))
    with pytest.raises(ResultFileError, match=r"ae\.json: field 'checksum'"):
        render(results, tmp_path / "board")
    assert cli_main(["leaderboard", "render", "--results", str(results), "--out",
                     str(tmp_path / "board")]) == 1
    assert "refused" in capsys.readouterr().err
    assert not (tmp_path / "board" / "README.md").exists()
