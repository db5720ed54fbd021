"""Model cards: Hugging Face metadata parsed back by huggingface_hub.ModelCard, results tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from jetzoo import create_backbone
from jetzoo.models.model_card import normalize_results, render_folder, render_model_card
from jetzoo.models.zoo import build_config, save_pretrained

ROOT = Path(__file__).resolve().parents[1]

RESULTS = {
    "model": "jbot-b",
    "dataset": "jetnet30",
    "results": [
        {"task": "five-class", "metric": "accuracy", "value": 0.8123, "split": "test"},
        {"task": "top-tagging", "metric": "roc_auc", "value": 0.9345},
        {"task": "anomaly-qg", "metric": "roc_auc", "value": 0.71, "dataset": "jetnet30-qg"},
    ],
}


def test_card_metadata_parses_with_huggingface_hub(tmp_path):
    torch.manual_seed(0)
    model = create_backbone("jbot-b")
    folder = save_pretrained(
        model,
        tmp_path / "m",
        recipe={"recipe": "jbot", "lr": 5e-4},
        dataset={"name": "jetnet30", "sha256": "f" * 64, "n_jets": 700000},
        training={"epochs": 100, "wall_time_s": 64800.0},
        results=RESULTS,
    )
    card = ModelCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "jetzoo" and data["license"] == "mit"
    assert data["tags"] == ["jet-physics", "jetzoo", "self-supervised", "jbot"]
    assert data["datasets"] == ["jetnet30"]
    assert data["metrics"] == ["accuracy", "roc-auc"]
    assert card.data.model_name == "jbot-b"
    got = [
        (r.task_name, r.dataset_name, r.dataset_split, r.metric_type, r.metric_value)
        for r in card.data.eval_results
    ]
    assert got == [
        ("five-class", "jetnet30", "test", "accuracy", 0.8123),
        ("top-tagging", "jetnet30", "test", "roc-auc", 0.9345),
        ("anomaly-qg", "jetnet30-qg", "test", "roc-auc", 0.71),
    ]
    text = card.text
    n_params = sum(p.numel() for p in model.parameters())
    assert f"| parameters | {n_params:,} |" in text and n_params == 233_600
    assert "| num_heads | 6 |" in text and "| head_dim | 16 |" in text
    assert "| sha256 | " + "f" * 64 + " |" in text
    assert "| recipe.recipe | jbot |" in text and "| training.epochs | 100 |" in text
    assert "| top-tagging | jetnet30 | test | roc_auc | 0.9345 |" in text
    assert 'JetZoo.from_pretrained("jbot-b")' in text and "embed(" in text
    for cited in ("jBOT: Semantic Jet Representation", "10.5281/zenodo.6975118", "CITATION.cff"):
        assert cited in text
    assert "Symmetries, safety" not in text and "Re-simulation-based" not in text  # other recipes
    assert "## Intended uses and limitations" in text and "no underlying event" in text
    assert "jetzoo finetune llrd init_from=jbot-b" in text and "jetzoo export-onnx jbot-b" in text


def test_card_without_results_or_data_claims_nothing():
    torch.manual_seed(0)
    config = build_config(create_backbone("jbot-s"))
    card = ModelCard(render_model_card(config, n_params=1))
    assert "datasets" not in card.data.to_dict() and card.data.eval_results is None
    assert card.data.tags == ["jet-physics", "jetzoo", "self-supervised"]
    assert "No leaderboard results yet" in card.text


def test_card_says_what_it_was_trained_on_and_where_it_held():
    torch.manual_seed(0)
    config = build_config(create_backbone("jbot-s"))
    rows = [
        {"task": t, "evaluation": "knn", "metric": "accuracy", "value": v}
        for t, v in (("jetnet-5class", 0.625), ("transfer-pt300", 0.60), ("transfer-r04-ue", 0.55))
    ]
    mixture = [{"name": "jetnet-mix-pt300-70k"}, {"name": "jetnet-mix-r04-ue-70k"}]
    config = {
        **config,
        "dataset": {"path": "data/jetnet-mix-560k", "mixture": mixture},
        "results": {"results": rows},
    }
    text = render_model_card(config, n_params=1)
    assert "a mixture of 2 generator settings (`jetnet-mix-pt300-70k`, `jetnet-mix-r04" in text
    assert "pt300 0.600, r04-ue 0.550 against 0.625 on the default setting" in text
    assert "the worst is r04-ue" in text
    plain = render_model_card(build_config(create_backbone("jbot-s")), n_params=1)
    assert "Not measured here on other generator settings" in plain


def test_render_folder_matches_saved_card(tmp_path):
    torch.manual_seed(0)
    folder = save_pretrained(create_backbone("ae"), tmp_path / "m", results=RESULTS)
    out = tmp_path / "model_cards" / "ae.md"
    text = render_folder(folder, out)
    assert out.read_text() == text == (folder / "README.md").read_text()


def test_normalize_results_forms_and_errors():
    rows = normalize_results({"top-tagging": {"roc_auc": 0.9, "accuracy": 0.8}})
    assert [(r["task"], r["metric"], r["value"], r["dataset"], r["split"]) for r in rows] == [
        ("top-tagging", "roc_auc", 0.9, "jetnet", "test"),
        ("top-tagging", "accuracy", 0.8, "jetnet", "test"),
    ]
    assert normalize_results(None) == []
    leaderboard_file = {
        "schema_version": 1,
        "model": {"id": "jbot-b"},
        "results": [
            {
                "task": "top",
                "evaluation": "finetune",
                "metric": "auc",
                "value": 0.95,
                "spread": 0.01,
                "n": 1000,
                "label_fraction": 0.1,
            },
            {  # the store's names carry the fraction already
                "task": "top",
                "evaluation": "finetune-llrd-1%",
                "metric": "auc",
                "value": 0.9,
                "spread": 0.01,
                "n": 1000,
                "label_fraction": 0.01,
            },
            {
                "task": "top",
                "evaluation": "linear",
                "metric": "rej@30",
                "value": None,
                "spread": None,
                "n": 1000,
            },
        ],
    }
    rows = normalize_results(leaderboard_file)
    assert [(r["task"], r["evaluation"], r["value"]) for r in rows] == [
        ("top", "finetune, 10% labels", 0.95),
        ("top", "finetune-llrd-1%", 0.9),
        ("top", "linear", None),
    ]
    card = ModelCard(
        render_model_card(
            {**build_config(create_backbone("jbot-s")), "results": leaderboard_file}, n_params=1
        )
    )
    assert [(r.task_name, r.metric_value) for r in card.data.eval_results] == [
        ("top (finetune, 10% labels)", 0.95),
        ("top (finetune-llrd-1%)", 0.9),
    ]  # undefined values stay out of the metadata
    assert "| top (linear) | jetnet | test | rej@30 | n/a |" in card.text
    assert json.dumps(normalize_results(RESULTS))  # plain JSON types only
    with pytest.raises(ValueError, match=r"results\[0\]: needs fields task, metric, value"):
        normalize_results([{"task": "x", "value": 1.0}])
    with pytest.raises(ValueError, match=r"results\[1\] field 'value': expected a finite number"):
        normalize_results(
            [
                {"task": "x", "metric": "auc", "value": 0.5},
                {"task": "y", "metric": "auc", "value": float("nan")},
            ]
        )
    with pytest.raises(ValueError, match=r"results\['x'\]"):
        normalize_results({"x": 0.5})


SHIPPED_CARDS = sorted(p for p in (ROOT / "model_cards").glob("*.md") if p.name != "README.md")
OWN_PAPER = {
    "jbot": "jBOT: Semantic Jet Representation",
    "jetclr": "Symmetries, safety, and self-supervision",
    "rs3l": "Re-simulation-based self-supervised learning",
    "autoencoder": "VICReg",
}


@pytest.mark.parametrize("path", SHIPPED_CARDS, ids=lambda p: p.stem)
def test_shipped_cards_follow_the_hub_conventions(path):
    """One model-index result per (task, evaluation), each with its own task type and no
    metric type twice; the index round-trips through huggingface_hub unchanged; the card
    cites its own recipe's paper, says what the model is for and how to use it."""
    import yaml
    from huggingface_hub.repocard_data import (
        eval_results_to_model_index,
        model_index_to_eval_results,
    )

    card = ModelCard.load(path)
    index = yaml.safe_load(path.read_text().split("---")[1])["model-index"]
    name, results = model_index_to_eval_results(index)
    assert eval_results_to_model_index(name, results) == index  # nothing merged or lost
    entries = index[0]["results"]
    types = [e["task"]["type"] for e in entries]
    assert len(types) == len(set(types)) == len(entries)
    for e in entries:
        metric_types = [m["type"] for m in e["metrics"]]
        assert len(metric_types) == len(set(metric_types)), e["task"]
    assert len(card.data.eval_results) == sum(len(e["metrics"]) for e in entries)
    config = json.loads((ROOT / "jetzoo" / "weights" / path.stem / "config.json").read_text())
    recipe = config["recipe"]["recipe"]
    for section in ("## Intended uses and limitations", "## How to use", "## Citation"):
        assert section in card.text, section
    assert OWN_PAPER[recipe] in card.text
    for other, title in OWN_PAPER.items():
        if other != recipe and not (recipe == "rs3l" and other == "autoencoder"):
            assert title not in card.text, (recipe, other)
    assert path.read_text() == (ROOT / "jetzoo" / "weights" / path.stem / "README.md").read_text()
