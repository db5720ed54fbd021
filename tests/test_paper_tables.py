"""`jetzoo leaderboard table {jbot,rs3l}`: the papers' table layouts, our rows from the store."""

from __future__ import annotations

import json
from pathlib import Path

from jetzoo.cli import main as cli_main
from jetzoo.leaderboard.paper_tables import JBOT_COLUMNS, JBOT_PAPER

ROOT = Path(__file__).resolve().parents[1]


def _row(text: str, label: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def _shipped_cell(task: str, metric: str, evaluation: str = "knn", model: str = "jbot-s") -> str:
    """The table cell the store gives the shipped ``model``: its value, or ``not scored``."""
    config = json.loads((ROOT / f"jetzoo/weights/{model}/config.json").read_text())
    for path in (ROOT / f"leaderboard/results/{model}").glob(f"*/{task}.json"):
        obj = json.loads(path.read_text())
        if obj["model"]["weights_sha256"] == config["weights_sha256"]:
            rows = obj["runs"]["standard"]["results"]
            values = [
                r["value"] for r in rows if (r["evaluation"], r["metric"]) == (evaluation, metric)
            ]
            return f"{values[0]:.4f}" if values else "not scored"
    raise AssertionError(f"shipped {model} not in the store")


def test_jbot_tables(capsys) -> None:
    assert cli_main(["leaderboard", "table", "jbot"]) == 0
    text = capsys.readouterr().out
    for title in ("Table 2: five-class", "Table 3: top tagging", "Table 4: anomaly detection"):
        assert f"## {title}" in text
    assert _row(text, "paper: k-NN (jBOT-S)")[0] == "0.7102"  # the paper's Table 2
    assert _row(text, "paper: LGAE") == ["0.7489", "0.7909", "0.8669", "0.8313"]
    # our rows are the store's numbers for the shipped weights
    assert _row(text, "k-NN (jbot-s)")[0] == _shipped_cell("jetnet-5class", "accuracy")
    assert _row(text, "k-NN (jbot-s)")[0] != "not scored"
    assert _row(text, "jbot-s-qcd (k-NN)")[3] != "not scored"
    for model in ("jbot-s", "jbot-b"):  # the store's mean over seeds, or "not scored"
        llrd = _shipped_cell("jetnet-5class", "accuracy", "finetune-llrd-10%", model)
        assert _row(text, f"{model} LLRD (10%)")[0] == llrd
    for task, rows in JBOT_PAPER.items():  # every printed row complete
        assert all(set(v) == set(JBOT_COLUMNS[task]) for v in rows.values()), task


def test_rs3l_tables(capsys) -> None:
    assert cli_main(["leaderboard", "table", "rs3l"]) == 0
    text = capsys.readouterr().out
    assert "## rs3l-gluon-tagging" in text and "## rs3l-tau-tagging" in text
    assert "finds 71% of the gluon jets" in text and "finds 97% of the tau jets" in text
    assert _row(text, "rs3l knn")[1] != "not scored"
    assert _row(text, "rs3l finetune-lora-1%") == ["not scored"] * 3
