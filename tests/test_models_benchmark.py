"""benchmarks/inference.py: the plain baseline has the stated size and the rows are sane."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from jetzoo import create_backbone

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "inference.py"
_spec = importlib.util.spec_from_file_location("jetzoo_bench_inference", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_baseline_size_matches_the_backbone():
    s, b = create_backbone("jbot-s"), create_backbone("jbot-b")
    plain_s, plain_b = bench.baseline_for(s), bench.baseline_for(b)
    # same width/depth/MLP; jbot-s has identical parameter count up to the unused [MASK] token
    assert sum(p.numel() for p in plain_s.parameters()) + 32 == sum(
        p.numel() for p in s.parameters()
    )
    assert plain_b.encoder.layers[0].self_attn.num_heads == 4  # 6 does not divide 64
    assert (
        len(plain_b.encoder.layers) == 4 and plain_b.encoder.layers[0].linear1.out_features == 256
    )


def test_plain_baseline_ignores_padding_and_rows_are_sane():
    torch.manual_seed(0)
    plain = bench.baseline_for(create_backbone("jbot-s")).eval()
    x, mask = bench.make_batch(4, 30)
    assert mask.sum(1).min() >= 10 and torch.allclose(x[..., 2].sum(1), torch.ones(4))
    x_pad = torch.cat([x, torch.rand(4, 20, 3)], dim=1)
    mask_pad = torch.cat([mask, torch.zeros(4, 20, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(plain(x, mask), plain(x_pad, mask_pad), rtol=0, atol=1e-5)
    rows = bench.run(["jbot-s"], batch=16, n_particles=30, seconds=0.05)
    assert rows[0]["jets_per_s_jetzoo"] > 0 and rows[0]["jets_per_s_plain"] > 0
    assert abs(rows[0]["ratio"] - rows[0]["jets_per_s_jetzoo"] / rows[0]["jets_per_s_plain"]) < 1e-9
    assert "jbot-s" in bench.format_table(rows)
