"""Benchmark v1 harness: tiers, main scores, the evaluator registry, seeds, the result store
(merge and skip), the embedding cache and the pinned dataset catalog."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jetzoo import create_backbone
from jetzoo.data import catalog
from jetzoo.leaderboard import evaluators as E
from jetzoo.leaderboard import submission
from jetzoo.leaderboard.backbones import load_model
from jetzoo.leaderboard.cache import EmbeddingCache
from jetzoo.leaderboard.errors import SubmissionError
from jetzoo.leaderboard.schema import load_result
from jetzoo.leaderboard.scoring import combine_seeds
from jetzoo.leaderboard.submission import RunSettings, run_task, submit
from jetzoo.leaderboard.task_data import resolve_dataset, synthetic_task_data
from jetzoo.leaderboard.tasks import (
    TASKS_DIR,
    TIER_SETTINGS,
    TaskError,
    TaskSkipped,
    load_task,
    load_tasks,
    parse_task,
)
from jetzoo.models.zoo import save_pretrained
from jetzoo.utils.io import sha256_file

BASE = {
    "name": "t",
    "family": "jetnet",
    "dataset": "jetnet-sample",
    "seed": 0,
    "kind": "binary",
    "classes": ["q", "g", "t"],
    "signal": ["t"],
    "evaluations": ["knn", "linear", "supervised"],
    "metrics": ["accuracy", "auc"],
}


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return create_backbone("jbot-s", embed_dim=16, depth=1, dropout=0.0).eval()


def _seed(command: str) -> str:
    return command.split("--seed ")[1].split()[0]


def test_repository_tasks_have_tiers_and_main_scores() -> None:
    tasks = {t.name: t for t in load_tasks()}
    assert tasks["jetnet-5class"].main_score == "knn/accuracy"
    assert tasks["top-tagging"].main_score == "knn/auc"
    assert tasks["anomaly-qcd"].main_score == "anomaly-knn/auc[union]"
    for t in tasks.values():
        assert t.file_sha256 and len(t.file_sha256) == 64
        bench = "rs3l-bench-78k" if t.family == "rs3l" else "jetnet-bench-220k"
        assert t.for_tier("quick").dataset.endswith("-sample")
        std, paper = t.for_tier("standard"), t.for_tier("paper")
        if t.group == "generator-settings":  # held-out jets of another generator setting
            assert std.dataset == paper.dataset and std.dataset != bench
            spec = catalog.get(std.dataset)
            assert "never used for pre-training" in spec.description
            mixed = catalog.get(catalog.MIXTURE).components
            assert std.dataset not in mixed
            assert _seed(spec.command) not in {_seed(catalog.get(c).command) for c in mixed}
        else:
            assert std.dataset == paper.dataset == bench
        if t.name in ("rs3l-gluon-tagging", "rs3l-tau-tagging"):  # the RS3L paper's Fig. 6
            assert std.settings["label_fractions"] == [0.01, 0.03, 0.1, 1.0]
            assert std.settings["lora_rank"] == paper.settings["lora_rank"] == 1
        else:
            assert std.settings["label_fractions"] == [0.01, 0.1, 1.0]
        assert std.settings["seeds"] == [0, 1, 2] and std.settings["max_jets"] is None
        # the paper tier is jBOT's LLRD protocol
        assert paper.settings["decays"] == [0.6, 0.65, 0.7, 0.75, 0.8]
        assert paper.settings["base_lrs"] == [4e-5, 8e-5, 2e-4, 4e-4, 8e-4, 2e-3]
        assert paper.settings["max_epochs"] == 100 and paper.settings["batch_size"] == 1024
    five = tasks["jetnet-5class"].for_tier("standard")
    assert tuple(five.split) == (0.55, 0.10, 0.35)


def test_benchmark_scale_of_the_standard_tier() -> None:
    """The standard JetNet-like set: >= 50k test jets (>= 10k per class), >= 100k kNN
    references and labelled jets (the split's expected sizes from the pinned set)."""
    spec = catalog.get("jetnet-bench-220k")
    split = load_task(TASKS_DIR / "jetnet-5class.yaml").for_tier("standard").split
    n_train, n_test = spec.n_jets * split[0], spec.n_jets * split[2]
    assert n_test >= 50_000 and n_test / 5 >= 10_000 and n_train >= 100_000
    assert "--seed 101" in spec.command and len(spec.sha256) == 64
    rs3l = catalog.get("rs3l-bench-78k")
    assert rs3l.n_jets >= 75_000


def test_tier_settings_precedence() -> None:
    raw = {
        **BASE,
        "settings": {"bootstrap": 7},
        "tiers": {
            "quick": {"settings": {"max_epochs": 2}, "split": [0.6, 0.2, 0.2]},
            "standard": {"dataset": "elsewhere"},
        },
    }
    task = parse_task(raw)
    quick = task.for_tier("quick")
    assert quick.settings["bootstrap"] == 7  # the task's own setting wins over the tier's 20
    assert quick.settings["max_epochs"] == 2  # the tier block of the file wins over both
    assert quick.settings["max_jets"] == TIER_SETTINGS["quick"]["max_jets"]
    assert quick.split == (0.6, 0.2, 0.2) and quick.dataset == "jetnet-sample"
    assert task.for_tier("standard").dataset == "elsewhere"
    with pytest.raises(TaskError, match="unknown tier 'huge'"):
        task.for_tier("huge")
    with pytest.raises(TaskError, match="field 'tiers'"):
        parse_task({**BASE, "tiers": {"huge": {}}})
    with pytest.raises(TaskError, match=r"field 'tiers.quick.settings.seeds'.*integers"):
        parse_task({**BASE, "tiers": {"quick": {"settings": {"seeds": [0.5]}}}})
    with pytest.raises(TaskError, match="field 'main_score'"):
        parse_task({**BASE, "main_score": "anomaly-knn/auc"})
    assert parse_task({**BASE, "main_score": "supervised-10%/auc"}).main_metric == "auc"
    assert parse_task({**BASE, "split": "published"}).split == "published"
    # open class lists: any class names parse; the dataset decides at load time
    jc = parse_task({**BASE, "classes": ["qcd", "tbqq"], "signal": ["tbqq"]})
    with pytest.raises(TaskSkipped, match="has no class 'qcd'"):
        from jetzoo.leaderboard.task_data import load_task_data

        load_task_data(jc)


def test_combine_seeds_is_mean_and_sample_std() -> None:
    rows = {
        s: [
            {"evaluation": "e", "metric": "accuracy", "value": v, "spread": 0.01 * (s + 1), "n": 10}
        ]
        for s, v in ((0, 0.5), (1, 0.6), (2, 0.7))
    }
    [row] = combine_seeds(rows)
    assert row["value"] == pytest.approx(0.6) and row["seed_std"] == pytest.approx(0.1)
    assert row["spread"] == pytest.approx(0.02) and row["per_seed"] == [0.5, 0.6, 0.7]
    assert row["seeds"] == [0, 1, 2]


def test_seeded_finetuning_records_every_seed() -> None:
    task = parse_task(
        {
            **BASE,
            "evaluations": ["supervised"],
            "settings": {
                "label_fractions": [1.0],
                "seeds": [0, 1],
                "max_epochs": 1,
                "bootstrap": 5,
            },
        }
    )
    data = synthetic_task_data(task, n_per_class=30)
    res = run_task(tiny(), task, RunSettings(accelerator="cpu", quick=True), data=data)
    acc = next(r for r in res.rows if r["metric"] == "accuracy")
    assert acc["evaluation"] == "supervised-100%" and acc["seeds"] == [0, 1]
    assert acc["value"] == pytest.approx(np.mean(acc["per_seed"]))
    assert acc["seed_std"] == pytest.approx(np.std(acc["per_seed"], ddof=1))
    assert acc["baseline"] is True


def test_a_new_evaluation_is_one_registered_class(monkeypatch) -> None:
    class Constant(E.Evaluator):
        name, label, order, kinds = "constant", "always 0.5", 50, E.CLASSIFICATION

        def run(self, ctx, seed):
            n = len(ctx.data.test["label"])
            return [E.EvalOutput(self.name, torch.full((n, 2), 0.5, dtype=torch.float64))]

    monkeypatch.setattr(E, "EVALUATORS", dict(E.EVALUATORS))
    monkeypatch.setattr(submission, "EVALUATORS", E.EVALUATORS)
    monkeypatch.setattr("jetzoo.leaderboard.tasks.EVALUATORS", E.EVALUATORS, raising=False)
    E.register_evaluator(Constant)
    task = parse_task(
        {
            **BASE,
            "evaluations": ["constant"],
            "main_score": "constant/auc",
            "settings": {"bootstrap": 3},
        }
    )
    res = run_task(
        tiny(),
        task,
        RunSettings(accelerator="cpu", quick=True),
        data=synthetic_task_data(task, n_per_class=20),
    )
    assert {(r["evaluation"], r["metric"]): r["value"] for r in res.rows}[
        ("constant", "auc")
    ] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="registered twice"):
        E.register_evaluator(Constant)
    assert E.evaluator_of("finetune-llrd-10%").name == "finetune-llrd"


def test_embedding_cache_embeds_each_row_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute(pos: torch.Tensor) -> torch.Tensor:
        calls.append(len(pos))
        return rows[pos].double()[:, None] * 2

    cache = EmbeddingCache(tmp_path)
    key = ("a" * 64, "b" * 64, "split", "test", "embed")
    rows = torch.tensor([5, 1, 9])
    np.testing.assert_array_equal(cache.get(key, rows, compute).numpy()[:, 0], [10, 2, 18])
    rows = torch.tensor([9, 3, 5, 1])
    np.testing.assert_array_equal(cache.get(key, rows, compute).numpy()[:, 0], [18, 6, 10, 2])
    assert calls == [3, 1]  # only row 3 was new
    again = EmbeddingCache(tmp_path)  # from disk, a new process
    rows = torch.tensor([3, 9])
    np.testing.assert_array_equal(again.get(key, rows, compute).numpy()[:, 0], [6, 18])
    assert calls == [3, 1] and again.computed == 0
    assert len(list(tmp_path.rglob("*.npz"))) == 1


def test_submit_merges_skips_and_caches(tmp_path: Path, monkeypatch, embedded_rows) -> None:
    """The real quick tier on the embedded sample: a second submit finds everything scored
    (no jet embedded, nothing rewritten); a new evaluation is merged into the same file; the
    cache's jets are shared between tasks."""
    model_dir = save_pretrained(tiny(), tmp_path / "tiny", model_name="tiny")
    out, cache = tmp_path / "store", tmp_path / "cache"
    kwargs = dict(tier="quick", out=out, cache_dir=cache, accelerator="cpu", progress=False)
    computed = embedded_rows
    paths = submit(model_dir, ["top-tagging", "jetnet-5class"], evaluations=["knn"], **kwargs)
    assert sorted(p.name for p in paths) == ["jetnet-5class.json", "top-tagging.json"]
    identity = load_model(model_dir)[1].identity_sha256
    assert all(p.parent == out / "tiny" / identity[:12] for p in paths)
    n_first = sum(computed)
    assert n_first > 0
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    computed.clear()
    assert submit(model_dir, ["top-tagging", "jetnet-5class"], evaluations=["knn"], **kwargs) == []
    assert computed == [] and all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    # a run scored on other bytes than the set's pin is not "already scored" (a re-pinned set)
    pin = type("Pin", (), {"sha256": "0" * 64})
    with monkeypatch.context() as m:
        m.setattr(submission, "catalog", type("Catalog", (), {"CATALOG": {"jetnet-sample": pin}}))
        rescored = submit(model_dir, ["top-tagging"], evaluations=["knn"], **kwargs)
    assert rescored == [out / "tiny" / identity[:12] / "top-tagging.json"]
    # a new evaluation is merged: its rows join the knn rows; its embeddings are cached
    computed.clear()
    [path] = submit(model_dir, ["top-tagging"], evaluations=["linear"], **kwargs)
    assert sum(computed) == 0
    result, roc = load_result(path)
    run = result["runs"]["quick"]
    assert {r["evaluation"] for r in run["results"]} == {"knn", "linear"}
    assert {k.split("|")[1] for k in roc} == {"knn", "linear"}
    # other --set settings do not silently replace the tier's knn rows; --force replaces them
    # and keeps the linear rows (the linear probe does not read knn_k); rescoring with --force
    # keeps one row per metric
    with pytest.raises(SubmissionError, match=r"losing its rows of knn;.*--force"):
        submit(model_dir, ["top-tagging"], evaluations=["knn"], overrides={"knn_k": 5}, **kwargs)
    [path] = submit(
        model_dir,
        ["top-tagging"],
        evaluations=["knn"],
        overrides={"knn_k": 5},
        force=True,
        **kwargs,
    )
    run = load_result(path)[0]["runs"]["quick"]
    assert {r["evaluation"] for r in run["results"]} == {"knn", "linear"}
    assert run["settings"]["knn_k"] == 5 and run["overrides"] == {"knn_k": 5}
    [path] = submit(
        model_dir,
        ["top-tagging"],
        evaluations=["knn"],
        overrides={"knn_k": 5},
        force=True,
        **kwargs,
    )
    rows = load_result(path)[0]["runs"]["quick"]["results"]
    assert len(rows) == len({(r["evaluation"], r["metric"]) for r in rows})


def test_catalog_names_the_command_of_a_missing_set(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("JETZOO_DATA", str(tmp_path))
    with pytest.raises(
        catalog.DatasetMissing,
        match=r"220,000 jets, about \d+ min on 2 workers\): make it with `jetzoo data make "
        r"jetnet-bench-220k`, which runs `jetzoo generate jetnet .*--seed 101",
    ):
        catalog.locate("jetnet-bench-220k")
    task = load_task(TASKS_DIR / "top-tagging.yaml").for_tier("standard")
    with pytest.raises(TaskSkipped, match="jetnet-bench-220k.*jetzoo data make") as err:
        resolve_dataset(task)
    assert err.value.dataset == "jetnet-bench-220k"
    # a folder with other bytes than the pinned set is refused
    fake = tmp_path / "jetnet-bench-220k"
    fake.mkdir()
    (fake / "shard-00000.h5").write_bytes(b"jets")
    (fake / "manifest.json").write_text(
        json.dumps(
            {"shards": [{"file": "shard-00000.h5", "sha256": sha256_file(fake / "shard-00000.h5")}]}
        )
    )
    with pytest.raises(catalog.DataError, match="differs from the pinned"):
        catalog.locate("jetnet-bench-220k")
    assert catalog.locate("jetnet-sample") == catalog.EMBEDDED
    with pytest.raises(catalog.DataError, match="unknown dataset 'nope'"):
        catalog.get("nope")
