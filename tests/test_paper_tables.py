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


def _shipped_knn(task: str, metric: str, evaluation: str = "knn") -> float:
    sha = json.loads((ROOT / "jetzoo/weights/jbot-s/config.json").read_text())["weights_sha256"]
    for path in (ROOT / "leaderboard/results/jbot-s").glob(f"*/{task}.json"):
        obj = json.loads(path.read_text())
        if obj["model"]["weights_sha256"] == sha:
            rows = obj["runs"]["standard"]["results"]
            return next(
                r["value"] for r in rows if (r["evaluation"], r["metric"]) == (evaluation, metric)
            )
    raise AssertionError("shipped jbot-s not in the store")


def test_jbot_tables(capsys) -> None:
    assert cli_main(["leaderboard", "table", "jbot"]) == 0
    text = capsys.readouterr().out
    for title in ("Table 2: five-class", "Table 3: top tagging", "Table 4: anomaly detection"):
        assert f"## {title}" in text
    assert _row(text, "paper: k-NN (jBOT-S)")[0] == "0.7102"  # the paper's Table 2
    assert _row(text, "paper: LGAE") == ["0.7489", "0.7909", "0.8669", "0.8313"]
    # our rows are the store's numbers for the shipped weights
    assert _row(text, "k-NN (jbot-s)")[0] == f"{_shipped_knn('jetnet-5class', 'accuracy'):.4f}"
    assert _row(text, "jbot-s-qcd (k-NN)")[3] != "not scored"
    llrd = _shipped_knn("jetnet-5class", "accuracy", "finetune-llrd-10%")
    assert _row(text, "jbot-s LLRD (10%)")[0] == f"{llrd:.4f}"  # the store's mean over seeds
    assert _row(text, "jbot-b LLRD (10%)") == ["not scored"] * len(JBOT_COLUMNS["jetnet-5class"])
    for task, rows in JBOT_PAPER.items():  # every printed row complete
        assert all(set(v) == set(JBOT_COLUMNS[task]) for v in rows.values()), task


def test_rs3l_tables(capsys) -> None:
    assert cli_main(["leaderboard", "table", "rs3l"]) == 0
    text = capsys.readouterr().out
    assert "## rs3l-gluon-tagging" in text and "## rs3l-tau-tagging" in text
    assert "finds 71% of the gluon jets" in text and "finds 97% of the tau jets" in text
    assert _row(text, "rs3l knn")[1] != "not scored"
    assert _row(text, "rs3l finetune-lora-1%") == ["not scored"] * 3
