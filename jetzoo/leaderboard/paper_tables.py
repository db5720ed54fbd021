"""``jetzoo leaderboard table {jbot,rs3l}``: the jBOT and RS3L papers' tables, from the store.

``jbot`` prints the layout of the jBOT paper's Tables 2-4 (Tsoi and Rankin): five-class
accuracy and per-class AUC, top tagging (accuracy, AUC, signal efficiency at background
efficiency 0.1 and 0.01), each with the frozen k-NN and linear probes and the fine-tuned models
against supervised training from scratch at 10% and 100% of the labels; anomaly AUC per signal
(W, Z, t, combined) for the four embedding scores. ``rs3l`` prints the RS3L numbers (Rieck et
al.): the frozen k-NN's gluon and tau tagging, and LoRA fine-tuning against supervised training
by label fraction. Rows of our models (the board's main revisions, standard tier) stand beside
the published ones; a cell the store does not hold reads ``not scored``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jetzoo.leaderboard import board
from jetzoo.leaderboard.schema import ResultFileError

#: (model label, task, evaluation) rows of the jBOT paper's Tables 2-4, as printed there:
#: column -> value (their spreads are left out)
JBOT_PAPER: dict[str, dict[str, dict[str, float]]] = {
    "jetnet-5class": {
        "k-NN (jBOT-S)": {
            "accuracy": 0.7102,
            "auc[q]": 0.8869,
            "auc[g]": 0.8943,
            "auc[w]": 0.9272,
            "auc[z]": 0.9070,
            "auc[t]": 0.9209,
        },
        "Linear (jBOT-S)": {
            "accuracy": 0.6743,
            "auc[q]": 0.8702,
            "auc[g]": 0.8796,
            "auc[w]": 0.8904,
            "auc[z]": 0.8820,
            "auc[t]": 0.9166,
        },
        "k-NN (jBOT-B)": {
            "accuracy": 0.7053,
            "auc[q]": 0.8859,
            "auc[g]": 0.8883,
            "auc[w]": 0.9209,
            "auc[z]": 0.9057,
            "auc[t]": 0.9218,
        },
        "Linear (jBOT-B)": {
            "accuracy": 0.6942,
            "auc[q]": 0.8767,
            "auc[g]": 0.8820,
            "auc[w]": 0.9107,
            "auc[z]": 0.9019,
            "auc[t]": 0.9203,
        },
        "Sup.-S (10%)": {
            "accuracy": 0.7251,
            "auc[q]": 0.8908,
            "auc[g]": 0.8966,
            "auc[w]": 0.9463,
            "auc[z]": 0.929,
            "auc[t]": 0.9335,
        },
        "jBOT-S (10%)": {
            "accuracy": 0.7425,
            "auc[q]": 0.9004,
            "auc[g]": 0.9061,
            "auc[w]": 0.9541,
            "auc[z]": 0.9359,
            "auc[t]": 0.9427,
        },
        "Sup.-S (100%)": {
            "accuracy": 0.7431,
            "auc[q]": 0.8987,
            "auc[g]": 0.907,
            "auc[w]": 0.9535,
            "auc[z]": 0.9359,
            "auc[t]": 0.9427,
        },
        "jBOT-S (100%)": {
            "accuracy": 0.7526,
            "auc[q]": 0.9074,
            "auc[g]": 0.9177,
            "auc[w]": 0.9573,
            "auc[z]": 0.9387,
            "auc[t]": 0.9477,
        },
        "Sup.-B (10%)": {
            "accuracy": 0.7379,
            "auc[q]": 0.9007,
            "auc[g]": 0.907,
            "auc[w]": 0.9517,
            "auc[z]": 0.9333,
            "auc[t]": 0.945,
        },
        "jBOT-B (10%)": {
            "accuracy": 0.7499,
            "auc[q]": 0.9078,
            "auc[g]": 0.9174,
            "auc[w]": 0.9557,
            "auc[z]": 0.9372,
            "auc[t]": 0.9479,
        },
        "Sup.-B (100%)": {
            "accuracy": 0.7604,
            "auc[q]": 0.9135,
            "auc[g]": 0.9231,
            "auc[w]": 0.9596,
            "auc[z]": 0.943,
            "auc[t]": 0.9518,
        },
        "jBOT-B (100%)": {
            "accuracy": 0.7643,
            "auc[q]": 0.9155,
            "auc[g]": 0.9255,
            "auc[w]": 0.9605,
            "auc[z]": 0.9443,
            "auc[t]": 0.9538,
        },
    },
    "top-tagging": {
        "k-NN (jBOT-S)": {
            "accuracy": 0.8777,
            "auc": 0.9447,
            "eff_s@eff_b=0.1": 0.8352,
            "eff_s@eff_b=0.01": 0.3337,
        },
        "Linear (jBOT-S)": {
            "accuracy": 0.8709,
            "auc": 0.9355,
            "eff_s@eff_b=0.1": 0.8115,
            "eff_s@eff_b=0.01": 0.2408,
        },
        "k-NN (jBOT-B)": {
            "accuracy": 0.8793,
            "auc": 0.9475,
            "eff_s@eff_b=0.1": 0.8402,
            "eff_s@eff_b=0.01": 0.3494,
        },
        "Linear (jBOT-B)": {
            "accuracy": 0.8765,
            "auc": 0.9438,
            "eff_s@eff_b=0.1": 0.8344,
            "eff_s@eff_b=0.01": 0.3892,
        },
        "Sup.-S (10%)": {
            "accuracy": 0.8723,
            "auc": 0.9368,
            "eff_s@eff_b=0.1": 0.8172,
            "eff_s@eff_b=0.01": 0.2166,
        },
        "jBOT-S (10%)": {
            "accuracy": 0.8807,
            "auc": 0.9499,
            "eff_s@eff_b=0.1": 0.8559,
            "eff_s@eff_b=0.01": 0.4306,
        },
        "Sup.-S (100%)": {
            "accuracy": 0.8852,
            "auc": 0.9524,
            "eff_s@eff_b=0.1": 0.8659,
            "eff_s@eff_b=0.01": 0.4474,
        },
        "jBOT-S (100%)": {
            "accuracy": 0.8875,
            "auc": 0.9554,
            "eff_s@eff_b=0.1": 0.8712,
            "eff_s@eff_b=0.01": 0.4814,
        },
        "Sup.-B (10%)": {
            "accuracy": 0.8784,
            "auc": 0.9467,
            "eff_s@eff_b=0.1": 0.8429,
            "eff_s@eff_b=0.01": 0.4131,
        },
        "jBOT-B (10%)": {
            "accuracy": 0.8862,
            "auc": 0.9542,
            "eff_s@eff_b=0.1": 0.8665,
            "eff_s@eff_b=0.01": 0.4843,
        },
        "Sup.-B (100%)": {
            "accuracy": 0.8899,
            "auc": 0.9569,
            "eff_s@eff_b=0.1": 0.8756,
            "eff_s@eff_b=0.01": 0.5021,
        },
        "jBOT-B (100%)": {
            "accuracy": 0.8911,
            "auc": 0.9584,
            "eff_s@eff_b=0.1": 0.8771,
            "eff_s@eff_b=0.01": 0.5122,
        },
    },
    "anomaly-qcd": {
        "CNNAE": {"auc[w]": 0.6886, "auc[z]": 0.7247, "auc[t]": 0.8962, "auc[union]": 0.7700},
        "GNNAE": {"auc[w]": 0.7558, "auc[z]": 0.7805, "auc[t]": 0.8917, "auc[union]": 0.8195},
        "LGAE": {"auc[w]": 0.7489, "auc[z]": 0.7909, "auc[t]": 0.8669, "auc[union]": 0.8313},
        "jBOT-S (k-NN)": {
            "auc[w]": 0.8072,
            "auc[z]": 0.8355,
            "auc[t]": 0.8356,
            "auc[union]": 0.8261,
        },
        "jBOT-S (Cosine)": {
            "auc[w]": 0.8064,
            "auc[z]": 0.8355,
            "auc[t]": 0.8388,
            "auc[union]": 0.8269,
        },
        "jBOT-S (Maha.)": {
            "auc[w]": 0.7431,
            "auc[z]": 0.7821,
            "auc[t]": 0.8620,
            "auc[union]": 0.7957,
        },
        "jBOT-S (GMM)": {
            "auc[w]": 0.8062,
            "auc[z]": 0.8204,
            "auc[t]": 0.8197,
            "auc[union]": 0.8155,
        },
    },
}

JBOT_COLUMNS = {
    "jetnet-5class": ("accuracy", "auc[q]", "auc[g]", "auc[w]", "auc[z]", "auc[t]"),
    "top-tagging": ("accuracy", "auc", "eff_s@eff_b=0.1", "eff_s@eff_b=0.01"),
    "anomaly-qcd": ("auc[w]", "auc[z]", "auc[t]", "auc[union]"),
}
JBOT_TITLES = {
    "jetnet-5class": "Table 2: five-class classification (accuracy, AUC per class)",
    "top-tagging": "Table 3: top tagging (accuracy, AUC, signal efficiency at eff_b 0.1, 0.01)",
    "anomaly-qcd": "Table 4: anomaly detection, W, Z, t and combined against q, g (AUC)",
}
ANOMALY_SCORES = (
    ("anomaly-knn", "k-NN"),
    ("anomaly-cosine", "Cosine"),
    ("anomaly-mahalanobis", "Maha."),
    ("anomaly-gmm", "GMM"),
)
#: the RS3L slides (Rieck et al.): frozen k-NN (k = 10) finds 71% of gluon and 97% of tau jets
RS3L_PAPER_KNN = {"rs3l-gluon-tagging": 0.71, "rs3l-tau-tagging": 0.97}


def _scores(results: list[dict[str, Any]], tier: str) -> dict[tuple[str, str, str, str], float]:
    """(model, task, evaluation, metric) -> value, over the board's main revisions."""
    current, _ = board.split_revisions(results)
    out = {}
    for r in current:
        run = r["runs"].get(tier)
        for row in (run or {}).get("results", []):
            if row.get("value") is not None:
                out[(r["model"]["id"], r["task"]["name"], row["evaluation"], row["metric"])] = row[
                    "value"
                ]
    return out


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, list[Any]]]) -> str:
    lines = [f"## {title}", "", "| model | " + " | ".join(columns) + " |"]
    lines.append("|---|" + "---|" * len(columns))
    for label, cells in rows:
        text = [
            "not scored" if c is None else (f"{c:.4f}" if isinstance(c, float) else str(c))
            for c in cells
        ]
        lines.append(f"| {label} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def jbot_tables(results: list[dict[str, Any]], tier: str = "standard") -> str:
    """jBOT's Tables 2-4: the paper's rows, then ours from the store."""
    scores = _scores(results, tier)
    out = [
        f"# The jBOT paper's tables (Tsoi and Rankin), ours from the store (tier {tier})",
        "",
        "The paper's rows are its printed values (real JetNet jets, its own splits); ours score "
        "the pinned jetzoo sets, so compare rows of one source with each other and the gap "
        "between a model and its baselines across sources.",
    ]
    for task, columns in JBOT_COLUMNS.items():
        rows: list[tuple[str, list[Any]]] = [
            (f"paper: {label}", [values.get(c) for c in columns])
            for label, values in JBOT_PAPER[task].items()
        ]
        if task == "anomaly-qcd":
            for model in ("jbot-s-qcd", "jbot-s-qcd-published", "jbot-s-qcd-random-init"):
                for evaluation, name in ANOMALY_SCORES:
                    cells = [scores.get((model, task, evaluation, c)) for c in columns]
                    if any(v is not None for v in cells):
                        rows.append((f"{model} ({name})", cells))
        else:
            models = ("jbot-s", "jbot-b", "jetclr", "jbot-s-published", "jbot-b-published")
            for model in models:
                for evaluation, name in (("knn", "k-NN"), ("linear", "Linear")):
                    cells = [scores.get((model, task, evaluation, c)) for c in columns]
                    rows.append((f"{name} ({model})", cells))
            for model in ("jbot-s", "jbot-b"):
                for fraction in ("10%", "100%"):
                    for evaluation, name in (
                        (f"supervised-{fraction}", f"Sup. ({model}, {fraction})"),
                        (f"finetune-llrd-{fraction}", f"{model} LLRD ({fraction})"),
                    ):
                        cells = [scores.get((model, task, evaluation, c)) for c in columns]
                        rows.append((name, cells))
        out += ["", _table(JBOT_TITLES[task], columns, rows)]
    return "\n".join(out) + "\n"


def rs3l_tables(results: list[dict[str, Any]], tier: str = "standard") -> str:
    """The RS3L numbers: frozen k-NN gluon and tau tagging; LoRA against supervised training."""
    scores = _scores(results, tier)
    columns = ("accuracy", "auc", "eff_s@eff_b=0.1")
    out = [f"# The RS3L numbers (Rieck et al.), ours from the store (tier {tier})"]
    for task in ("rs3l-gluon-tagging", "rs3l-tau-tagging"):
        rows: list[tuple[str, list[Any]]] = []
        for model in ("rs3l", "rs3l-random-init"):
            for evaluation in ("knn", "linear"):
                rows.append(
                    (
                        f"{model} {evaluation}",
                        [scores.get((model, task, evaluation, c)) for c in columns],
                    )
                )
            for fraction in ("1%", "10%", "100%"):
                for evaluation in (f"finetune-lora-{fraction}", f"supervised-{fraction}"):
                    rows.append(
                        (
                            f"{model} {evaluation}",
                            [scores.get((model, task, evaluation, c)) for c in columns],
                        )
                    )
        kind = task.split("-")[1]
        out += [
            "",
            _table(task, columns, rows),
            "",
            f"The paper's frozen k-NN (k = 10) finds {RS3L_PAPER_KNN[task]:.0%} of the {kind} "
            "jets (its slides); the rows above are the binary task's scores.",
        ]
    return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paper", choices=("jbot", "rs3l"), help="whose tables")
    parser.add_argument(
        "--results", type=Path, default=Path("leaderboard/results"), help="the result store"
    )
    parser.add_argument("--tier", default="standard", help="which tier's runs (default standard)")


def main(args: argparse.Namespace) -> int:
    from jetzoo.leaderboard.render import load_results

    try:
        results = [r for _, r, _ in load_results(args.results)]
    except ResultFileError as err:
        print(f"jetzoo leaderboard table: error: {err}", file=sys.stderr)
        return 1
    render = jbot_tables if args.paper == "jbot" else rs3l_tables
    print(render(results, args.tier))
    return 0
