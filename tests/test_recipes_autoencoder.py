"""Autoencoder baseline: JetAutoencoder as one zoo backbone, anomaly score, loss decrease."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from _recipe_utils import (
    TINY,
    eval_loss,
    fit,
    one_thread,
    sample_jets,
    sample_preprocessing,
    synthetic_jets,
)

from jetzoo.models.autoencoder import JetAutoencoder, default_widths
from jetzoo.models.registry import build_from_config, create_backbone, get_model_spec
from jetzoo.recipes import AutoencoderRecipe

_threads = pytest.fixture(autouse=True)(one_thread)


def test_registered_ae_is_one_backbone() -> None:
    assert get_model_spec("ae").arch == "jet_autoencoder"
    ae = create_backbone("ae")
    assert isinstance(ae, JetAutoencoder) and ae.num_features == 32
    assert default_widths(128) == ([128, 64, 32, 24], 20)  # the seed's ladder
    assert ae.config["hidden_dims"] == [32, 16, 8, 6] and ae.config["bottleneck_dim"] == 5
    rebuilt = build_from_config(json.loads(json.dumps(ae.config)))
    rebuilt.load_state_dict(ae.state_dict())
    batch = synthetic_jets(8)
    ae.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt.embed(batch), ae.embed(batch))
    assert ae.embed(batch).shape == (8, 32) and ae.bottleneck(batch).shape == (8, 5)
    assert ae.blocks is ae.encoder.blocks
    assert ae.get_layer_id("encoder.blocks.1.attn.qkv.weight") == 2
    assert ae.get_layer_id("encoder.particle_embed.weight") == 0
    assert ae.get_layer_id("compress.0.weight") == 3


def test_reconstruction_score_is_log_one_minus_cos() -> None:
    ae = create_backbone("ae", **TINY).eval()
    batch = synthetic_jets(6)
    rec = ae.reconstruct(batch["x"], batch["mask"])
    x, z = rec.x.detach().numpy(), rec.z.detach().numpy()
    cos = (x * z).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(z, axis=1)
    np.testing.assert_allclose(
        ae.reconstruction_score(batch).detach().numpy(), np.log(1 - cos + 1e-8), rtol=1e-4
    )


@pytest.mark.parametrize("loss", ["cosine", "mse"])
def test_loss_decreases_without_collapse(loss: str) -> None:
    torch.manual_seed(0)
    data, held_out = sample_jets(512), sample_jets(128, "val")
    r = AutoencoderRecipe(
        backbone_overrides=TINY, optimizer=dict(lr=2e-3, warmup_steps=5), loss=loss
    )
    r.set_preprocessing(sample_preprocessing())

    def reco() -> float:
        r.eval()
        with torch.no_grad():
            return r.compute_loss(held_out, "val")[1]["loss_reco"].item()

    before, reco_before = eval_loss(r, held_out, repeats=1), reco()
    fit(r, data, steps=60)
    after, reco_after = eval_loss(r, held_out, repeats=1), reco()
    assert after < 0.8 * before, (before, after)
    assert reco_after < 0.75 * reco_before, (reco_before, reco_after)
    # the representation keeps a spread: per-dimension batch std of x is not ~0
    with torch.no_grad():
        x = r.backbone.embed(held_out)
    assert x.std(0).mean().item() > 0.3, x.std(0)


def test_wraps_particle_backbone_and_exports_it() -> None:
    r = AutoencoderRecipe(backbone="jbot-s", backbone_overrides=TINY)
    assert isinstance(r.export_backbone(), JetAutoencoder)
    assert r.export_backbone().config["embed_dim"] == 16
    with pytest.raises(ValueError, match="loss must be one of"):
        AutoencoderRecipe(backbone_overrides=TINY, loss="l1")


def test_refuses_an_encoder_with_dropout() -> None:
    """Dropout noise can meet the variance terms without any jet content (the first release
    run did): the recipe refuses it and names the override, and the registered ``ae`` has none."""
    assert not any(
        create_backbone("ae").encoder.config[k] for k in ("dropout", "attn_dropout", "drop_path")
    )
    with pytest.raises(ValueError, match=r"model\.backbone_overrides\.dropout=0\.0"):
        AutoencoderRecipe(backbone="jbot-s")  # jBOT-S has dropout 0.2
    with pytest.raises(ValueError, match="drop_path"):
        AutoencoderRecipe(backbone_overrides=dict(TINY, drop_path=0.1))


def test_compile_covers_the_encoder_the_loss_runs() -> None:
    """The AE's loss calls ``reconstruct`` (encoder, then decoder), never ``backbone.forward``,
    so ``compile_backbones`` compiles ``backbone.encoder``; with dynamo's eager backend the loss
    equals the eager one and the state-dict keys do not change."""
    torch.manual_seed(0)
    eager = AutoencoderRecipe(backbone_overrides=TINY).train()
    compiled = copy.deepcopy(eager)
    keys = list(compiled.state_dict())
    compiled.compile_backbones(backend="eager", dynamic=False)
    assert compiled.backbone.encoder._compiled_call_impl is not None
    assert compiled.backbone._compiled_call_impl is None
    assert list(compiled.state_dict()) == keys
    batch = synthetic_jets(16)
    losses = [module.compute_loss(batch, "train")[0].item() for module in (eager, compiled)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
