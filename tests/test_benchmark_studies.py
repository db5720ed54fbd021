"""benchmarks/learning_curve.py, domain_shift.py and embedding_pooling.py on the embedded sample."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from jetzoo.data import sample_path
from jetzoo.recipes.runner import train

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        f"jetzoo_bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(out: str) -> list[list[str]]:
    return [
        line.split("|")
        for line in out.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]


@pytest.mark.slow
def test_learning_curve_scores_every_epoch_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_runner import RECIPE_DIR, TINY

    run = tmp_path / "run"
    train(RECIPE_DIR / "jetclr.yaml", [*TINY, f"output.dir={run}"])
    bench = _load("learning_curve")
    png = tmp_path / "curve.png"
    assert (
        bench.main(
            [
                str(run),
                "--data",
                str(sample_path()),
                "--n",
                "500",
                "--bootstrap",
                "50",
                "--png",
                str(png),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = _rows(out)
    # epoch, jet-passes (192 per epoch, counted from the checkpoints), accuracy above chance
    assert [(int(r[1]), r[2].strip()) for r in rows] == [(1, "192"), (2, "384")]
    assert all(0.2 < float(r[3]) <= 1.0 for r in rows)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    base = [
        str(run),
        "--data",
        str(sample_path()),
        "--n",
        "500",
        "--bootstrap",
        "50",
        "--png",
        str(png),
    ]

    # a curve scored --every 2 is filled in later with --epochs: the rows merge in epoch order
    assert bench.main([*base, "--every", "2"]) == 0
    sparse = capsys.readouterr().out
    assert _rows(sparse) == rows[1:]
    (tmp_path / "sparse.md").write_text(sparse)
    assert bench.main([*base, "--epochs", "1", "--earlier", str(tmp_path / "sparse.md")]) == 0
    assert _rows(capsys.readouterr().out) == rows
    with pytest.raises(FileNotFoundError, match=r"no checkpoint for epoch\(s\) 5 .*epochs 1-2"):
        bench.main([*base, "--epochs", "2", "5"])

    # --against: the same epochs of another run (another seed), and this run minus it
    other = tmp_path / "other"
    train(RECIPE_DIR / "jetclr.yaml", [*TINY, "seed=1", f"output.dir={other}"])
    assert bench.main([str(other), *base[1:]]) == 0
    other_rows = _rows(capsys.readouterr().out)
    assert bench.main([*base, "--against", str(other)]) == 0
    mine, _, versus = capsys.readouterr().out.partition(f"run against {other} at the same epochs")
    assert _rows(mine) == rows
    versus_rows = _rows(versus)
    assert [r[2].strip() for r in versus_rows] == [r[3].strip() for r in other_rows]
    for r, m, o in zip(versus_rows, rows, other_rows):
        diff, spread = r[3].split("±")
        assert float(diff) == pytest.approx(float(m[3]) - float(o[3]), abs=1.1e-3)
        assert 0 < float(spread) < 0.1  # paired: the same query jets, two backbones
    (other / "checkpoints" / "epoch001.ckpt").unlink()
    with pytest.raises(FileNotFoundError, match=r"other/checkpoints: .*epoch\(s\) 2 "):
        bench.main([*base, "--against", str(other)])

    # a later sitting on another machine holds only its own checkpoints: the earlier rows are
    # carried over from the committed learning_curve.md, and the curve is the same
    md = tmp_path / "learning_curve.md"
    md.write_text(out)
    # a file written before 2026-12-05, whose random init had the registry's default input
    # standardisation (a backbone rebuilt from a checkpoint reported it in its config)
    with monkeypatch.context() as patch:
        patch.setattr(bench, "random_init_like", bench.default_standardisation_like)
        assert bench.main(base) == 0
    legacy_out = capsys.readouterr().out
    legacy = tmp_path / "legacy.md"
    legacy.write_text(legacy_out)
    rand_of = lambda text: float(re.search(r"random init ([\d.]+)", text)[1])  # noqa: E731
    assert rand_of(legacy_out) != rand_of(out)  # the sample's standardisation is not the default
    assert [r[:4] for r in _rows(legacy_out)] == [r[:4] for r in rows]  # same trained nets
    (run / "checkpoints" / "epoch000.ckpt").unlink()
    args = [
        str(run),
        "--data",
        str(sample_path()),
        "--n",
        "500",
        "--bootstrap",
        "50",
        "--png",
        str(png),
    ]
    assert bench.main([*args, "--earlier", str(md)]) == 0
    again = _rows(capsys.readouterr().out)
    assert again == rows
    with pytest.raises(ValueError, match="learning_curve.md: scored 500 references"):
        bench.main([*args[:4], "400", *args[5:], "--earlier", str(md)])  # other n: refused

    # the legacy file is accepted: its rows carried over, re-based on this random init
    assert bench.main([*args, "--earlier", str(legacy)]) == 0
    rebased = capsys.readouterr().out
    assert "Rows of epochs 1 are carried over" in rebased and f"{rand_of(out):.3f} here" in rebased
    carried, scored = _rows(rebased)
    assert carried[:4] == rows[0][:4] and scored == rows[1]
    diff, spread = carried[4].split("±")
    assert float(diff) == pytest.approx(float(carried[3]) - rand_of(out), abs=1.1e-3)
    assert spread.strip() == _rows(legacy_out)[0][4].split("±")[1].strip()  # scored there
    # a random init that is neither this one nor the legacy one: other jets or architecture
    (tmp_path / "other.md").write_text(
        out.replace(f"random init {rand_of(out):.3f}", "random init 0.999")
    )
    with pytest.raises(ValueError, match="its random init scored 0.999"):
        bench.main([*args, "--earlier", str(tmp_path / "other.md")])


def test_learning_curve_anomaly_auc_matches_scikit_learn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import NearestNeighbors
    from test_runner import RECIPE_DIR, TINY

    from jetzoo.data.datamodule import JetDataModule
    from jetzoo.leaderboard.embeddings import extract
    from jetzoo.recipes.checkpoints import checkpoint_backbone

    run = tmp_path / "run"
    train(RECIPE_DIR / "jetclr.yaml", [*TINY, "data.classes=[q,g]", f"output.dir={run}"])
    bench = _load("learning_curve")
    # --n above the sample's split sizes: every val q/g jet is a reference, every test jet a
    # query (and an --earlier file records those counts, not --n)
    args = [
        str(run),
        "--data",
        str(sample_path()),
        "--n",
        "100000",
        "--k",
        "10",
        "--bootstrap",
        "50",
        "--png",
        str(tmp_path / "curve.png"),
    ]
    assert bench.main([*args, "--task", "anomaly"]) == 0
    out = capsys.readouterr().out
    assert "reference jets (val, q+g only)" in out and "anomaly AUC (t+w+z vs q+g)" in out
    rows = _rows(out)
    assert [int(r[1]) for r in rows] == [1, 2]

    # the same AUC from scikit-learn: Euclidean kNN on unit-normalised embeddings
    dm = JetDataModule(sample_path())
    query = bench.take(dm, "test", 100000, 2)
    ref = bench.take(JetDataModule(sample_path(), classes=["q", "g"]), "val", 100000, 1)
    assert f"{len(ref['label'])} reference jets (val, q+g only), {len(query['label'])} " in out
    assert set(np.unique(ref["label"].numpy())) <= {dm.class_names.index(c) for c in "qg"}
    net, _ = checkpoint_backbone(run, run / "checkpoints" / "epoch001.ckpt")
    unit = [
        e / np.linalg.norm(e, axis=1, keepdims=True)
        for e in (extract(net, d, progress=False)[0].double().numpy() for d in (ref, query))
    ]
    dist = NearestNeighbors(n_neighbors=10).fit(unit[0]).kneighbors(unit[1])[0].mean(1)
    signal = ~np.isin(query["label"].numpy(), [dm.class_names.index(c) for c in "qg"])
    assert float(rows[1][3]) == pytest.approx(roc_auc_score(signal, dist), abs=1.5e-3)

    # anomaly_geometry.py on the same jets: the same AUC, its distances and the q-vs-g AUC
    # from scikit-learn
    geo = _load("anomaly_geometry")
    assert (
        geo.main(
            [str(run), "--data", str(sample_path()), "--n", "100000", "--k", "10", "--epochs", "2"]
        )
        == 0
    )
    cols = [c.strip() for c in capsys.readouterr().out.splitlines()[-1].split("|")[1:-1]]
    assert cols[0] == "2" and cols[1] == rows[1][3].strip()
    bg = ~signal
    assert float(cols[2]) == pytest.approx(dist[bg].mean(), abs=6e-4)
    assert float(cols[3]) == pytest.approx(dist[signal].mean(), abs=6e-4)
    assert float(cols[4]) == pytest.approx(dist[signal].mean() - dist[bg].mean(), abs=1.1e-3)
    q, g = (dm.class_names.index(c) for c in "qg")
    d_q, d_g = (
        NearestNeighbors(n_neighbors=10)
        .fit(unit[0][ref["label"].numpy() == c])
        .kneighbors(unit[1][bg])[0]
        .mean(1)
        for c in (q, g)
    )
    is_g = query["label"].numpy()[bg] == g
    assert float(cols[-1]) == pytest.approx(roc_auc_score(is_g, d_q - d_g), abs=1.5e-3)
    with pytest.raises(FileNotFoundError, match="epoch004.ckpt"):
        geo.main([str(run), "--data", str(sample_path()), "--epochs", "5"])

    # an anomaly curve does not carry over into a kNN-accuracy curve, nor the reverse
    md = tmp_path / "learning_curve_anomaly.md"
    md.write_text(out)
    with pytest.raises(ValueError, match=r"\(task anomaly\); .* \(task knn\)"):
        bench.main([*args, "--earlier", str(md)])
    assert bench.main([*args, "--task", "anomaly", "--earlier", str(md)]) == 0


def test_domain_shift_prints_the_commands_then_scores_four_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("domain_shift")
    root = tmp_path / "shift"
    assert bench.main(["--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "--preset jetnet --seed 301" in out and f"--out {root / 'default'}" in out
    root.mkdir()
    for name in bench.SETS:  # four copies of one set: one classifier, four equal scores
        (root / name).symlink_to(sample_path(), target_is_directory=True)
    assert bench.main(["--root", str(root), "--epochs", "1"]) == 0
    rows = [
        line.split("|")
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip() in bench.SETS
    ]
    assert [r[1].strip() for r in rows] == list(bench.SETS)
    accuracies = {float(r[4]) for r in rows}
    assert len(accuracies) == 1 and 0.2 < accuracies.pop() <= 1.0
    assert all(r[6].strip() == "+0.000" for r in rows)


def test_embedding_pooling_mean_excludes_padding_and_cls_is_embed() -> None:
    import torch
    import torch.nn.functional as F

    from jetzoo import create_backbone

    bench = _load("embedding_pooling")
    torch.manual_seed(0)
    model = create_backbone("jbot-s").eval()
    x = torch.rand(3, 6, 3) * torch.tensor([0.4, 0.4, 0.3]) + torch.tensor([-0.2, -0.2, 0.01])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]]).bool()
    batch = {"x": x, "mask": mask}
    with torch.no_grad():
        pools = bench.split_poolings(bench.pooled(model, batch))
        out = model(x, mask)
        # [CLS] is the leaderboard's embedding
        torch.testing.assert_close(pools["cls"], model.embed(batch), rtol=0, atol=0)
        for i, n in enumerate((6, 3, 1)):  # the mean over the real particles only
            torch.testing.assert_close(pools["mean"][i], out.tokens[i, :n].mean(dim=0))
        # padded particles do not change the mean: the same jets with their padding cut off
        short = model(x[1:2, :3], mask[1:2, :3]).tokens[0].mean(dim=0)
        torch.testing.assert_close(pools["mean"][1], short, rtol=1e-5, atol=1e-6)
    cat = pools["cls+mean"]
    assert cat.shape == (3, 64)
    torch.testing.assert_close(cat[:, :32].norm(dim=1), torch.ones(3))
    torch.testing.assert_close(cat[:, 32:], F.normalize(pools["mean"], dim=-1))


def test_embedding_pooling_table_on_the_quick_tier(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("embedding_pooling")
    assert bench.main(["--models", "jbot-s", "--tier", "quick", "--bootstrap", "20"]) == 0
    rows = [
        line.split("|")
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| jbot-s")
    ]
    assert len(rows) == 1
    cls, mean, both = (float(v) for v in rows[0][2:5])
    # 5 classes: every pooling of the trained jbot-s is far above chance on the sample
    assert min(cls, mean, both) > 0.35
    # the differences printed are the columns' differences
    assert float(rows[0][5].split("±")[0]) == pytest.approx(mean - cls, abs=2e-4)
    assert float(rows[0][6].split("±")[0]) == pytest.approx(both - cls, abs=2e-4)
