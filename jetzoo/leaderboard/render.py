"""``jetzoo leaderboard render``: rebuild ``leaderboard/README.md`` and ROC plots from result files.

Every ``<results>/*.json`` is read through :func:`jetzoo.leaderboard.schema.load_result`, so a
file that fails the schema, was edited after writing (checksum) or whose ROC sidecar changed is
refused with a message naming it. One table per task: rows = model + evaluation, where each
model's supervised-from-scratch baseline row sits directly above its fine-tuned rows of the same
label fraction; columns = metrics as ``value ± spread``. One PNG per task under ``<out>/roc/``:
background rejection 1/eps_b against signal efficiency, one panel per signal / class.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from sklearn.metrics import auc as roc_auc

from jetzoo.leaderboard.schema import ResultFileError, format_settings, load_result
from jetzoo.utils.io import atomic_path, atomic_write_text

DEFAULT_RESULTS = Path("leaderboard/results")
DEFAULT_OUT = Path("leaderboard")
_ORDER = ("knn", "linear", "supervised", "finetune-llrd", "finetune-lora", "anomaly-knn",
          "anomaly-cosine", "anomaly-mahalanobis", "anomaly-gmm", "anomaly-ae")
_FRACTION = re.compile(r"^(.*)-([0-9.]+)%$")


def _eval_sort_key(evaluation: str) -> tuple[float, int, str]:
    """Frozen probes first, then per label fraction: baseline, LLRD, LoRA."""
    m = _FRACTION.match(evaluation)
    base, frac = (m.group(1), float(m.group(2))) if m else (evaluation, -1.0)
    rank = _ORDER.index(base) if base in _ORDER else len(_ORDER)
    return (frac, rank, evaluation)


def _fmt(value: float | None, spread: float | None) -> str:
    if value is None:
        return "n/a"
    digits = 4 if abs(value) < 10 else 1
    cell = f"{value:.{digits}f}"
    if spread is not None:
        cell += f" ± {spread:.{digits}f}"
    return cell


def _label(evaluation: str) -> str:
    m = _FRACTION.match(evaluation)
    base, frac = (m.group(1), m.group(2) + "% labels") if m else (evaluation, "")
    names = {"knn": "kNN probe (frozen)", "linear": "linear probe (frozen)",
             "supervised": "supervised from scratch (baseline)",
             "finetune-llrd": "fine-tuned, LLRD", "finetune-lora": "fine-tuned, LoRA"}
    text = names.get(base, base)
    return f"{text}, {frac}" if frac else text


def load_results(results_dir: str | Path) -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """All verified result files of a folder as ``(path, result, roc)``, sorted by model id;
    :class:`ResultFileError` for the first invalid one."""
    results_dir = Path(results_dir)
    files = sorted(results_dir.glob("*.json"))
    if not files:
        raise ResultFileError(f"{results_dir}: no result files (*.json); run "
                              "`jetzoo leaderboard submit MODEL` first")
    loaded = [(f, *load_result(f)) for f in files]
    return sorted(loaded, key=lambda t: t[1]["model"]["id"])


def _task_info() -> tuple[dict[str, str], dict[str, int]]:
    """Descriptions and kind order (multiclass, binary, anomaly) of the repository's tasks."""
    from jetzoo.leaderboard.tasks import KINDS, TaskError, load_tasks

    try:
        tasks = load_tasks()
    except TaskError:  # descriptions are decoration only
        return {}, {}
    return ({t.name: t.description for t in tasks}, {t.name: KINDS.index(t.kind) for t in tasks})


def task_table(task: str, results: Iterable[dict[str, Any]]) -> str:
    """The Markdown table of one task over all result files."""
    metrics: list[str] = []
    cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for res in results:
        model = res["model"]["id"]
        for row in res["results"]:
            if row["task"] != task:
                continue
            if row["metric"] not in metrics:
                metrics.append(row["metric"])
            cells[(model, row["evaluation"])][row["metric"]] = _fmt(row["value"], row["spread"])
    keys = sorted(cells, key=lambda k: (k[0], _eval_sort_key(k[1])))
    lines = ["| model | evaluation | " + " | ".join(metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for model, evaluation in keys:
        vals = [cells[(model, evaluation)].get(m, "") for m in metrics]
        lines.append(f"| {model} | {_label(evaluation)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def plot_roc(task: str, curves: list[tuple[str, str, str, np.ndarray, np.ndarray]],
             path: Path) -> Path:
    """One PNG with a panel per label: background rejection vs signal efficiency. Each panel
    shows, for every model, its best evaluation on that label (highest AUC, named in the
    legend with the AUC); random-init references and supervised baselines are dashed.
    ``curves``: (model, evaluation, label, fpr, tpr)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(c[2] for c in curves))
    models = sorted(dict.fromkeys(c[0] for c in curves))
    cmap = plt.get_cmap("tab20")
    colors = {m: cmap(i % 20) for i, m in enumerate(models)}
    ncol = min(len(labels), 3)
    nrow = -(-len(labels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.5 * ncol, 4.8 * nrow), squeeze=False)
    for ax, label in zip(axes.flat, labels):
        best: dict[str, tuple[float, str, np.ndarray, np.ndarray]] = {}
        for model, evaluation, lab, fpr, tpr in curves:
            if lab == label:
                auc = float(roc_auc(fpr, tpr))
                if model not in best or auc > best[model][0]:
                    best[model] = (auc, evaluation, fpr, tpr)
        for model, (auc, evaluation, fpr, tpr) in sorted(best.items(), key=lambda kv: -kv[1][0]):
            ok = fpr > 0
            dashed = model.endswith("random-init") or evaluation.startswith("supervised")
            ax.plot(tpr[ok], 1.0 / fpr[ok], "--" if dashed else "-", lw=1.3, color=colors[model],
                    label=f"{model}: {evaluation} (AUC {auc:.3f})")
        ax.set_yscale("log")
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("background rejection 1/eps_b")
        ax.set_title(f"{task}: {label} (best evaluation per model)", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, loc="upper right")
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def render(results_dir: str | Path = DEFAULT_RESULTS, out: str | Path = DEFAULT_OUT) -> Path:
    """Write ``<out>/README.md`` (one table per task) and ``<out>/roc/<task>.png`` from the
    result files in ``results_dir``. Returns the README path."""
    out = Path(out)
    loaded = load_results(results_dir)
    results = [r for _, r, _ in loaded]
    descriptions, kinds = _task_info()
    tasks = sorted(dict.fromkeys(row["task"] for r in results for row in r["results"]),
                   key=lambda t: (kinds.get(t, 9), t))
    quick = [r["model"]["id"] for r in results if r["quick"]]
    lines = ["# jetzoo leaderboard", "",
             "Generated by `jetzoo leaderboard render` from `leaderboard/results/*.json` "
             "(schema: `jetzoo/leaderboard/schema.py`). Values are `value ± spread`: the metric "
             "on the whole test split and the standard deviation over bootstrap resamples of it. "
             "Each model's supervised-from-scratch baseline (same architecture) sits beside its "
             "fine-tuned rows.", ""]
    if quick:
        lines += [f"> **Note:** results of {', '.join(quick)} come from `--quick` runs (a few "
                  "hundred jets, one grid point, a few epochs; see `QUICK_SETTINGS` in "
                  "`jetzoo/leaderboard/tasks.py`), possibly of untrained backbones: they show the "
                  "format of the leaderboard, not the quality of the models.", ""]
    lines += ["| model | revision | weights sha256 | jetzoo | date | quick | settings |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["model"]
        changed = format_settings(r.get("settings")) or "task files"
        lines.append(f"| {m['id']} | {m['revision']} | `{m['weights_sha256'][:12]}` | "
                     f"{r['jetzoo_version']} | {r['date'][:10]} | "
                     f"{'yes' if r['quick'] else 'no'} | {changed} |")
    lines.append("")
    for task in tasks:
        lines += [f"## {task}", ""]
        if descriptions.get(task):
            lines += [descriptions[task].strip(), ""]
        shas = sorted({r["datasets"][task]["sha256"][:12] for r in results
                       if task in r.get("datasets", {})})
        if shas:
            lines += [f"Dataset sha256: {', '.join(f'`{s}`' for s in shas)}", ""]
        lines += [task_table(task, results), ""]
        curves = [(r["model"]["id"], c["evaluation"], c["label"], *roc[c["key"]])
                  for _, r, roc in loaded for c in r.get("roc", {}).get("curves", [])
                  if c["task"] == task]
        if curves:
            png = plot_roc(task, curves, out / "roc" / f"{task}.png")
            lines += [f"![ROC curves of {task}](roc/{png.name})", ""]
    readme = out / "README.md"
    atomic_write_text(readme, "\n".join(lines))
    return readme


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default=str(DEFAULT_RESULTS),
                        help="folder of result files (default: leaderboard/results)")
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="output folder for README.md and roc/*.png (default: leaderboard)")


def main(args: argparse.Namespace) -> int:
    try:
        path = render(args.results, args.out)
    except ResultFileError as err:
        print(f"jetzoo leaderboard render: refused: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
