"""A user's downstream work: embed a dataset, fine-tune a zoo backbone on few labels and keep
the classifier, and the bad inputs of those commands (one error naming the file and the field,
nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from jetzoo import JetZoo
from jetzoo.cli import main as cli_main
from jetzoo.data import JetDataset, sample_path
from jetzoo.models.classifier import JetClassifier

FAST = ["data.label_fraction=0.1", "trainer.max_epochs=2", "--no-progress"]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_embed_writes_every_jet_with_labels_and_jet_features(tmp_path: Path):
    model = JetZoo.from_pretrained("jbot-s")
    ds = JetDataset(sample_path())
    assert (
        cli_main(
            [
                "embed",
                "jbot-s",
                str(sample_path()),
                "--out",
                str(tmp_path / "e.h5"),
                "--batch-size",
                "700",
                "--no-progress",
            ]
        )
        == 0
    )
    with h5py.File(tmp_path / "e.h5") as f:
        assert f["embedding"].shape == (len(ds), 32) and f["label"].shape == (len(ds),)
        rows = np.array([0, 699, 700, 9999])
        want = model.embed(ds.get_batch(rows)).detach().numpy()
        assert np.abs(f["embedding"][rows] - want).max() < 1e-5
        np.testing.assert_array_equal(f["label"][()], ds.labels)
        assert json.loads(f.attrs["classes"]) == list(ds.class_names)
        assert f.attrs["weights_sha256"] == model.pretrained_cfg["weights_sha256"]
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    assert (
        cli_main(
            [
                "embed",
                "jbot-s",
                str(sample_path()),
                "--out",
                str(tmp_path / "e.parquet"),
                "--no-progress",
            ]
        )
        == 0
    )
    frame = pd.read_parquet(tmp_path / "e.parquet")
    assert len(frame) == len(ds) and list(frame.columns[:2]) == ["emb_000", "emb_001"]
    assert (frame["class"].to_numpy() == np.asarray(ds.class_names)[ds.labels]).all()


def test_embed_refuses_bad_output_and_data(tmp_path: Path, capsys):
    assert cli_main(["embed", "jbot-s", str(sample_path()), "--out", str(tmp_path / "e.csv")]) == 1
    assert "e.csv: write .h5 or .parquet" in capsys.readouterr().err
    assert cli_main(["embed", "rs3l", str(sample_path()), "--out", str(tmp_path / "e.h5")]) == 1
    assert "reads 'rs3l'" in capsys.readouterr().err
    assert (
        cli_main(["embed", "jbot-s", str(tmp_path / "nothing"), "--out", str(tmp_path / "e.h5")])
        == 1
    )
    assert str(tmp_path / "nothing") in capsys.readouterr().err
    assert _files(tmp_path) == []


def test_finetune_saves_a_classifier_that_loads_and_predicts(tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert cli_main(["finetune", "llrd", f"output.dir={run}", *FAST]) == 0
    assert "test accuracy" in capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["classes"] == ["q", "g", "t", "w", "z"] and summary["n_train"] == 799
    clf = JetZoo.from_pretrained(run / "classifier")
    assert isinstance(clf, JetClassifier) and clf.classes == summary["classes"]
    batch = JetDataset(sample_path()).get_batch(range(64))
    proba = clf.predict(batch)
    assert proba.shape == (64, 5) and torch.allclose(proba.sum(1), torch.ones(64))
    config = json.loads((run / "classifier" / "config.json").read_text())
    card = (run / "classifier" / "README.md").read_text()
    assert config["recipe"]["mode"] == "llrd" and config["dataset"]["n_train"] == 799
    assert f"{summary['test']['accuracy']:.4f}"[:5] in card  # the test score is on the card
    # a second run into the same folder is refused, nothing changed
    before = (run / "summary.json").read_bytes()
    assert cli_main(["finetune", "llrd", f"output.dir={run}", *FAST]) == 1
    assert "already holds classifier" in capsys.readouterr().err
    assert (run / "summary.json").read_bytes() == before


def test_lora_classifier_is_saved_with_its_adapters_merged(tmp_path: Path):
    """The saved classifier (plain weights) predicts what the trained adapters predicted."""
    from jetzoo.leaderboard.finetune import FineTuneSettings, finetune, merge_lora
    from jetzoo.leaderboard.task_data import synthetic_task_data
    from jetzoo.leaderboard.tasks import parse_task

    task = parse_task(
        {
            "name": "t",
            "family": "jetnet",
            "dataset": "jetnet-sample",
            "seed": 0,
            "kind": "multiclass",
            "classes": ["q", "g", "t"],
            "evaluations": ["finetune-lora"],
            "metrics": ["accuracy"],
        }
    )
    data = synthetic_task_data(task, n_per_class=30, seed=0)
    settings = FineTuneSettings(
        mode="lora", lora_rank=2, max_epochs=3, base_lrs=(3e-2,), accelerator="cpu"
    )
    result = finetune(
        JetZoo.from_pretrained("jbot-s"),
        data.train,
        data.val,
        data.test,
        3,
        settings,
        classes=["q", "g", "t"],
    )
    lora_out = result.model(data.test).softmax(-1)
    plain = merge_lora(result.model)
    assert not any("lora" in k for k in plain.state_dict())
    assert torch.allclose(plain(data.test).softmax(-1), lora_out, atol=1e-5)
    before = JetZoo.from_pretrained("jbot-s").state_dict()["blocks.0.attn.qkv.weight"]
    assert not torch.equal(plain.backbone.state_dict()["blocks.0.attn.qkv.weight"], before)


def _two_class_sample(tmp_path: Path, classes: set[str]) -> Path:
    import shutil

    from jetzoo.data.shards import dataset_sha256

    folder = tmp_path / "jets"
    shutil.copytree(sample_path(), folder, ignore=shutil.ignore_patterns("rs3l"))
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in [s for s in manifest["shards"] if s["class"] not in classes]:
        (folder / entry["file"]).unlink()
    manifest["shards"] = [s for s in manifest["shards"] if s["class"] in classes]
    manifest["dataset_sha256"] = dataset_sha256([s["sha256"] for s in manifest["shards"]])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize(
    "extra,message",
    [
        (["data.label_fraction=0"], "data.label_fraction: must be in (0, 1], got 0"),
        (["data.label_fraction=1.5"], "data.label_fraction: must be in (0, 1], got 1.5"),
        (
            ["mode=lora", "optimizer.lora_targets=[nope]"],
            "optimizer.lora_targets: no nn.Linear named ['nope']",
        ),
        (["mode=sgd"], "mode: 'sgd' is not one of llrd, lora, full, linear"),
        (["init_from=null"], "init_from: null trains from scratch and needs backbone: NAME"),
        (["init_from=/nowhere/model"], "init_from: /nowhere/model: folder not found"),
        (["data.classes=[q, x]"], "data: "),
    ],
)
def test_finetune_bad_input_names_the_field_and_writes_nothing(
    tmp_path: Path, capsys, extra, message
):
    rc = cli_main(
        [
            "finetune",
            "llrd",
            f"output.dir={tmp_path / 'run'}",
            *extra,
            "trainer.max_epochs=1",
            "--no-progress",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("jetzoo finetune: error: ") and "llrd.yaml" in err and message in err
    assert not (tmp_path / "run").exists()


def test_finetune_refuses_a_classifier_of_other_classes_and_one_class_data(tmp_path: Path, capsys):
    run = tmp_path / "first"
    assert cli_main(["finetune", "llrd", f"output.dir={run}", *FAST]) == 0
    rc = cli_main(
        [
            "finetune",
            "llrd",
            f"init_from={run / 'classifier'}",
            "data.classes=[q, g]",
            f"output.dir={tmp_path / 'second'}",
            *FAST,
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "data.classes: ['q', 'g'] differ from the classes of the classifier" in err
    assert "'backbone.classes'" in err and not (tmp_path / "second").exists()
    one = _two_class_sample(tmp_path, {"q"})
    assert (
        cli_main(["finetune", "llrd", f"data.path={one}", f"output.dir={tmp_path / 'x'}", *FAST])
        == 1
    )
    err = capsys.readouterr().err
    assert "field 'classes': the train split of" in err
    assert "holds no jets of class 'g', 't', 'w', 'z' (1600 jets of ['q'])" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_pretrained_llrd_beats_the_same_recipe_from_random_weights(tmp_path: Path):
    """The bar on the embedded sample: jbot-s fine-tuned with LLRD on 10% of the labels (799
    jets) beats the same recipe from random weights for each of 3 seeds (10 epochs here;
    benchmarks/finetune_sample.py runs the recipe's 20)."""
    from jetzoo.recipes.finetune import finetune_run

    accuracy = {}
    for seed in (0, 1, 2):
        for init in ("init_from=jbot-s", "init_from=null"):
            out = finetune_run(
                "llrd",
                [
                    init,
                    "backbone=jbot-s",
                    f"seed={seed}",
                    "data.label_fraction=0.1",
                    "trainer.max_epochs=10",
                    f"output.dir={tmp_path / f'{seed}-{init}'}",
                ],
                progress=False,
            )
            accuracy[seed, init] = json.loads((out / "summary.json").read_text())["test"][
                "accuracy"
            ]
    gaps = [accuracy[s, "init_from=jbot-s"] - accuracy[s, "init_from=null"] for s in (0, 1, 2)]
    assert min(gaps) > 0.05, accuracy  # 1,000 test jets: a bootstrap spread of ~0.016


def test_finetune_in_sittings_resumes_to_the_end(tmp_path: Path, capsys):
    run = tmp_path / "run"
    args = [
        "finetune",
        "llrd",
        f"output.dir={run}",
        "data.label_fraction=0.1",
        "trainer.max_epochs=3",
        "--no-progress",
    ]
    assert cli_main([*args, "--sitting", "0.0001"]) == 0  # ends after the first epoch
    assert "paused (grid point 1 of 1 paused after epoch 1 of 3)" in capsys.readouterr().out
    assert json.loads((run / "summary.json").read_text())["status"] == "paused"
    assert not (run / "classifier").exists()
    assert (run / "checkpoints" / "point-0" / "last.ckpt").is_file()
    assert cli_main(args) == 1  # the folder holds a run: --resume or --overwrite
    assert "pass --resume, --overwrite" in capsys.readouterr().err
    assert cli_main([*args[:-2], "trainer.max_epochs=4", "--resume", "--no-progress"]) == 1
    assert "the recipe differs from" in capsys.readouterr().err
    assert cli_main([*args, "--resume"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and isinstance(
        JetZoo.from_pretrained(run / "classifier"), JetClassifier
    )
