"""`jetzoo ship`: a trained folder becomes jetzoo/weights/<name>/ with results, comparisons and
card; mismatched architectures and results of other weights are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jetzoo import JetZoo, create_backbone, release
from jetzoo.cli import main as cli_main
from jetzoo.leaderboard.schema import result_path, write_result
from jetzoo.models.zoo import load_config, save_pretrained
from jetzoo.release import ReleaseError, compare, ship
from jetzoo.utils.io import sha256_file


def _row(task: str, evaluation: str, metric: str, value: float, **extra) -> dict:
    return {
        "task": task,
        "evaluation": evaluation,
        "metric": metric,
        "value": value,
        "spread": 0.01,
        "n": 1000,
        **extra,
    }


MAIN = {"jetnet-5class": "knn/accuracy", "anomaly-qcd": "anomaly-knn/auc[union]"}
KIND = {"jetnet-5class": "multiclass", "anomaly-qcd": "anomaly"}


def _result(model_id: str, sha: str, rows: list[dict]) -> dict:
    """A store summary as load_store_folder returns it."""
    return {"model": {"id": model_id}, "main": MAIN, "results": rows}


def _store(root: Path, model_id: str, sha: str, rows: list[dict], tier: str = "standard") -> Path:
    """Write rows as store files (one per task) and return the model's store folder."""
    for task in dict.fromkeys(r["task"] for r in rows):
        run = {
            "task_sha256": "e" * 64,
            "settings": {},
            "jetzoo_version": "0.1.0",
            "date": "2026-01-01T00:00:00+00:00",
            "dataset": {"name": "jetnet-bench-220k", "sha256": "b" * 64},
            "results": [
                {k: v for k, v in r.items() if k != "task"} for r in rows if r["task"] == task
            ],
        }
        obj = {
            "model": {
                "id": model_id,
                "revision": "local",
                "weights_sha256": sha,
                "arch": "particle_transformer",
                "family": "jetnet",
                "num_features": 32,
            },
            "task": {
                "name": task,
                "kind": KIND[task],
                "family": "jetnet",
                "main_score": MAIN[task],
            },
            "runs": {tier: run},
        }
        path = write_result(result_path(root, model_id, sha, task), obj)
    return path.parent


ROWS = [
    _row("jetnet-5class", "knn", "accuracy", 0.60),
    _row("jetnet-5class", "knn", "auc[q]", 0.80),
    _row("jetnet-5class", "finetune-llrd-10%", "accuracy", 0.55, label_fraction=0.1),
    _row("jetnet-5class", "supervised-10%", "accuracy", 0.50, label_fraction=0.1, baseline=True),
    _row("anomaly-qcd", "anomaly-knn", "auc[union]", 0.70),
]
REF_ROWS = [
    _row("jetnet-5class", "knn", "accuracy", 0.40),
    _row("anomaly-qcd", "anomaly-knn", "auc[union]", 0.65),
]


def test_compare_pairs_probes_with_reference_and_finetunes_with_supervised():
    rows = compare(_result("m", "a" * 64, ROWS), _result("random", "c" * 64, REF_ROWS))
    got = {
        (r["task"], r["evaluation"], r["baseline"]): (r["value"], r["baseline_value"]) for r in rows
    }
    assert got == {
        ("jetnet-5class", "knn", "random knn"): (0.60, 0.40),
        ("jetnet-5class", "finetune-llrd-10%", "supervised-10% (same architecture)"): (0.55, 0.50),
        ("anomaly-qcd", "anomaly-knn", "random anomaly-knn"): (0.70, 0.65),
    }


@pytest.fixture()
def trained(tmp_path: Path) -> Path:
    torch.manual_seed(3)
    return save_pretrained(
        create_backbone("jbot-s"),
        tmp_path / "run" / "backbone",
        training={"wall_time_s": 12.5, "epochs": 2},
    )


def test_ship_writes_package_folder_card_and_loads_by_name(
    tmp_path: Path, trained: Path, monkeypatch
):
    sha = sha256_file(trained / "model.safetensors")
    results = _store(tmp_path / "store", "jbot-s", sha, ROWS)
    reference = _store(tmp_path / "store", "random", "c" * 64, REF_ROWS)
    weights, cards = tmp_path / "weights", tmp_path / "cards"
    rc = cli_main(
        [
            "ship",
            str(trained.parent),
            "--name",
            "jbot-s",
            "--results",
            str(results),
            "--reference",
            str(reference),
            "--weights-root",
            str(weights),
            "--cards",
            str(cards),
        ]
    )
    assert rc == 0
    out = weights / "jbot-s"
    assert sha256_file(out / "model.safetensors") == sha  # bytes unchanged
    config = load_config(out)
    assert config["model_name"] == "jbot-s" and config["training"]["epochs"] == 2
    assert sorted(c["baseline_value"] for c in config["comparisons"]) == [0.40, 0.50, 0.65]
    assert config["results"]["datasets"]["jetnet-5class"] == {
        "name": "jetnet-bench-220k",
        "sha256": "b" * 64,
    }
    # the card keeps each task's main metric (every evaluation); the store keeps the rest
    assert {(r["task"], r["evaluation"], r["metric"]) for r in config["results"]["results"]} == {
        ("jetnet-5class", "knn", "accuracy"),
        ("jetnet-5class", "finetune-llrd-10%", "accuracy"),
        ("jetnet-5class", "supervised-10%", "accuracy"),
        ("anomaly-qcd", "anomaly-knn", "auc[union]"),
    }
    card = (cards / "jbot-s.md").read_text()
    assert card == (out / "README.md").read_text()
    assert "### Against baselines" in card and "| +0.2000 |" in card
    assert f"From the leaderboard store `leaderboard/results/jbot-s/{sha[:12]}/`" in card
    assert "revision: " + "b" * 64 in card  # the HF card pins the evaluation data (EvalResult)
    # the registered name now resolves to the shipped folder
    monkeypatch.setattr(
        "jetzoo.models.zoo._shipped_folder", lambda name: out if name == "jbot-s" else None
    )
    model = JetZoo.from_pretrained("jbot-s")
    ref = JetZoo.from_pretrained(trained)
    for (k, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), k


def test_ship_refuses_other_weights_quick_runs_and_wrong_architecture(
    tmp_path: Path, trained: Path
):
    sha = sha256_file(trained / "model.safetensors")
    other = _store(tmp_path / "store", "x", "d" * 64, ROWS)
    with pytest.raises(ReleaseError, match="scored another model"):
        ship(trained, "jbot-s", other, weights_root=tmp_path / "w", cards_dir=None)
    quick = _store(tmp_path / "quick", "x", sha, ROWS, tier="quick")
    with pytest.raises(ReleaseError, match="tier 'quick'"):
        ship(trained, "jbot-s", quick, weights_root=tmp_path / "w", cards_dir=None, tier="quick")
    with pytest.raises(ReleaseError, match="no 'standard' results"):
        ship(trained, "jbot-s", quick, weights_root=tmp_path / "w", cards_dir=None)
    with pytest.raises(
        ReleaseError, match=r"architecture differs .*embed_dim: 32 \(registered 64\)"
    ):
        ship(trained, "jbot-b", weights_root=tmp_path / "w", cards_dir=None)
    assert not (tmp_path / "w").exists()


def test_release_paths_point_into_the_repository():
    assert release.PACKAGE_WEIGHTS.parent.name == "jetzoo"
    assert release.CARDS_DIR.name == "model_cards"


@pytest.mark.parametrize(
    "folder",
    sorted(p for p in release.PACKAGE_WEIGHTS.iterdir() if (p / "config.json").is_file()),
    ids=lambda p: p.name,
)
def test_shipped_configs_state_the_preprocessing_their_weights_use(folder: Path) -> None:
    from safetensors.torch import load_file

    prep = load_config(folder)["backbone"]["preprocessing"]
    state = load_file(str(folder / "model.safetensors"))
    buffers = (
        {"mean": "feat_mean", "std": "feat_std"} if "mean" in prep else {key: key for key in prep}
    )
    for key, buffer in buffers.items():
        name = next(k for k in state if k == buffer or k.endswith("." + buffer))
        assert torch.equal(torch.tensor(prep[key], dtype=torch.float32), state[name]), (
            folder.name,
            key,
        )
