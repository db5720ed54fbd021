"""Render: main scores per tier, tables per task and tier with the baseline beside the SSL rows,
seeds shown, ROC PNGs, refusal of tampering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jetzoo.cli import main as cli_main
from jetzoo.leaderboard.render import main_score_table, render, task_table
from jetzoo.leaderboard.schema import ResultFileError, load_result, result_path, write_result

KIND = {"top-tagging": "binary", "anomaly-qcd": "anomaly"}
MAIN = {"top-tagging": "knn/auc", "anomaly-qcd": "anomaly-knn/auc[w]"}


def _rows(task: str, auc_knn: float, auc_ft: float) -> list[dict]:
    if task == "anomaly-qcd":
        return [
            {
                "evaluation": "anomaly-knn",
                "metric": "auc[w]",
                "value": 0.8072,
                "spread": 0.0028,
                "n": 900,
            }
        ]
    rows = []
    for ev, auc, base in (
        ("knn", auc_knn, None),
        ("finetune-llrd-10%", auc_ft, False),
        ("supervised-10%", 0.91, True),
        ("finetune-llrd-100%", auc_ft + 0.01, False),
        ("supervised-100%", 0.93, True),
    ):
        seeded = (
            {}
            if base is None
            else {
                "baseline": base,
                "seeds": [0, 1, 2],
                "per_seed": [auc - 0.01, auc, auc + 0.01],
                "seed_std": 0.01,
            }
        )
        rows.append(
            {"evaluation": ev, "metric": "auc", "value": auc, "spread": 0.0021, "n": 500, **seeded}
        )
        rows.append(
            {
                "evaluation": ev,
                "metric": "rej_b@eff_s=0.5",
                "value": None if ev == "knn" else 41.25,
                "spread": 2.5,
                "n": 500,
            }
        )
    return rows


def _write(
    root: Path,
    model: str,
    sha: str,
    tiers: dict[str, tuple[float, float]],
    roc_labels: dict[str, list[str]],
) -> None:
    """One store file per task holding a run per tier; ROC curves of the standard tier."""
    for task in ("top-tagging", "anomaly-qcd"):
        runs = {
            tier: {
                "task_sha256": "c" * 64,
                "settings": {"max_epochs": 20},
                "dataset": {"name": "jetnet-bench-220k", "sha256": "b" * 64, "n_test": 500},
                "jetzoo_version": "0.1.0",
                "date": "2026-11-23T12:00:00+00:00",
                "results": _rows(task, *aucs),
            }
            for tier, aucs in tiers.items()
        }
        obj = {
            "model": {
                "id": model,
                "revision": "local",
                "weights_sha256": sha,
                "arch": "particle_transformer",
                "family": "jetnet",
                "num_features": 16,
            },
            "task": {
                "name": task,
                "kind": KIND[task],
                "family": "jetnet",
                "main_score": MAIN[task],
            },
            "runs": runs,
        }
        tpr = np.linspace(0, 1, 20)
        roc = {
            f"standard|{ev}|{label}": (tpr**3, tpr)
            for ev, labels in roc_labels.items()
            for label in labels
            if (task == "anomaly-qcd") == ev.startswith("anomaly")
        }
        write_result(result_path(root, model, sha, task), obj, roc)


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    _write(d, "jbot-s", "a" * 64, {"standard": (0.90, 0.95)}, {"knn": ["t"], "anomaly-knn": ["w"]})
    _write(
        d,
        "ae",
        "e" * 64,
        {"standard": (0.92, 0.94), "quick": (0.70, 0.60)},
        {"supervised-10%": ["t"]},
    )
    return d


def test_render_tables_and_pngs(results: Path, tmp_path: Path):
    out = tmp_path / "board"
    readme = render(results, out)
    text = readme.read_text()
    assert "## Tier `standard`: main scores" in text and "## Tier `quick`: main scores" in text
    assert text.index("## Tier `standard`") < text.index("## Tier `quick`")
    main = text.split("## Tier `standard`: main scores")[1].split("##")[0]
    lines = [ln for ln in main.splitlines() if ln.startswith("| ")]
    assert lines[0] == (
        "| model | top-tagging<br>`knn/auc` | anomaly-qcd<br>`anomaly-knn/auc[w]` |"
    )
    assert lines[1].startswith("| ae | 0.9200 ± 0.0021 |")  # best first, one row per model
    assert lines[2].startswith("| jbot-s | 0.9000 ± 0.0021 |")
    assert "## top-tagging (tier `standard`)" in text and "## anomaly-qcd (tier `quick`)" in text
    section = text.split("## top-tagging (tier `standard`)")[1].split("## ")[0]
    assert "Data: jetnet-bench-220k `bbbbbbbbbbbb` (500 test jets)" in section
    rows = [ln for ln in section.splitlines() if ln.startswith("| jbot-s ")]
    evals = [ln.split("|")[2].strip() for ln in rows]
    # frozen first, then per fraction: the baseline directly above its fine-tuned row
    assert evals == [
        "kNN probe (frozen)",
        "supervised from scratch (baseline), 10% labels",
        "fine-tuned, LLRD, 10% labels",
        "supervised from scratch (baseline), 100% labels",
        "fine-tuned, LLRD, 100% labels",
    ]
    assert (
        "| jbot-s | fine-tuned, LLRD, 10% labels | 0.9500 ± 0.0021 "
        "(± 0.0100 over 3 seeds) | 41.2 ± 2.5 |"
    ) in text
    assert "| jbot-s | kNN probe (frozen) | 0.9000 ± 0.0021 | n/a |" in text
    assert "| ae | anomaly: kNN distance | 0.8072 ± 0.0028 |" in text
    assert text.index("## top-tagging (tier `standard`)") < text.index(
        "## anomaly-qcd (tier `standard`)"
    )  # classification first
    for task in ("top-tagging", "anomaly-qcd"):
        png = out / "roc" / f"{task}-standard.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"(roc/{task}-standard.png)" in text
    assert not (out / "roc" / "top-tagging-quick.png").exists()  # no curves at that tier
    # label efficiency: fine-tuning and its baseline at 10% and 100% labels, per model
    png = out / "label-efficiency" / "top-tagging-standard.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "(label-efficiency/top-tagging-standard.png)" in text
    assert not (out / "label-efficiency" / "anomaly-qcd-standard.png").exists()


def test_label_efficiency_lines(results: Path):
    from jetzoo.leaderboard.render import label_efficiency_lines

    res = [load_result(p)[0] for p in sorted(results.rglob("*.json"))]
    lines = label_efficiency_lines(res, "top-tagging", "standard")
    assert set(lines) == {
        "ae: finetune-llrd",
        "ae: supervised",
        "jbot-s: finetune-llrd",
        "jbot-s: supervised",
    }
    assert lines["jbot-s: finetune-llrd"] == [(0.1, 0.95, 0.01), (1.0, 0.96, 0.01)]
    assert lines["ae: supervised"] == [(0.1, 0.91, 0.01), (1.0, 0.93, 0.01)]
    assert label_efficiency_lines(res, "anomaly-qcd", "standard") == {}


def test_board_ranks_one_revision_per_model_and_keeps_the_rest_in_history(
    results: Path, tmp_path: Path
):
    """A second, newer jbot-s revision takes the board's row; the older one moves to
    history.md with its identity and main scores."""
    from jetzoo.leaderboard import board

    newer = "f" * 64
    _write(results, "jbot-s", newer, {"standard": (0.97, 0.99)}, {"knn": ["t"]})
    for p in results.glob(f"jbot-s/{newer[:12]}/*.json"):  # scored a day later
        obj, roc = load_result(p)
        for run in obj["runs"].values():
            run["date"] = "2026-11-24T12:00:00+00:00"
        write_result(p, obj, roc)
    out = tmp_path / "board"
    text = render(results, out).read_text()
    main = text.split("## Tier `standard`: main scores")[1].split("##")[0]
    rows = [ln for ln in main.splitlines() if ln.startswith("| jbot-s ")]
    assert rows == [rows[0]] and rows[0].startswith("| jbot-s | 0.9700 ± 0.0021 |")
    assert "aaaaaaaaaaaa" not in text.split("## Tier")[1]
    history = (out / "history.md").read_text()
    assert "| jbot-s `aaaaaaaaaaaa` | 0.9000 ± 0.0021 |" in history
    assert "| jbot-s | `ffffffffffff` |" in history and "| jbot-s | `aaaaaaaaaaaa` |" in history
    kinds = {
        e.model: e.kind for e in board.entries([load_result(p)[0] for p in results.rglob("*.json")])
    }
    assert kinds == {"ae": "shipped", "jbot-s": "shipped"}  # ids of shipped models
    assert board.entry_kind("jbot-s-random-init") == "baseline: random init"
    assert board.entry_kind("jbot-b-published") == "published weights (results only)"
    assert board.entry_kind("my-model") == "pre-trained"


def test_a_continued_model_counts_the_jets_of_the_weights_it_started_from(
    results: Path, monkeypatch
):
    """A model continued from another run's weights (``init_from``) shows both data sets and
    the jet-passes of both runs."""
    from jetzoo.leaderboard import board

    shipped = {
        "weights_sha256": "a" * 64,
        "dataset": {"path": "data/jetnet-mix-560k", "classes": ["q", "g"]},
        "training": {
            "jets_seen": 1_340_000,
            "init_from": {"dataset": "data/jetnet-700k", "jets_seen": 3_360_000},
        },
    }
    monkeypatch.setattr(board, "_shipped_config", lambda model: shipped)
    entry = {
        e.model: e for e in board.entries([load_result(p)[0] for p in results.rglob("*.json")])
    }["jbot-s"]
    assert entry.pretraining_data == "jetnet-700k, then jetnet-mix-560k (q,g)"
    assert entry.jets_seen == 4_700_000 and board.human_count(entry.jets_seen) == "4.7M"


def test_tables_are_model_plus_evaluation(results: Path):
    res = [load_result(p)[0] for p in sorted(results.rglob("*.json"))]
    table = task_table("anomaly-qcd", res, "standard").splitlines()
    assert table[0] == "| model | evaluation | auc[w] |"
    assert len(table) == 2 + 2  # header, rule, one row per model
    quick = main_score_table(res, "quick", ["top-tagging", "anomaly-qcd"]).splitlines()
    assert len(quick) == 3 and quick[2].startswith("| ae `eeeeeeeeeeee` | 0.7000")


def test_render_refuses_tampered_file(results: Path, tmp_path: Path, capsys):
    path = result_path(results, "ae", "e" * 64, "top-tagging")
    path.write_text(path.read_text().replace('"value": 0.92', '"value": 0.99'))
    with pytest.raises(ResultFileError, match=r"top-tagging\.json: field 'checksum'"):
        render(results, tmp_path / "board")
    assert (
        cli_main(
            ["leaderboard", "render", "--results", str(results), "--out", str(tmp_path / "board")]
        )
        == 1
    )
    assert "refused" in capsys.readouterr().err
    assert not (tmp_path / "board" / "README.md").exists()


def test_committed_stores_are_valid() -> None:
    """Every result file in the repository's stores (the leaderboard's and the one-off studies')
    passes the checks `render` applies, and sits in the folder of its model id and identity
    (weights + architecture config; files scored before results recorded the config sit in
    the folder of their weights)."""
    root = Path(__file__).resolve().parents[1] / "leaderboard"
    files = sorted([*root.glob("results/*/*/*.json"), *root.glob("studies/*/*/*/*.json")])
    assert any("studies" in f.parts for f in files) and any("results" in f.parts for f in files)
    for f in files:
        obj, _ = load_result(f)
        key = obj["model"].get("identity_sha256", obj["model"]["weights_sha256"])
        assert f.parent.name == key[:12], f
        assert f.parent.parent.name == obj["model"]["id"], f


def test_results_csv_has_one_row_per_model_task_tier_evaluation_metric(
    results: Path, tmp_path: Path
):
    import csv

    render(results, tmp_path / "board")
    with open(tmp_path / "board" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    want = sum(
        len(run["results"])
        for p in sorted(results.glob("*/*/*.json"))
        for run in load_result(p)[0]["runs"].values()
    )
    assert len(rows) == want > 0
    keys = {(r["model"], r["task"], r["tier"], r["evaluation"], r["metric"]) for r in rows}
    assert len(keys) == len(rows)
    knn = next(r for r in rows if r["evaluation"] == "knn" and r["metric"] == "auc")
    assert float(knn["value"]) > 0 and knn["dataset_sha256"] == "b" * 64


def test_the_committed_results_csv_is_a_fresh_render(tmp_path: Path):
    root = Path(__file__).resolve().parents[1] / "leaderboard"
    from jetzoo.leaderboard.render import results_csv

    loaded = [load_result(p, load_roc=False)[0] for p in sorted(root.glob("results/*/*/*.json"))]
    fresh = results_csv(loaded, tmp_path / "results.csv")
    assert fresh.read_text() == (root / "results.csv").read_text()


def test_a_task_group_table_ranks_models_by_their_worst_task():
    def result(model: str, task: str, value: float) -> dict:
        row = {"evaluation": "knn", "metric": "accuracy", "value": value, "spread": 0.005}
        return {
            "model": {"id": model, "weights_sha256": model[0] * 64},
            "task": {"name": task, "main_score": "knn/accuracy"},
            "runs": {"standard": {"results": [row]}},
        }

    res = [
        result("a", "transfer-x", 0.60),
        result("a", "transfer-y", 0.50),
        result("b", "transfer-x", 0.55),
        result("b", "transfer-y", 0.54),
        result("c", "transfer-x", 0.70),  # not scored on every task: no worst, ranked last
    ]
    table = main_score_table(
        res, "standard", ["transfer-x", "transfer-y"], revisions=False, worst=True
    ).splitlines()
    assert table[0].startswith("| model | worst<br>`lowest of the group` | transfer-x")
    assert [line.split(" |")[0] for line in table[2:]] == ["| b", "| a", "| c"]
    assert "0.5400 ± 0.0050 (transfer-y)" in table[2] and "0.5000" in table[3]
