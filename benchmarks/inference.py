"""Inference throughput: jetzoo backbones vs a plain ``nn.TransformerEncoder`` of the same size.

Embeddings per second at a fixed batch size (default 1024 jets of 30 particles, 10-30 real) on
CPU, both models timed in the same run on the same input, printed as a table with the ratio.

The plain baseline is what a user would write with torch alone: a linear particle embedding, a
[CLS] token, ``nn.TransformerEncoder`` (pre-norm, GELU, MLP 4*d, ``src_key_padding_mask``; torch's
fused fast path applies in eval mode) and a final LayerNorm. ``nn.MultiheadAttention`` needs
``d % heads == 0``, so for jbot-b (d=64, 6 heads of 16) the baseline uses the largest head count
that divides d (4 heads of 16): the baseline then has a smaller attention width (64 vs 96) and
fewer parameters, both printed. jetzoo backbones also do their preprocessing (log pT,
standardisation) inside the timed forward.

    python benchmarks/inference.py [--models jbot-s jbot-b] [--batch 1024] [--seconds 3]

A second table: the shipped backbones exported with ``jetzoo export-onnx`` and run by
onnxruntime against torch eager at batch 1, 64 and 1024 (``--onnx-batches``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from jetzoo import create_backbone


class PlainEncoder(nn.Module):
    """Particle embedding + [CLS] + ``nn.TransformerEncoder`` + LayerNorm."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.embed = nn.Linear(3, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        layer = nn.TransformerEncoderLayer(
            embed_dim,
            num_heads,
            int(mlp_ratio * embed_dim),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), self.embed(x)], dim=1)
        pad = torch.cat([mask.new_zeros(x.shape[0], 1), ~mask], dim=1)
        return self.norm(self.encoder(h, src_key_padding_mask=pad))[:, 0]


def baseline_for(model: nn.Module) -> PlainEncoder:
    """The plain encoder with the same width, depth and MLP; heads = largest divisor of d that
    is <= the model's head count."""
    cfg = model.config
    d, heads = cfg["embed_dim"], cfg["num_heads"]
    heads = max(h for h in range(1, heads + 1) if d % h == 0)
    return PlainEncoder(d, cfg["depth"], heads, cfg["mlp_ratio"])


def make_batch(batch: int, n_particles: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random jets in the JetNet layout: 10-30 real particles, pT-ordered, zero padding."""
    g = torch.Generator().manual_seed(seed)
    n_real = torch.randint(10, n_particles + 1, (batch, 1), generator=g)
    mask = torch.arange(n_particles) < n_real
    x = torch.randn(batch, n_particles, 3, generator=g) * torch.tensor([0.1, 0.1, 0.0])
    pt = torch.rand(batch, n_particles, generator=g).sort(dim=1, descending=True).values * mask
    x[..., 2] = pt / pt.sum(1, keepdim=True)  # pt_rel of the real particles sums to 1
    return x * mask.unsqueeze(-1), mask


def throughput(fns: list[Callable[[], Tensor]], batch: int, seconds: float) -> list[float]:
    """Median jets per second of each function, timed in alternation (one warm-up call each),
    so that load from other processes hits all of them alike."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while time.perf_counter() - start < seconds * len(fns) or len(times[0]) < 3:
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [batch / statistics.median(ts) for ts in times]


def run(
    models: list[str], batch: int, n_particles: int, seconds: float, device: str = "cpu"
) -> list[dict]:
    x, mask = make_batch(batch, n_particles)
    x, mask = x.to(device), mask.to(device)
    rows = []
    for name in tqdm(models, desc="models", leave=False):
        torch.manual_seed(0)
        ours = create_backbone(name, dropout=0.0).to(device).eval()
        plain = baseline_for(ours).to(device).eval()
        with torch.inference_mode():
            ours_rate, plain_rate = throughput(
                [lambda: ours(x, mask).cls, lambda: plain(x, mask)], batch, seconds
            )
        rows.append(
            {
                "model": name,
                "batch": batch,
                "device": device,
                "threads": torch.get_num_threads(),
                "params_jetzoo": sum(p.numel() for p in ours.parameters()),
                "params_plain": sum(p.numel() for p in plain.parameters()),
                "heads_jetzoo": ours.config["num_heads"],
                "heads_plain": plain.encoder.layers[0].self_attn.num_heads,
                "jets_per_s_jetzoo": ours_rate,
                "jets_per_s_plain": plain_rate,
                "ratio": ours_rate / plain_rate,
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    head = (
        f"{'model':<8} {'params':>15} {'heads':>6} {'jetzoo jets/s':>14} "
        f"{'plain jets/s':>13} {'ratio':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['model']:<8} {r['params_jetzoo']:>7,}/{r['params_plain']:<7,} "
            f"{r['heads_jetzoo']:>2}/{r['heads_plain']:<3} {r['jets_per_s_jetzoo']:>14,.0f} "
            f"{r['jets_per_s_plain']:>13,.0f} {r['ratio']:>6.2f}"
        )
    lines.append("params and heads: jetzoo/plain; ratio = jetzoo / plain (higher is faster)")
    return "\n".join(lines)


def onnx_rows(
    models: list[str], batches: list[int], n_particles: int, seconds: float
) -> list[dict]:
    """Jets/s of the exported ONNX graph (onnxruntime, CPU) against torch eager on the same
    jets, the shipped weights, at each batch size (one session per model, default threads)."""
    import tempfile
    from pathlib import Path

    import onnxruntime as ort

    from jetzoo import JetZoo
    from jetzoo.models.onnx_export import export_onnx

    rows = []
    for name in models:
        model = JetZoo.from_pretrained(name)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model, Path(tmp) / f"{name}.onnx")
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for batch in batches:
            x, mask = make_batch(batch, n_particles)
            feed = {"x": x.numpy(), "mask": mask.numpy()}
            with torch.inference_mode():
                eager, onnx = throughput(
                    [lambda: model(x, mask).cls, lambda: session.run(None, feed)[0]], batch, seconds
                )
            rows.append(
                {
                    "model": name,
                    "batch": batch,
                    "jets_per_s_torch": eager,
                    "jets_per_s_onnxruntime": onnx,
                    "ratio": onnx / eager,
                }
            )
    return rows


def format_onnx_table(rows: list[dict]) -> str:
    head = f"{'model':<8} {'batch':>6} {'torch jets/s':>13} {'onnxruntime jets/s':>19} {'ratio':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['model']:<8} {r['batch']:>6} {r['jets_per_s_torch']:>13,.0f} "
            f"{r['jets_per_s_onnxruntime']:>19,.0f} {r['ratio']:>6.2f}"
        )
    lines.append("ratio = onnxruntime / torch eager (higher: the ONNX graph is faster)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["jbot-s", "jbot-b"])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--n-particles", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per model and row")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument(
        "--onnx-batches",
        type=int,
        nargs="*",
        default=[1, 64, 1024],
        help="batch sizes of the onnxruntime vs torch table (none: skip it)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(args.models, args.batch, args.n_particles, args.seconds, args.device)
    print(
        f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
        f"batch {args.batch} x {args.n_particles} particles"
    )
    print(format_table(rows))
    if args.onnx_batches and args.device == "cpu":
        extra = onnx_rows(args.models, args.onnx_batches, args.n_particles, args.seconds)
        print(
            f"\nshipped weights exported with jetzoo export-onnx, CPU, "
            f"{torch.get_num_threads()} torch threads"
        )
        print(format_onnx_table(extra))
        rows = rows + extra
    if args.json:
        from jetzoo.utils.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
