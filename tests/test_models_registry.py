"""The timm-style registry: names, configs, overrides, unknown names."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from jetzoo import create_backbone, list_models
from jetzoo.models.registry import build_from_config, get_model_spec, random_init_like


def test_registered_names_and_patterns():
    names = list_models()
    assert {"jbot-s", "jbot-b", "jetclr", "ae"} <= set(names)
    assert names == sorted(names)
    assert list_models("jbot*") == ["jbot-b", "jbot-s", "jbot-s-qcd"]
    if importlib.util.find_spec("jetzoo.models.rs3l_backbone") is not None:
        assert "rs3l" in names


@pytest.mark.parametrize(
    "name,d,depth,heads,head_dim",
    [("jbot-s", 32, 2, 4, 8), ("jbot-b", 64, 4, 6, 16), ("jetclr", 64, 4, 4, 16)],
)
def test_configs(name, d, depth, heads, head_dim):
    model = create_backbone(name)
    attn = model.blocks[0].attn
    assert (model.num_features, len(model.blocks), attn.num_heads, attn.head_dim) == (
        d,
        depth,
        heads,
        head_dim,
    )
    assert model.blocks[0].mlp.fc1.out_features == 4 * d
    spec = get_model_spec(name)
    assert spec.hub_repo == f"jetzoo/{name}" and spec.revision == "main"


def test_overrides_and_rebuild_from_config():
    model = create_backbone("jbot-s", dropout=0.0, depth=3)
    assert len(model.blocks) == 3 and model.config["dropout"] == 0.0
    rebuilt = build_from_config(model.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    assert rebuilt.config == model.config
    assert get_model_spec("jbot-s").config["depth"] == 2  # the registered config is untouched


def test_unknown_names_and_keys():
    with pytest.raises(KeyError, match="Did you mean 'jbot-b'"):
        create_backbone("jbot-bb")
    with pytest.raises(ValueError, match="particle_transformer.*embed_dimm"):
        create_backbone("jbot-s", embed_dimm=3)
    with pytest.raises(ValueError, match="not divisible"):
        create_backbone("jbot-b", head_dim=None)
    with pytest.raises(ValueError, match="no 'arch'"):
        build_from_config({"embed_dim": 3})


def test_same_seed_same_weights():
    torch.manual_seed(5)
    a = create_backbone("jbot-s")
    torch.manual_seed(5)
    b = create_backbone("jbot-s")
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


def test_random_init_like_keeps_config_and_preprocessing_and_redraws_weights():
    """The baseline of every comparison: same architecture and preprocessing numbers, fresh
    weights, the same for the same seed."""
    from jetzoo.data.preprocessing import Preprocessing

    trained = create_backbone("jbot-s")
    trained.set_preprocessing(Preprocessing(mean=(0.1, -0.2, -4.0), std=(0.3, 0.4, 1.5)))
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    a, b, c = random_init_like(trained), random_init_like(trained), random_init_like(trained, 1)
    assert a.config == trained.config
    assert torch.equal(a.feat_mean, trained.feat_mean) and torch.equal(a.feat_std, trained.feat_std)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    w = "particle_embed.weight"
    assert torch.equal(sa[w], sb[w]) and not torch.equal(sa[w], sc[w])
    assert not torch.equal(sa[w], trained.state_dict()[w])
