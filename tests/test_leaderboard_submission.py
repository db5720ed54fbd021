"""Submission: run_task numbers, the result file, and refusals of mismatched hashes / tampering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jetzoo import create_backbone
from jetzoo.cli import main as cli_main
from jetzoo.leaderboard import metrics as M
from jetzoo.leaderboard import submission
from jetzoo.leaderboard.backbones import load_model, verify_dataset
from jetzoo.leaderboard.embeddings import extract
from jetzoo.leaderboard.errors import SubmissionError
from jetzoo.leaderboard.probes import linear_probe
from jetzoo.leaderboard.schema import ResultFileError, load_result, write_result
from jetzoo.leaderboard.submission import RunSettings, run_task, submit
from jetzoo.leaderboard.task_data import load_task_data, resolve_dataset, synthetic_task_data
from jetzoo.leaderboard.tasks import TASKS_DIR, TaskSkipped, load_task, parse_task
from jetzoo.utils.io import sha256_file


def tiny():
    torch.manual_seed(0)
    return create_backbone("jbot-s", embed_dim=16, depth=1, dropout=0.0).eval()


@pytest.fixture()
def tasks_dir(tmp_path: Path, mini_top_yaml, mini_anomaly_yaml) -> Path:
    d = tmp_path / "tasks"
    d.mkdir()
    (d / "mini-top.yaml").write_text(
        mini_top_yaml(
            "knn",
            "linear",
            "finetune-llrd",
            "supervised",
            metrics="accuracy, auc, eff_s@eff_b=0.1, rej_b@eff_s=0.5",
            settings="label_fractions: [1.0], bootstrap: 10",
        )
    )
    (d / "mini-anomaly.yaml").write_text(mini_anomaly_yaml)
    return d


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    from jetzoo.models.zoo import save_pretrained

    return save_pretrained(tiny(), tmp_path / "tiny-model", model_name="jbot-s")


@pytest.fixture()
def synthetic(monkeypatch):
    """Tasks read the synthetic data instead of the sample."""
    monkeypatch.setattr(
        submission, "load_task_data", lambda task: synthetic_task_data(task, n_per_class=40, seed=0)
    )


def test_run_task_rows_match_direct_computation(tasks_dir: Path):
    task = load_task(tasks_dir / "mini-top.yaml")
    data = synthetic_task_data(task, n_per_class=40, seed=0)
    backbone = tiny()
    res = run_task(backbone, task, RunSettings(accelerator="cpu", quick=True), data=data)
    rows = {(r["evaluation"], r["metric"]): r for r in res.rows}
    n_test = len(data.test["label"])
    assert {e for e, _ in rows} == {"knn", "linear", "finetune-llrd-100%", "supervised-100%"}
    assert all(r["n"] == n_test for r in res.rows)
    # recompute the linear probe by hand: binary target t vs (q, g)
    target = lambda y: (y == 2).long()  # noqa: E731
    emb_tr, _ = extract(backbone, data.train, progress=False)
    emb_te, _ = extract(backbone, data.test, progress=False)
    probe = linear_probe(emb_tr, target(data.train["label"]), emb_te, seed=0)
    y = target(data.test["label"])
    assert rows[("linear", "accuracy")]["value"] == pytest.approx(M.accuracy(probe.scores, y))
    assert rows[("linear", "auc")]["value"] == pytest.approx(M.binary_auc(probe.scores[:, 1], y))
    assert rows[("linear", "eff_s@eff_b=0.1")]["value"] == pytest.approx(
        M.signal_efficiency_at(probe.scores[:, 1], y, 0.1)
    )
    # spread = std over the task file's 10 class-stratified bootstrap resamples (the task's own
    # settings win over the quick tier's 20; seed = task seed)
    boot = M.bootstrap(
        lambda p, t: M.accuracy(p, t, 2),
        probe.scores.double(),
        y,
        n_resamples=10,
        seed=0,
        stratify=y,
    )
    assert rows[("knn", "accuracy")]["spread"] > 0
    assert rows[("linear", "accuracy")]["spread"] == pytest.approx(boot.spread)
    assert rows[("supervised-100%", "accuracy")]["baseline"] is True
    assert rows[("finetune-llrd-100%", "accuracy")]["baseline"] is False
    fpr, tpr = res.roc["quick|linear|t"]
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(tpr) >= 0)


def test_anomaly_task_scores_signals_and_skips_ae(tasks_dir: Path):
    task = load_task(tasks_dir / "mini-anomaly.yaml")
    data = synthetic_task_data(task, n_per_class=40, seed=0)
    res = run_task(tiny(), task, RunSettings(accelerator="cpu", quick=True), data=data)
    metrics = {(r["evaluation"], r["metric"]) for r in res.rows}
    assert metrics == {
        (e, f"auc[{s}]") for e in ("anomaly-knn", "anomaly-mahalanobis") for s in ("w", "union")
    }
    n_bkg = int(torch.isin(data.test["label"], torch.tensor([0, 1])).sum())
    n = {r["metric"]: r["n"] for r in res.rows if r["evaluation"] == "anomaly-knn"}
    assert n["auc[w]"] == n_bkg + int((data.test["label"] == 3).sum())
    assert n["auc[union]"] == len(data.test["label"])
    assert "reconstruction_score" in res.skipped["mini-anomaly/anomaly-ae"]


def test_submit_writes_valid_result_file(
    tmp_path: Path, tasks_dir: Path, model_dir: Path, synthetic
):
    out = tmp_path / "results"
    sha = sha256_file(model_dir / "model.safetensors")
    paths = submit(
        model_dir,
        ["mini-top"],
        quick=True,
        out=out,
        tasks_dir=tasks_dir,
        accelerator="cpu",
        progress=False,
        cache_dir=False,
    )
    identity = load_model(model_dir)[1].identity_sha256  # weights + architecture config
    assert paths == [out / "tiny-model" / identity[:12] / "mini-top.json"]
    result, roc = load_result(paths[0])
    assert result["model"]["weights_sha256"] == sha
    assert result["model"]["identity_sha256"] == identity
    assert result["model"]["id"] == "tiny-model" and list(result["runs"]) == ["quick"]
    run = result["runs"]["quick"]
    # the code that scored it: its git commit in a checkout (a wheel records none)
    checkout = (Path(submission.__file__).resolve().parents[2] / ".git").exists()
    commit = run["jetzoo_commit"]
    assert (commit is not None) == checkout
    assert commit is None or len(commit.removesuffix("-dirty")) == 40
    assert run["dataset"]["sha256"] == "0" * 64
    assert (
        run["task_sha256"] == hashlib.sha256((tasks_dir / "mini-top.yaml").read_bytes()).hexdigest()
    )
    assert run["settings"]["max_jets"] == 600 and run["settings"]["label_fractions"] == [1.0]
    assert result["task"]["main_score"] == "knn/auc"
    assert set(roc) == {c["key"] for c in result["roc"]["curves"]}
    assert paths[0].with_name("mini-top.roc.npz").is_file()


def test_tampered_result_file_is_refused(tmp_path: Path):
    row = {"evaluation": "knn", "metric": "auc", "value": 0.8, "spread": 0.01, "n": 100}
    run = {
        "task_sha256": "c" * 64,
        "settings": {},
        "dataset": {"sha256": "b" * 64},
        "jetzoo_version": "0.1.0",
        "date": "2026-01-01T00:00:00+00:00",
        "results": [row],
    }
    obj = {
        "model": {
            "id": "m",
            "revision": "local",
            "weights_sha256": "a" * 64,
            "arch": "x",
            "family": "jetnet",
            "num_features": 16,
        },
        "task": {"name": "t", "kind": "binary", "family": "jetnet", "main_score": "knn/auc"},
        "runs": {"quick": run},
    }
    roc = {"quick|knn|s": (np.array([0, 0.5, 1.0]), np.array([0, 0.9, 1.0]))}
    path = write_result(tmp_path / "m.json", obj, roc)
    load_result(path)
    text = path.read_text()
    path.write_text(text.replace('"value": 0.8', '"value": 0.9'))
    with pytest.raises(ResultFileError, match="field 'checksum' does not match"):
        load_result(path)
    path.write_text(text)
    data = json.loads(text)
    del data["runs"]["quick"]["results"][0]["spread"]
    path.write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match=r"m\.json: field 'runs/quick/results/0'.*'spread'"):
        load_result(path)
    path.write_text(json.dumps({**json.loads(text), "runs": {"huge": run}}))
    with pytest.raises(ResultFileError, match="runs"):
        load_result(path)
    path.write_text(text)
    side = tmp_path / "m.roc.npz"
    side.write_bytes(side.read_bytes() + b"x")
    with pytest.raises(ResultFileError, match="ROC file was changed"):
        load_result(path)
    with pytest.raises(ResultFileError, match="weights_sha256"):
        write_result(
            tmp_path / "bad.json", {**obj, "model": {**obj["model"], "weights_sha256": "xyz"}}
        )


def test_weights_hash_mismatch_is_refused(
    tmp_path: Path, tasks_dir: Path, model_dir: Path, synthetic, capsys
):
    out = tmp_path / "results"
    with pytest.raises(SubmissionError, match="weights sha256 mismatch.*--weights-sha256"):
        submit(model_dir, quick=True, out=out, tasks_dir=tasks_dir, weights_sha256="0" * 64)
    # weights changed after saving: config.json states another hash
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    rc = cli_main(
        [
            "leaderboard",
            "submit",
            str(model_dir),
            "--quick",
            "--out",
            str(out),
            "--tasks-dir",
            str(tasks_dir),
        ]
    )
    assert rc == 1
    assert "refused: weights sha256 mismatch" in capsys.readouterr().err
    assert not out.exists() or not list(out.iterdir())


def test_dataset_hash_mismatch_is_refused(tmp_path: Path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "shard-00000.h5").write_bytes(b"jets")
    shard_sha = sha256_file(d / "shard-00000.h5")
    combined = hashlib.sha256(shard_sha.encode()).hexdigest()  # sorted hashes joined by "\n"
    manifest = {
        "shards": [{"file": "shard-00000.h5", "sha256": shard_sha, "n_jets": 1}],
        "dataset_sha256": combined,
    }
    (d / "manifest.json").write_text(json.dumps(manifest))
    assert verify_dataset(d) == combined
    (d / "manifest.json").write_text(json.dumps({**manifest, "dataset_sha256": "c" * 64}))
    with pytest.raises(
        SubmissionError, match="field 'dataset_sha256' .* is not the hash of its shards"
    ):
        verify_dataset(d)
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SubmissionError, match="dataset sha256 mismatch.*--dataset-sha256"):
        verify_dataset(d, "d" * 64)
    (d / "shard-00000.h5").write_bytes(b"other jets")
    with pytest.raises(
        SubmissionError,
        match=r"shard-00000\.h5: sha256 .* differs from field 'shards\[0\]\.sha256'",
    ):
        verify_dataset(d)


def test_missing_dataset_skips_task(tmp_path: Path):
    raw = {
        "name": "x",
        "family": "jetnet",
        "dataset": "no/such/folder",
        "seed": 0,
        "kind": "multiclass",
        "classes": ["q", "g"],
        "evaluations": ["knn"],
        "metrics": ["accuracy"],
    }
    task = parse_task(raw, source=tmp_path / "x.yaml")
    with pytest.raises(
        TaskSkipped,
        match=r"dataset 'no/such/folder' not found.*jetzoo generate "
        r"jetnet",
    ):
        resolve_dataset(task)
    assert load_task(TASKS_DIR / "rs3l-darkjet.yaml").family == "rs3l"


def test_task_data_from_the_embedded_sample():
    from jetzoo.data import JetDataModule, sample_path
    from jetzoo.data.schema import class_index

    task = load_task(TASKS_DIR / "top-tagging.yaml").with_settings(max_jets=None)
    data = load_task_data(task)
    dm = JetDataModule(sample_path(), split=task.split, seed=task.seed)
    labels = dm.full_dataset.all_labels
    codes = [class_index(c) for c in ("q", "g", "t")]
    for split in ("train", "val", "test"):
        glob = np.asarray(labels[dm.split_indices[split]])
        expected = [int((glob == c).sum()) for c in codes]
        assert torch.bincount(data.split(split)["label"], minlength=3).tolist() == expected
    assert data.test["x"].shape[1:] == (30, 3) and data.test["mask"].dtype == torch.bool
    assert data.dataset_sha256 == verify_dataset(sample_path())


def test_autoencoder_reconstruction_score_row(tasks_dir: Path):
    task = load_task(tasks_dir / "mini-anomaly.yaml")
    data = synthetic_task_data(task, n_per_class=30, seed=2)
    torch.manual_seed(0)
    ae = create_backbone("ae", embed_dim=16, depth=1, dropout=0.0).eval()
    res = run_task(ae, task, RunSettings(accelerator="cpu", quick=True), data=data)
    assert not res.skipped
    rows = {(r["evaluation"], r["metric"]): r for r in res.rows}
    with torch.no_grad():
        score = ae.reconstruction_score(data.test).double()
    y = data.test["label"]
    keep = (y <= 1) | (y == 3)  # q, g background vs w
    assert rows[("anomaly-ae", "auc[w]")]["value"] == pytest.approx(
        M.binary_auc(score[keep], (y[keep] == 3).long()), abs=1e-6
    )
    assert rows[("anomaly-ae", "auc[union]")]["value"] == pytest.approx(
        M.binary_auc(score, (y >= 2).long()), abs=1e-6
    )


def test_set_overrides_apply_and_are_recorded(
    tmp_path: Path, tasks_dir: Path, model_dir: Path, synthetic
):
    """`submit --set`: the task runs with the overridden settings (one LLRD grid point = one
    'best' entry; fewer bootstrap resamples) and the result file records them."""
    out = tmp_path / "results"
    rc = cli_main(
        [
            "leaderboard",
            "submit",
            str(model_dir),
            "--tasks",
            "mini-top",
            "--tasks-dir",
            str(tasks_dir),
            "--out",
            str(out),
            "--accelerator",
            "cpu",
            "--no-cache",
            "--evaluations",
            "knn",
            "finetune-llrd",
            "supervised",
            "--set",
            "max_jets=90",
            "--set",
            "max_epochs=1",
            "--set",
            "base_lrs=[5e-4]",
            "--set",
            "decays=[0.65]",
            "--set",
            "label_fractions=[0.5]",
        ]
    )
    assert rc == 0
    [path] = (out / "tiny-model").glob("*/mini-top.json")
    result, _ = load_result(path)
    run = result["runs"]["standard"]  # the default tier
    assert run["overrides"] == {
        "max_jets": 90,
        "max_epochs": 1,
        "base_lrs": [5e-4],
        "decays": [0.65],
        "label_fractions": [0.5],
    }
    assert run["settings"]["max_epochs"] == 1 and run["settings"]["seeds"] == [0, 1, 2]
    evaluations = {r["evaluation"] for r in run["results"]}
    assert {"finetune-llrd-50%", "supervised-50%"} <= evaluations
    assert not any(e.endswith("-100%") for e in evaluations)


def test_a_study_with_other_overrides_does_not_erase_the_tier_run(
    tmp_path: Path, tasks_dir: Path, model_dir: Path, synthetic
):
    """A `--set` study on a store that holds the tier's run under other overrides is refused
    (naming the file and the rows it would lose) before anything is scored; --out keeps the
    study apart, --force replaces."""
    out = tmp_path / "results"
    kw = dict(
        out=out,
        tasks_dir=tasks_dir,
        accelerator="cpu",
        progress=False,
        cache_dir=False,
        evaluations=["knn"],
    )
    [path] = submit(model_dir, ["mini-top"], overrides={"max_jets": 90}, **kw)
    before = path.read_bytes()
    with pytest.raises(
        SubmissionError,
        match=r"mini-top.json: its standard run was scored with "
        r"--set \{'max_jets': 90\}.*losing its rows of knn.*--out",
    ):
        submit(model_dir, ["mini-top"], overrides={"max_jets": 90, "knn_k": 5}, **kw)
    assert path.read_bytes() == before
    [study] = submit(
        model_dir,
        ["mini-top"],
        **{**kw, "out": tmp_path / "study"},
        overrides={"max_jets": 90, "knn_k": 5},
    )
    assert load_result(study)[0]["runs"]["standard"]["settings"]["knn_k"] == 5
    submit(model_dir, ["mini-top"], overrides={"max_jets": 90, "knn_k": 5}, force=True, **kw)
    assert load_result(path)[0]["runs"]["standard"]["overrides"] == {"max_jets": 90, "knn_k": 5}


@pytest.mark.parametrize(
    "item, message",
    [
        ("max_epoch=3", "unknown"),
        ("max_epochs", "KEY=VALUE"),
        ("base_lrs=1e-3", "list of numbers"),
        ("knn_k=[3]", "an integer"),
        ("batch_size=0", "out of range"),
        ("max_epochs=-3", "must be >= 1"),
        ("decays=[1.5]", "<= 1"),
        ("max_jets=many", "integer or null"),
    ],
)
def test_bad_set_overrides_are_refused(item: str, message: str):
    with pytest.raises(SubmissionError, match=message):
        submission.parse_overrides([item])
    assert submission.parse_overrides(["max_jets=null", "knn_k=7"]) == {
        "max_jets": None,
        "knn_k": 7,
    }
