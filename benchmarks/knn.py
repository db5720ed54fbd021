"""kNN probe benchmark: jetzoo's batched torch top-k vs scikit-learn's KNeighborsClassifier.

Default problem: 100k references x 50k queries, D = 64, 5 classes, k = 30, on the
CPU, in the same run, same threads. Both sides do the same thing: cosine similarity on
l2-normalised embeddings and an unweighted majority vote (``vote="majority"``; sklearn
``weights="uniform"``); the script reports both times, their ratio, and how often the two agree.
scikit-learn is given the embeddings already l2-normalised and ``metric="euclidean"`` (same
neighbours as cosine, and the fastest sklearn path: its multi-threaded ArgKmin reduction);
``--sklearn-metric cosine`` times the literal cosine metric instead.

    python benchmarks/knn.py                  # full size: ~1 min CPU per side on 2 cores
                                              # (2 min 50 s wall on a shared, loaded machine)
    python benchmarks/knn.py --n-ref 20000 --n-query 10000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def make_data(
    n_ref: int, n_query: int, dim: int, classes: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian class clusters (overlapping, so the vote matters), float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    y_ref, y_q = rng.integers(0, classes, n_ref), rng.integers(0, classes, n_query)
    x_ref = (centres[y_ref] + 4.0 * rng.normal(size=(n_ref, dim))).astype(np.float32)
    x_q = (centres[y_q] + 4.0 * rng.normal(size=(n_query, dim))).astype(np.float32)
    return x_ref, y_ref, x_q, y_q


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-ref", type=int, default=100_000)
    p.add_argument("--n-query", type=int, default=50_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("-k", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--ref-chunk", type=int, default=16384)
    p.add_argument("--device", default="cpu", help="where jetzoo's probe runs (cpu, cuda)")
    p.add_argument("--sklearn-metric", choices=["euclidean", "cosine"], default="euclidean")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args()

    from sklearn.neighbors import KNeighborsClassifier

    from jetzoo.leaderboard.metrics import accuracy
    from jetzoo.leaderboard.probes import knn_probe

    x_ref, y_ref, x_q, y_q = make_data(args.n_ref, args.n_query, args.dim, args.classes)
    print(
        f"kNN probe: {args.n_ref} references x {args.n_query} queries, D={args.dim}, "
        f"k={args.k}, jetzoo on {args.device}, torch threads={torch.get_num_threads()}"
    )

    if args.device.startswith("cuda"):  # warm up CUDA outside the timed region
        knn_probe(x_ref[:100], y_ref[:100], x_q[:10], k=min(args.k, 100), device=args.device)
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    ours = knn_probe(
        x_ref,
        y_ref,
        x_q,
        k=args.k,
        vote="majority",
        batch_size=args.batch_size,
        ref_chunk=args.ref_chunk,
        device=args.device,
        progress=True,
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t_ours = time.perf_counter() - t0

    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    t0 = time.perf_counter()
    sk = KNeighborsClassifier(n_neighbors=args.k, algorithm="brute", metric=args.sklearn_metric)
    sk.fit(unit(x_ref), y_ref)
    sk_pred = sk.predict(unit(x_q))
    t_sk = time.perf_counter() - t0

    agree = float(np.mean(ours.pred.numpy() == sk_pred))
    result = {
        "n_ref": args.n_ref,
        "n_query": args.n_query,
        "dim": args.dim,
        "k": args.k,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "sklearn_metric": args.sklearn_metric,
        "jetzoo_s": round(t_ours, 2),
        "sklearn_s": round(t_sk, 2),
        "ratio_sklearn_over_jetzoo": round(t_sk / t_ours, 2),
        "prediction_agreement": round(agree, 5),
        "accuracy_jetzoo": round(accuracy(ours.pred, y_q), 4),
        "accuracy_sklearn": round(accuracy(sk_pred, y_q), 4),
    }
    print(f"jetzoo knn_probe : {t_ours:8.2f} s   accuracy {result['accuracy_jetzoo']:.4f}")
    print(f"sklearn KNN      : {t_sk:8.2f} s   accuracy {result['accuracy_sklearn']:.4f}")
    print(f"ratio sklearn / jetzoo = {t_sk / t_ours:.2f}x; predictions agree on {agree:.2%}")
    if args.json:
        from jetzoo.utils.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
