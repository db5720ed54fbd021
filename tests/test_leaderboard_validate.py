"""`jetzoo leaderboard validate`: what a result file must satisfy to join the store by a pull
request, run over the repository's own store and over edited copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jetzoo.cli import main as cli_main
from jetzoo.leaderboard.schema import load_result, result_path, write_result
from jetzoo.leaderboard.validate import problems

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "leaderboard" / "results"


def _shipped_result(task: str = "top-tagging") -> Path:
    sha = json.loads((ROOT / "jetzoo/weights/jbot-s/config.json").read_text())["weights_sha256"]
    for path in sorted(STORE.glob(f"jbot-s/*/{task}.json")):
        if json.loads(path.read_text())["model"]["weights_sha256"] == sha:
            return path
    raise AssertionError("no result of the shipped jbot-s in the store")


def _copy(src: Path, root: Path, edit=None) -> Path:
    """The result re-written (new checksum) into ``root`` after ``edit(obj)``."""
    obj, roc = load_result(src)
    obj = {k: v for k, v in obj.items() if k not in ("checksum", "roc", "schema_version")}
    if edit is not None:
        edit(obj)
    m = obj["model"]
    path = result_path(root, m["id"], m.get("identity_sha256") or m["weights_sha256"], "x")
    return write_result(path.with_name(f"{obj['task']['name']}.json"), obj, roc)


def test_the_repository_store_is_valid(capsys) -> None:
    assert cli_main(["leaderboard", "validate"]) == 0 or pytest.fail(capsys.readouterr().err)
    out = capsys.readouterr().out.strip()
    n = len(list(STORE.rglob("*.json")))
    assert out == f"{n} of {n} result files valid" and n > 100


def test_a_new_file_of_a_shipped_model_is_valid(tmp_path: Path) -> None:
    assert problems(_copy(_shipped_result(), tmp_path)) == []


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda o: o["runs"]["standard"].update(task_sha256="a" * 64),
            "field 'runs/standard/task_sha256': scored under another top-tagging.yaml",
        ),
        (
            lambda o: o["runs"]["standard"]["dataset"].update(sha256="b" * 64),
            "field 'runs/standard/dataset/sha256': bbbbbbbbbbbb... is not the pinned",
        ),
        (
            lambda o: o["runs"]["standard"]["dataset"].update(name="my-jets"),
            "field 'runs/standard/dataset/name': 'my-jets' is not a pinned dataset",
        ),
        (
            lambda o: o["model"].update(weights_sha256="c" * 64),
            "field 'model': model 'jbot-s' is a shipped name but these are not its shipped",
        ),
        (
            lambda o: o["model"].update(id="mine", source="runs/mine/backbone", revision="local"),
            "field 'model': model 'mine' (revision 'local') does not resolve",
        ),
        (
            lambda o: o["model"].update(id="my-model", source="my-org/my-model", revision="main"),
            "a Hub model needs a fixed revision",
        ),
    ],
    ids=["task-file", "dataset-sha", "dataset-name", "weights", "local-model", "hub-main"],
)
def test_refusals_name_the_file_and_the_field(tmp_path: Path, edit, message) -> None:
    path = _copy(_shipped_result(), tmp_path, edit)
    found = problems(path)
    assert any(message in p and str(path) in p for p in found), found


def test_hub_model_at_a_revision_layout_and_checksum(tmp_path: Path, capsys) -> None:
    def hub(o):
        o["model"].update(id="my-model", source="my-org/my-model", revision="v1.0")

    good = _copy(_shipped_result(), tmp_path / "store", hub)
    assert problems(good) == []
    moved = tmp_path / "elsewhere" / "other" / "123456789abc" / good.name
    moved.parent.mkdir(parents=True)
    moved.write_bytes(good.read_bytes())
    (moved.parent / good.name.replace(".json", ".roc.npz")).write_bytes(
        good.with_name(good.name.replace(".json", ".roc.npz")).read_bytes()
    )
    assert any("lies at other/123456789abc" in p for p in problems(moved))
    text = good.read_text().replace('"v1.0"', '"v2.0"')  # edited by hand: checksum
    good.write_text(text)
    assert cli_main(["leaderboard", "validate", str(tmp_path / "store")]) == 1
    captured = capsys.readouterr()
    assert "field 'checksum' does not match" in captured.err
    assert "0 of 1 result files valid" in captured.out
