"""``jetzoo leaderboard render``: rebuild the board (``leaderboard/README.md``), its history page
and ROC plots from the store.

Every ``<results>/<model>/<weights-sha12>/<task>.json`` is read through
:func:`jetzoo.leaderboard.schema.load_result`, so a file that fails the schema, was edited after
writing (checksum) or whose ROC sidecar changed is refused with a message naming it.

Per tier (standard, paper, quick): one table of main scores (a row per model, a column per
task, sorted by the first task), then per task one table with a row per model + evaluation
(each model's supervised-from-scratch baseline beside its fine-tuned rows of the same label
fraction) and a column per metric as ``value ± spread`` (seeded evaluations: mean over seeds,
then ``(± std over N seeds)``). One PNG per task and tier under ``<out>/roc/``: background
rejection 1/eps_b against signal efficiency, one panel per signal / class.
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

from jetzoo.leaderboard import board
from jetzoo.leaderboard.evaluators import EVALUATORS, evaluator_of
from jetzoo.leaderboard.schema import ResultFileError, format_settings, iter_store, load_result
from jetzoo.utils.io import atomic_path, atomic_write_text

DEFAULT_RESULTS = Path("leaderboard/results")
DEFAULT_OUT = Path("leaderboard")
TIER_ORDER = ("standard", "paper", "quick")
_FRACTION = re.compile(r"^(.*)-([0-9.]+)%$")


def _eval_sort_key(evaluation: str) -> tuple[float, int, str]:
    """Frozen probes first, then per label fraction: baseline, LLRD, LoRA (evaluator order)."""
    m = _FRACTION.match(evaluation)
    frac = float(m.group(2)) if m else -1.0
    ev = evaluator_of(evaluation)
    return (frac, ev.order if ev else len(EVALUATORS), evaluation)


def _fmt(
    value: float | None, spread: float | None, seed_std: float | None = None, n_seeds: int = 1
) -> str:
    if value is None:
        return "n/a"
    digits = 4 if abs(value) < 10 else 1
    cell = f"{value:.{digits}f}"
    if spread is not None:
        cell += f" ± {spread:.{digits}f}"
    if n_seeds > 1 and seed_std is not None:
        cell += f" (± {seed_std:.{digits}f} over {n_seeds} seeds)"
    return cell


def _label(evaluation: str) -> str:
    m = _FRACTION.match(evaluation)
    frac = m.group(2) + "% labels" if m else ""
    ev = evaluator_of(evaluation)
    text = ev.label if ev else evaluation
    return f"{text}, {frac}" if frac else text


def load_results(results_dir: str | Path) -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """All verified result files of a store as ``(path, result, roc)``, sorted by model id and
    task; :class:`ResultFileError` for the first invalid one."""
    results_dir = Path(results_dir)
    files = list(iter_store(results_dir))
    if not files:
        raise ResultFileError(
            f"{results_dir}: no result files (<model>/<weights-sha12>/"
            "<task>.json); run `jetzoo leaderboard submit MODEL` first"
        )
    loaded = [(f, *load_result(f)) for f in files]
    return sorted(loaded, key=lambda t: (t[1]["model"]["id"], t[1]["task"]["name"]))


def _task_info() -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    """Descriptions, kind order (multiclass, binary, anomaly) and groups of the repository's
    tasks."""
    from jetzoo.leaderboard.tasks import KINDS, TaskError, load_tasks

    try:
        tasks = load_tasks()
    except TaskError:  # descriptions are decoration only
        return {}, {}, {}
    return (
        {t.name: t.summary for t in tasks},
        {t.name: KINDS.index(t.kind) for t in tasks},
        {t.name: t.group for t in tasks if t.group},
    )


def _model_key(result: dict[str, Any], revisions: bool = True) -> str:
    """``id `identity12``` (results scored before the identity covered the architecture
    config: the weights' sha256); the id alone with ``revisions=False`` (one row per model)."""
    m = result["model"]
    if not revisions:
        return str(m["id"])
    return f"{m['id']} `{m.get('identity_sha256', m['weights_sha256'])[:12]}`"


def main_score(result: dict[str, Any], tier: str) -> dict[str, Any] | None:
    """The row of a result file's main score at ``tier`` (None if not scored)."""
    run = result["runs"].get(tier)
    if run is None:
        return None
    evaluation, metric = result["task"]["main_score"].split("/", 1)
    for row in run["results"]:
        if row["evaluation"] == evaluation and row["metric"] == metric:
            return row
    return None


def main_score_table(
    results: list[dict[str, Any]],
    tier: str,
    tasks: list[str],
    revisions: bool = True,
    worst: bool = False,
) -> str:
    """Models x tasks of their main scores at ``tier``, best first on the first task; a row
    per model revision, or per model with ``revisions=False`` (results of one revision each).
    ``worst``: a first column with the lowest main score over the tasks (for a model scored on
    all of them; a group of tasks of one metric), the rows sorted by it."""
    cells: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for res in results:
        row = main_score(res, tier)
        if row is not None:
            cells[_model_key(res, revisions)][res["task"]["name"]] = row
    tasks = [t for t in tasks if any(t in c for c in cells.values())]
    heads = {res["task"]["name"]: res["task"]["main_score"] for res in results}
    if worst:
        for model, row in cells.items():
            if all(t in row for t in tasks):
                low = min((row[t] for t in tasks), key=lambda r: r["value"])
                row["worst"] = {**low, "task": next(t for t in tasks if row[t] is low)}
        heads["worst"] = "lowest of the group"
        tasks = ["worst", *tasks]
    lines = [
        "| model | " + " | ".join(f"{t}<br>`{heads[t]}`" for t in tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]

    def sort_key(model: str) -> tuple[int, float, str]:
        """Best first on the first task; models without it after those, by name."""
        v = cells[model].get(tasks[0], {}).get("value") if tasks else None
        return (0, -v, model) if v is not None else (1, 0.0, model)

    for model in sorted(cells, key=sort_key):
        vals = [
            _fmt(r["value"], r["spread"], r.get("seed_std"), len(r.get("seeds", [])))
            + (f" ({r['task']})" if t == "worst" else "")
            if (r := cells[model].get(t))
            else ""
            for t in tasks
        ]
        lines.append(f"| {model} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def task_table(
    task: str, results: Iterable[dict[str, Any]], tier: str, revisions: bool = True
) -> str:
    """The Markdown table of one task at one tier over the given result files."""
    metrics: list[str] = []
    cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for res in results:
        run = res["runs"].get(tier)
        if res["task"]["name"] != task or run is None:
            continue
        model = _model_key(res, revisions)
        for row in run["results"]:
            if row["metric"] not in metrics:
                metrics.append(row["metric"])
            cells[(model, row["evaluation"])][row["metric"]] = _fmt(
                row["value"], row["spread"], row.get("seed_std"), len(row.get("seeds", []))
            )
    keys = sorted(cells, key=lambda k: (k[0], _eval_sort_key(k[1])))
    lines = [
        "| model | evaluation | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for model, evaluation in keys:
        vals = [cells[(model, evaluation)].get(m, "") for m in metrics]
        lines.append(f"| {model} | {_label(evaluation)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def plot_roc(
    task: str, curves: list[tuple[str, str, str, np.ndarray, np.ndarray]], path: Path
) -> Path:
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
            ax.plot(
                tpr[ok],
                1.0 / fpr[ok],
                "--" if dashed else "-",
                lw=1.3,
                color=colors[model],
                label=f"{model}: {evaluation} (AUC {auc:.3f})",
            )
        ax.set_yscale("log")
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("background rejection 1/eps_b")
        ax.set_title(f"{task}: {label} (best evaluation per model)", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, loc="upper right")
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


def label_efficiency_lines(
    results: Iterable[dict[str, Any]], task: str, tier: str
) -> dict[str, list[tuple[float, float, float]]]:
    """``"model: evaluation" -> [(label fraction, value, seed std)]`` of the task's main metric
    for every fine-tuning evaluation scored at two or more label fractions."""
    lines: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for res in results:
        run = res["runs"].get(tier)
        if res["task"]["name"] != task or run is None:
            continue
        metric = res["task"]["main_score"].split("/", 1)[1]
        for row in run["results"]:
            m = _FRACTION.match(row["evaluation"])
            if m is None or row["metric"] != metric or row.get("value") is None:
                continue
            key = f"{res['model']['id']}: {m.group(1)}"
            lines[key].append((float(m.group(2)) / 100, row["value"], row.get("seed_std") or 0.0))
    return {k: sorted(v) for k, v in sorted(lines.items()) if len({f for f, _, _ in v}) >= 2}


def plot_label_efficiency(
    title: str, metric: str, lines: dict[str, list[tuple[float, float, float]]], path: Path
) -> Path:
    """One PNG: the main metric against the labelled fraction, a line per model and
    evaluation, a band of +- the standard deviation over seeds; baselines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    cmap = plt.get_cmap("tab10")
    for i, (label, points) in enumerate(lines.items()):
        f, v, sd = (np.array(x, dtype=float) for x in zip(*points))
        dashed = label.endswith(": supervised") or "random-init" in label
        ax.plot(f, v, "--" if dashed else "-", marker="o", color=cmap(i % 10), label=label)
        ax.fill_between(f, v - sd, v + sd, color=cmap(i % 10), alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("labelled fraction of the training split")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


CSV_COLUMNS = (
    "model",
    "identity_sha256",
    "weights_sha256",
    "config_sha256",
    "task",
    "tier",
    "evaluation",
    "metric",
    "value",
    "spread",
    "seed_std",
    "n",
    "label_fraction",
    "baseline",
    "dataset",
    "dataset_sha256",
    "jetzoo_version",
    "jetzoo_commit",
    "date",
)


def results_csv(results: Iterable[dict[str, Any]], path: Path) -> Path:
    """``path``: one row per model x task x tier x evaluation x metric of the store (the long
    format that pandas and spreadsheets read), sorted by model, task and identity, written
    atomically."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()

    def order(r: dict[str, Any]) -> tuple[str, str, str]:
        return r["model"]["id"], r["task"]["name"], r["model"].get("identity_sha256", "")

    for res in sorted(results, key=order):
        m = res["model"]
        for tier in TIER_ORDER:
            run = res["runs"].get(tier)
            if run is None:
                continue
            for row in run["results"]:
                scored = row.get("scored", run)  # a row kept from an earlier run: its own
                writer.writerow(
                    {
                        "model": m["id"],
                        "identity_sha256": m.get("identity_sha256", ""),
                        "weights_sha256": m["weights_sha256"],
                        "config_sha256": m.get("config_sha256", ""),
                        "task": res["task"]["name"],
                        "tier": tier,
                        "evaluation": row["evaluation"],
                        "metric": row["metric"],
                        "value": row["value"],
                        "spread": row["spread"],
                        "seed_std": row.get("seed_std", ""),
                        "n": row["n"],
                        "label_fraction": row.get("label_fraction", ""),
                        "baseline": row.get("baseline", ""),
                        "dataset": run["dataset"].get("name", ""),
                        "dataset_sha256": run["dataset"]["sha256"],
                        "jetzoo_version": scored["jetzoo_version"],
                        "jetzoo_commit": scored.get("jetzoo_commit") or "",
                        "date": scored["date"],
                    }
                )
    atomic_write_text(path, buf.getvalue())
    return path


def _intro() -> list[str]:
    return [
        "Generated by `jetzoo leaderboard render` from the result store "
        "`leaderboard/results/<model>/<identity-sha12>/<task>.json` (schema: "
        "`jetzoo/leaderboard/schema.py`). Cells are `value ± spread`: the metric on the "
        "task's whole test split and the standard deviation over bootstrap resamples of it; "
        "fine-tuning rows are the mean over seeds, with the standard deviation over seeds "
        "beside. Tiers: **standard** (the pinned benchmark sets, `jetzoo/data/catalog.py`), "
        "**paper** (the jBOT paper's fine-tuning protocol on the same sets), **quick** (the "
        "embedded sample: a format check for CI, too small to rank models).",
        "",
    ]


def _revision_table(results: list[dict[str, Any]]) -> list[str]:
    """One row per model identity: hashes, recipe, tiers, version, date, overrides."""
    lines = [
        "The identity is the sha256 of the weights *and* the architecture config (results "
        "and cached embeddings are keyed by it); `-` under config: scored before results "
        "recorded the config (keyed by the weights alone).",
        "",
        "| model | identity | weights sha256 | config sha256 | recipe | tiers | jetzoo | "
        "last scored | overrides |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_model[_model_key(r)].append(r)
    for key, rs in by_model.items():
        m = rs[0]["model"]
        runs = [run for r in rs for run in r["runs"].values()]
        scored = sorted({t for r in rs for t in r["runs"]}, key=TIER_ORDER.index)
        overrides = sorted({format_settings(run.get("overrides")) for run in runs} - {""})
        config = f"`{m['config_sha256'][:12]}`" if "config_sha256" in m else "-"
        lines.append(
            f"| {m['id']} | `{m.get('identity_sha256', m['weights_sha256'])[:12]}` | "
            f"`{m['weights_sha256'][:12]}` | {config} | {m.get('recipe') or ''} | "
            f"{', '.join(scored)} | {max(run['jetzoo_version'] for run in runs)} | "
            f"{max(run['date'] for run in runs)[:10]} | "
            f"{'; '.join(overrides) or 'none'} |"
        )
    return lines + [""]


def _entries_table(results: list[dict[str, Any]]) -> list[str]:
    """One row per model: what it is, its main revision and what it was trained on."""
    lines = [
        "| model | entry | identity | parameters | licence | pre-training data | jets seen "
        "in pre-training | recipe |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in board.entries(results):
        params = board.human_count(e.params)
        lines.append(
            f"| {e.model} | {e.kind} | `{e.identity[:12]}` | {params} | {e.licence} | "
            f"{e.pretraining_data} | {board.human_count(e.jets_seen)} | {e.recipe} |"
        )
    return lines + [""]


def _main_tables(
    results: list[dict[str, Any]],
    tiers: list[str],
    tasks: list[str],
    revisions: bool,
    groups: dict[str, str] | None = None,
) -> list[str]:
    """Per tier: one main-score table per task family, then one per task group (``groups``:
    task -> group; a group's tasks leave the family table) with the group's worst score."""
    groups = groups or {}
    lines: list[str] = []
    families = list(dict.fromkeys(r["task"]["family"] for r in results))
    for tier in tiers:
        if not any(tier in r["runs"] for r in results):
            continue
        lines += [f"## Tier `{tier}`: main scores", ""]
        for family in families:  # one table per task family: models of one data family
            mine = [
                r
                for r in results
                if r["task"]["family"] == family and r["task"]["name"] not in groups
            ]
            if any(tier in r["runs"] for r in mine):
                names = [t for t in tasks if any(r["task"]["name"] == t for r in mine)]
                lines += [main_score_table(mine, tier, names, revisions), ""]
        for group in dict.fromkeys(groups.values()):
            mine = [r for r in results if groups.get(r["task"]["name"]) == group]
            if any(tier in r["runs"] for r in mine):
                names = [t for t in tasks if any(r["task"]["name"] == t for r in mine)]
                lines += [
                    f"Task group `{group}` ({len(names)} tasks), worst task first:",
                    "",
                    main_score_table(mine, tier, names, revisions, worst=True),
                    "",
                ]
    return lines


def render(results_dir: str | Path = DEFAULT_RESULTS, out: str | Path = DEFAULT_OUT) -> Path:
    """Write ``<out>/README.md`` (the board: one row per model, its main revision; main scores
    per tier, one table per task and tier), ``<out>/history.md`` (every revision),
    ``<out>/results.csv`` (every row of the store, :func:`results_csv`) and
    ``<out>/roc/<task>-<tier>.png`` from the store in ``results_dir``. Returns the README."""
    out = Path(out)
    loaded = load_results(results_dir)
    results = [r for _, r, _ in loaded]
    current, older = board.split_revisions(results)
    main_ids = {(r["model"]["id"], board.identity_of(r)) for r in current}
    descriptions, kinds, groups = _task_info()
    tasks = sorted(
        dict.fromkeys(r["task"]["name"] for r in results), key=lambda t: (kinds.get(t, 9), t)
    )
    tiers = [t for t in TIER_ORDER if any(t in r["runs"] for r in results)]
    lines = ["# jetzoo leaderboard", "", *_intro()]
    lines += [
        "One row per model: a shipped model's main revision is its shipped weights; older "
        "revisions are on the [history page](history.md). Baselines are marked: random init "
        "(the architecture untrained) and published weights (imported for their results); the "
        "supervised-from-scratch baseline is a row of each task table.",
        "",
        *_entries_table(results),
        *_main_tables(current, tiers, tasks, revisions=False, groups=groups),
    ]
    for tier in tiers:
        for task in tasks:
            runs = [
                (r, r["runs"][tier])
                for r in current
                if r["task"]["name"] == task and tier in r["runs"]
            ]
            if not runs:
                continue
            lines += [f"## {task} (tier `{tier}`)", ""]
            if descriptions.get(task):
                lines += [descriptions[task].strip(), ""]
            data = sorted(
                {
                    (
                        run["dataset"].get("name", "?"),
                        run["dataset"]["sha256"][:12],
                        run["dataset"].get("n_test"),
                    )
                    for _, run in runs
                }
            )
            lines += [
                "Data: " + ", ".join(f"{n} `{sha}` ({t} test jets)" for n, sha, t in data),
                "",
            ]
            lines += [task_table(task, current, tier, revisions=False), ""]
            curves = [
                (r["model"]["id"], c["evaluation"], c["label"], *roc[c["key"]])
                for _, r, roc in loaded
                if r["task"]["name"] == task
                and (r["model"]["id"], board.identity_of(r)) in main_ids
                for c in r.get("roc", {}).get("curves", [])
                if c["tier"] == tier
            ]
            if curves:
                png = plot_roc(f"{task} ({tier})", curves, out / "roc" / f"{task}-{tier}.png")
                lines += [f"![ROC curves of {task}, tier {tier}](roc/{png.name})", ""]
            efficiency = label_efficiency_lines(current, task, tier)
            if efficiency:
                metric = runs[0][0]["task"]["main_score"].split("/", 1)[1]
                png = plot_label_efficiency(
                    f"{task} ({tier}): fine-tuning against labelled fraction",
                    metric,
                    efficiency,
                    out / "label-efficiency" / f"{task}-{tier}.png",
                )
                lines += [
                    f"![label efficiency of {task}, tier {tier}](label-efficiency/{png.name})",
                    "",
                ]
    history = [
        "# jetzoo leaderboard: every revision",
        "",
        "Every model identity in the store (the [board](README.md) ranks one revision per "
        "model), and the main scores of the older revisions.",
        "",
        *_revision_table(results),
        *_main_tables(older, tiers, tasks, revisions=True, groups=groups),
    ]
    readme = out / "README.md"
    results_csv(results, out / "results.csv")
    atomic_write_text(out / "history.md", "\n".join(history))
    atomic_write_text(readme, "\n".join(lines))
    return readme


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        default=str(DEFAULT_RESULTS),
        help="folder of result files (default: leaderboard/results)",
    )
    parser.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        help="output folder for README.md and roc/*.png (default: leaderboard)",
    )


def main(args: argparse.Namespace) -> int:
    try:
        path = render(args.results, args.out)
    except ResultFileError as err:
        print(f"jetzoo leaderboard render: refused: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
