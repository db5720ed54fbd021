"""Every registered model follows the Backbone protocol, and the package keeps its layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from jetzoo import JetZoo, create_backbone, list_models
from jetzoo.leaderboard.finetune import JetClassifier, apply_lora, llrd_param_groups
from jetzoo.leaderboard.tasks import backbone_family
from jetzoo.models.protocol import Backbone, backbone_problems, example_batch

PACKAGE = Path(__file__).resolve().parents[1] / "jetzoo"


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_follows_the_protocol(name: str) -> None:
    torch.manual_seed(0)
    model = create_backbone(name)
    assert isinstance(model, Backbone)
    assert backbone_problems(model) == []
    assert backbone_family(model) in ("jetnet", "rs3l")
    # LLRD groups cover every parameter once; LoRA wraps the protocol's targets
    clf = JetClassifier(model, 3)
    groups = llrd_param_groups(clf, 1e-3, 0.7)
    assert sum(len(g["params"]) for g in groups) == len(list(clf.parameters()))
    apply_lora(model, rank=2)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        assert model.embed(example_batch(model.family)).shape == (4, model.num_features)


def test_a_classifier_takes_the_head_its_backbone_names(tmp_path: Path) -> None:
    # jBOT's head d -> 2d -> d -> C (keys head.0/3/6 as every classifier saved before);
    # RS3L's y/|y| -> 128 -> C (the paper, Sec. 2.3)
    jbot = JetClassifier(create_backbone("jbot-s"), classes=list("qgtwz"))
    assert jbot.config["head"] == {"hidden": [64, 32], "normalize": False}
    assert sum(p.numel() for p in jbot.head.parameters()) == 32 * 64 + 64 + 64 * 32 + 32 + 165
    assert [k for k in jbot.head.state_dict() if k.endswith("weight")] == [
        "0.weight",
        "3.weight",
        "6.weight",
    ]
    torch.manual_seed(0)
    rs3l = JetClassifier(create_backbone("rs3l"), classes=["bkg", "tau"]).eval()
    assert rs3l.config["head"] == {"hidden": [128], "normalize": True}
    assert sum(p.numel() for p in rs3l.head.parameters()) == 8 * 128 + 128 + 128 * 2 + 2
    batch = example_batch("rs3l")
    with torch.no_grad():  # the head reads y / |y|: scaling y changes nothing
        y = rs3l.backbone.embed(batch)
        assert torch.allclose(rs3l.head(3.0 * y), rs3l.head(y), atol=1e-6)
        logits = rs3l(batch)
    rs3l.save_pretrained(tmp_path / "clf")
    loaded = JetZoo.from_pretrained(tmp_path / "clf")
    with torch.no_grad():
        assert torch.equal(loaded(batch), logits)
    with pytest.raises(ValueError, match=r"unknown fields \['width'\]"):
        JetClassifier(create_backbone("rs3l"), 2, head={"width": 3})


def test_protocol_names_what_is_missing() -> None:
    class Half(torch.nn.Module):
        family = "jetnet"
        num_features = 4

    assert backbone_problems(Half()) == ["missing lora_targets, config, embed, get_layer_id"]
    model = create_backbone("jbot-s")
    model.lora_targets = ("nope",)
    assert "lora_targets ['nope'] name no nn.Linear module ('nope' missing)" in backbone_problems(
        model
    )


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (annotations, never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def _imports(path: Path) -> set[str]:
    """Every jetzoo module a file imports at run time, at the top or inside functions."""
    out: set[str] = set()
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jetzoo"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("jetzoo"))
    return out


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_layers_point_one_way() -> None:
    """data -> models -> recipes / leaderboard -> release: no module imports a higher layer."""
    layer = {
        "jetzoo.utils": 0,
        "jetzoo.data": 1,
        "jetzoo.detector": 1,
        "jetzoo.models": 2,
        "jetzoo.losses": 2,
        "jetzoo.augmentations": 2,
        "jetzoo.masking": 2,
        "jetzoo.recipes": 3,
        "jetzoo.leaderboard": 3,
        "jetzoo.release": 4,
    }

    def level(mod: str) -> int | None:
        hits = [v for k, v in layer.items() if mod == k or mod.startswith(k + ".")]
        return hits[0] if hits else None

    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = _module(path)
        mine = level(me)
        if mine is None:
            continue
        for imp in _imports(path):
            other = level(imp)
            if other is not None and other > mine and not (mine == 3 and other == 3):
                bad.append(f"{me} imports {imp}")
    assert bad == []
    models = [_imports(p) for p in (PACKAGE / "models").rglob("*.py")]
    assert not any(i.startswith("jetzoo.leaderboard") for imps in models for i in imps)


def test_no_import_cycles_in_the_package() -> None:
    """No module of jetzoo imports, directly or through others, a module that imports it back,
    at the top or inside a function (a package's own __init__ does not count)."""
    mods = {_module(p): p for p in PACKAGE.rglob("*.py")}

    def owner(name: str) -> str | None:  # `from jetzoo.data import parts` -> jetzoo.data.parts
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {
        m: {o for i in _imports(p) if (o := owner(i)) and o != m and not m.startswith(o + ".")}
        for m, p in mods.items()
    }
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack + [m, d]))
            if d not in state:
                visit(d, stack + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
