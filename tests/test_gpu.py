"""The GPU path, checked on a GPU: skipped where CUDA is absent (CI has none), run on a lent GPU
(``python -m pytest tests/test_gpu.py``; docs/notes/2026-12-07-gpu-training.md has the numbers).

- masked attention: SDPA with the padding mask on CUDA against the CPU's ``baddbmm`` path, in
  values and gradients;
- bf16 autocast: a jBOT step within bf16 rounding of fp32;
- ``compile``: inductor-compiled backbones give the eager loss and gradients;
- ``jetzoo run`` on the GPU (bf16-mixed, compiled) writes a backbone that embeds on the CPU;
- leaderboard embeddings extracted on the GPU equal the CPU's.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from _recipe_utils import synthetic_jets

from jetzoo import create_backbone
from jetzoo.recipes import JBOTRecipe

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _exact_fp32():
    """fp32 matrix products in full precision (no TF32), so that CPU and GPU can be compared."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("name", ["jbot-s", "jbot-b"])
def test_cuda_masked_attention_equals_the_cpu_path(name: str) -> None:
    torch.manual_seed(0)
    cpu = create_backbone(name).eval()
    gpu = copy.deepcopy(cpu).cuda()
    batch = synthetic_jets(64)
    assert (~batch["mask"]).any(), "the jets must carry padding"
    out_cpu = cpu(batch["x"], batch["mask"])
    out_gpu = gpu(batch["x"].cuda(), batch["mask"].cuda())
    # fp32 with another summation order: differences of a few 1e-7 per operation, relative to
    # the size of the tensor (elementwise tolerances fail on entries that happen to be ~0)
    assert _relative_error(out_gpu.cls, out_cpu.cls) < 1e-5
    assert _relative_error(out_gpu.tokens, out_cpu.tokens) < 1e-5
    out_cpu.cls.square().sum().backward()
    out_gpu.cls.square().sum().backward()
    errors = {
        pname: _relative_error(b.grad, a.grad)
        for (pname, a), b in zip(cpu.named_parameters(), gpu.parameters())
        if a.grad is not None
    }
    assert len(errors) > 10 and max(errors.values()) < 1e-4, errors


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|, on the CPU."""
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def _loss_and_grads(
    module: JBOTRecipe, batch: dict[str, torch.Tensor], autocast: bool = False
) -> tuple[float, dict[str, torch.Tensor]]:
    module.zero_grad(set_to_none=True)
    torch.manual_seed(5)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        loss, _ = module.compute_loss(batch, "train")
    loss.backward()
    grads = {n: p.grad.float().cpu() for n, p in module.named_parameters() if p.grad is not None}
    return loss.item(), grads


def test_cuda_bf16_jbot_step_is_near_fp32() -> None:
    torch.manual_seed(0)
    module = JBOTRecipe(backbone="jbot-s", train_dropout=0.0).cuda().train()
    batch = {k: v.cuda() for k, v in synthetic_jets(256).items()}
    loss32, _ = _loss_and_grads(module, batch)
    loss16, grads = _loss_and_grads(module, batch, autocast=True)
    assert abs(loss16 - loss32) < 0.02 * abs(loss32), (loss16, loss32)
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_cuda_inductor_compiled_backbones_give_the_eager_loss() -> None:
    torch.manual_seed(0)
    eager = JBOTRecipe(backbone="jbot-s", train_dropout=0.0).cuda().train()
    compiled = copy.deepcopy(eager)
    compiled.compile_backbones()
    batch = {k: v.cuda() for k, v in synthetic_jets(256).items()}
    loss_e, grads_e = _loss_and_grads(eager, batch)
    loss_c, grads_c = _loss_and_grads(compiled, batch)
    assert loss_c == pytest.approx(loss_e, rel=1e-4)
    for name, g in grads_e.items():
        torch.testing.assert_close(grads_c[name], g, rtol=1e-3, atol=1e-5, msg=name)


def test_jetzoo_run_on_the_gpu_bf16_compiled(tmp_path: Path) -> None:
    from jetzoo import JetZoo
    from jetzoo.recipes.runner import run_recipe

    folder = run_recipe(
        ROOT / "recipes" / "jbot-s.yaml",
        [
            "data.path=sample",
            "data.batch_size=256",
            "data.max_jets=2048",
            "data.num_workers=0",
            "trainer.max_epochs=2",
            "optimizer.warmup_epochs=1",
            "trainer.accelerator=gpu",
            "trainer.devices=1",
            "trainer.precision=bf16-mixed",
            "compile=default",
            "trainer.enable_progress_bar=false",
            "logging.tensorboard=false",
            f"output.dir={tmp_path / 'run'}",
        ],
    )
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["jets_seen"] == 2 * 2048
    assert math.isfinite(summary["final_metrics"]["train/loss"])
    training = json.loads((folder / "backbone" / "config.json").read_text())["training"]
    assert training["device"].startswith("cuda")
    model = JetZoo.from_pretrained(str(folder / "backbone"))
    emb = model.embed({k: v for k, v in synthetic_jets(32).items()})
    assert emb.shape == (32, 32) and torch.isfinite(emb).all()


def test_leaderboard_embeddings_on_the_gpu_equal_the_cpu() -> None:
    from jetzoo.leaderboard.embeddings import extract_embeddings

    torch.manual_seed(0)
    model = create_backbone("jbot-s")
    data = synthetic_jets(500)
    on_cpu, labels_cpu = extract_embeddings(
        model, data, accelerator="cpu", batch_size=128, progress=False
    )
    on_gpu, labels_gpu = extract_embeddings(
        model, data, accelerator="gpu", batch_size=128, progress=False
    )
    assert torch.equal(labels_cpu, labels_gpu)
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-4, atol=1e-5)
