"""Model cards: ``README.md`` of a saved backbone, with Hugging Face YAML metadata.

The text lives in the package template ``jetzoo/templates/model_card.md`` (``string.Template``
placeholders); this module fills it from a ``config.json`` dict (see :mod:`jetzoo.models.zoo`).
The front matter (``library_name: jetzoo``, ``license``, ``tags``, ``datasets``, ``metrics``,
``model-index``) is what ``huggingface_hub.ModelCard`` parses.

Render the card of a saved folder into ``model_cards/``::

    python -m jetzoo.models.model_card runs/jbot-b/backbone -o model_cards/jbot-b.md
"""

from __future__ import annotations

import argparse
import json
import math
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

TEMPLATE = "model_card.md"
BASE_TAGS = ("jet-physics", "jetzoo", "self-supervised")
_TASK_KEYS = ("task", "metric", "value")


def load_template() -> Template:
    """The card template shipped as package data."""
    return Template(resources.files("jetzoo").joinpath("templates", TEMPLATE).read_text())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def normalize_results(results: Any, default_dataset: str = "jetnet") -> list[dict[str, Any]]:
    """Leaderboard results as a list of ``{task, evaluation, metric, value, dataset, split,
    task_type}`` (``value`` may be None: not defined, e.g. a rejection with no background).

    Accepts ``None``; a list of dicts with ``task``, ``metric``, ``value`` (optional
    ``evaluation``, ``label_fraction``, ``dataset``, ``split``, ``task_type``); a leaderboard
    result file ``{"results": [...], ...}`` (:mod:`jetzoo.leaderboard.schema`; a shipped card's
    ``datasets`` map names each task's data once); or a mapping ``{task: {metric: value}}``. A
    ``ValueError`` names the offending entry.
    """
    if results is None:
        return []
    if isinstance(results, dict) and "results" in results:
        datasets = results.get("datasets") or {}
        rows = [
            {
                "dataset": datasets.get(r.get("task"), {}).get("name"),
                "dataset_sha256": datasets.get(r.get("task"), {}).get("sha256"),
                **r,
            }
            if isinstance(r, dict)
            else r
            for r in results["results"]
        ]
        return normalize_results(rows, default_dataset)
    rows: list[dict[str, Any]] = []
    if isinstance(results, dict):
        for task, metrics in results.items():
            if not isinstance(metrics, dict):
                raise ValueError(f"results[{task!r}]: expected {{metric: value}}, got {metrics!r}")
            rows.extend({"task": task, "metric": m, "value": v} for m, v in metrics.items())
    elif isinstance(results, list):
        rows = list(results)
    else:
        raise ValueError(f"results: expected a list or a dict, got {type(results).__name__}")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or any(k not in row for k in _TASK_KEYS):
            raise ValueError(f"results[{i}]: needs fields {', '.join(_TASK_KEYS)}, got {row!r}")
        value = row["value"]
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValueError(
                f"results[{i}] field 'value': expected a finite number or null, got {value!r}"
            )
        evaluation = str(row.get("evaluation") or "")
        if row.get("label_fraction") is not None:  # unless the name says it (finetune-llrd-1%)
            fraction = f"{float(row['label_fraction']):.0%}"
            if not evaluation.endswith(fraction):
                evaluation += f", {fraction} labels"
        out.append(
            {
                "task": str(row["task"]),
                "evaluation": evaluation.strip(", "),
                "metric": str(row["metric"]),
                "value": None if value is None else float(value),
                "dataset": str(row.get("dataset") or default_dataset),
                "dataset_revision": row.get("dataset_sha256"),
                "split": str(row.get("split") or "test"),
                "task_type": str(row.get("task_type") or _slug(row["task"])),
            }
        )
    return out


def _task_label(row: dict[str, Any]) -> str:
    return f"{row['task']} ({row['evaluation']})" if row["evaluation"] else row["task"]


def main_metrics(results: Any) -> dict[str, str]:
    """task -> its main metric (``knn/accuracy`` -> ``accuracy``), from the provenance block
    ``jetzoo ship`` keeps (empty when not recorded)."""
    main = results.get("main") if isinstance(results, dict) else None
    return {str(t): str(m).split("/", 1)[-1] for t, m in (main or {}).items()}


def card_metadata(config: dict[str, Any], license: str = "mit") -> dict[str, Any]:
    """The YAML front matter of the card of ``config`` (a config.json dict), built with
    ``huggingface_hub.ModelCardData``: one model-index result per (task, evaluation), with a
    task type of its own (``jetnet-5class-knn``), so that the Hub groups nothing together, and
    only the task's main metric (every metric of an entry when the main one is not recorded;
    the full table is in the card's body). Each result names its evaluation dataset and, where
    the leaderboard recorded it, the dataset's sha256 as ``dataset_revision``."""
    from huggingface_hub import EvalResult, ModelCardData

    recipe = config.get("recipe") or {}
    dataset = config.get("dataset") or {}
    recipe_name = recipe.get("recipe") or recipe.get("name")
    dataset_name = dataset.get("name") or "jetnet"
    tags = list(BASE_TAGS)
    if recipe_name:
        tags.append(_slug(recipe_name))
    main = main_metrics(config.get("results"))
    entries: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in normalize_results(config.get("results"), dataset_name):
        if r["value"] is None or (r["task"] in main and r["metric"] != main[r["task"]]):
            continue
        entries.setdefault((r["task"], r["evaluation"]), {}).setdefault(_slug(r["metric"]), r)
    evals = [
        EvalResult(
            task_type=_slug(f"{task} {evaluation}"),
            task_name=_task_label(r),
            dataset_type=_slug(r["dataset"]),
            dataset_name=r["dataset"],
            dataset_split=r["split"],
            dataset_revision=r.get("dataset_revision"),
            metric_type=metric_type,
            metric_name=r["metric"],
            metric_value=r["value"],
        )
        for (task, evaluation), metrics in entries.items()
        for metric_type, r in metrics.items()
    ]
    data = ModelCardData(
        library_name="jetzoo",
        license=license,
        tags=tags,
        datasets=[dataset_name] if dataset.get("name") else None,
        metrics=sorted({e.metric_type for e in evals}) or None,
        model_name=str(config.get("model_name", "model")) if evals else None,
        eval_results=evals or None,
    )
    meta = data.to_dict()
    if not evals:
        meta.pop("model_name", None)
    return meta


#: what to cite, per pre-training recipe (and per data family)
CITATIONS: dict[str, tuple[str, ...]] = {
    "jbot": (
        "H. F. Tsoi and D. Rankin, *jBOT: Semantic Jet Representation Clustering Emerges from "
        "Self-Distillation*, submitted to SciPost Physics (the method).",
    ),
    "jetclr": (
        "B. M. Dillon, G. Kasieczka, H. Olischläger, T. Plehn, P. Sorrenson and L. Vogel, "
        "*Symmetries, safety, and self-supervision*, SciPost Phys. 12, 188 (2022) (the method).",
    ),
    "rs3l": (
        "P. Harris, M. Kagan, J. Krupa, B. Maier and N. Woodward, *Re-simulation-based "
        "self-supervised learning for pre-training foundation models*, Phys. Rev. D 111, 032010 "
        "(2025) (the method).",
        "P. Rieck et al., *Self-Supervised Learning Strategies for Jet Physics* (2025) (the "
        "track and calorimeter-cell backbone, rank-1 LoRA fine-tuning, the dark-jet tasks).",
    ),
    "autoencoder": (
        "P. Rieck et al., *Self-Supervised Learning Strategies for Jet Physics* (2025), Sec. "
        "5.4-5.5 (the autoencoder baseline).",
        "A. Bardes, J. Ponce and Y. LeCun, *VICReg: Variance-Invariance-Covariance "
        "Regularization for Self-Supervised Learning*, ICLR (2022) (the variance and "
        "covariance terms).",
    ),
    "jetnet": (
        "R. Kansal et al., *Particle Cloud Generation with Message Passing Generative "
        "Adversarial Networks*, NeurIPS (2021); JetNet, doi:10.5281/zenodo.6975118 (the data "
        "format).",
    ),
}


def _citations(recipe_name: str | None, family: str) -> str:
    items = list(CITATIONS.get(str(recipe_name), ()))
    if family == "jetnet":
        items += CITATIONS["jetnet"]
    items.append("jetzoo: the `CITATION.cff` of its repository (the software).")
    return "\n".join(f"- {item}" for item in items)


def _limitations(config: dict[str, Any], family: str) -> str:
    """What the model was trained on and where it was measured to hold (and not)."""
    dataset = config.get("dataset") or {}
    classes = dataset.get("classes")
    data = f"`{Path(str(dataset['path'])).name}`" if dataset.get("path") else "an unrecorded set"
    if config["backbone"].get("arch") == "jet_classifier":
        return (
            f"A classifier fine-tuned on {data}: it is meant for jets like those, and its "
            "probabilities are calibrated on them only. Check it on held-out jets of your own "
            "setting before use."
        )
    if family == "rs3l":
        return (
            f"Pre-trained on RS3L pairs ({data}): Pythia 8 at 13 TeV, anti-kT R = 0.4 jets of "
            "pT > 50 GeV from light quarks, gluons and taus, through jetzoo's parametric "
            "detector (tracks, calorimeter cells). Meant for the re-simulation tasks "
            "(quark/gluon, tau tagging, dark-jet anomalies) and as a starting point for "
            "fine-tuning on detector-level jets; its inputs are this detector's tracks and "
            "cells, not another experiment's reconstruction."
        )
    which = f" of the classes {', '.join(classes)}" if classes else ""
    mixture = dataset.get("mixture")
    if mixture:
        names = ", ".join(f"`{c['name']}`" for c in mixture)
        trained = (
            f"Pre-trained on simulated JetNet-like jets{which} ({data}), a mixture of "
            f"{len(mixture)} generator settings ({names}: Pythia 8 at 13 TeV, pT 300 GeV to "
            "1.7 TeV, anti-kT R = 0.8 and 0.4, underlying event on and off, Monash and A14 "
            "tunes, another string fragmentation) at particle level (no detector)."
        )
    else:
        trained = (
            f"Pre-trained on simulated JetNet-like jets{which} ({data}): Pythia 8 at 13 TeV, "
            "default tune, no underlying event, anti-kT R = 0.8, jets of 800-1600 GeV at "
            "particle level (no detector)."
        )
    start = (config.get("training") or {}).get("init_from")
    if isinstance(start, dict) and start.get("source"):
        seen = f", trained on `{Path(str(start['dataset'])).name}`" if start.get("dataset") else ""
        epochs = f" after {start['epochs']} epochs" if start.get("epochs") else ""
        trained += (
            f" The run started from the weights of `{start['source']}`{epochs}{seen} "
            "(`init_from`), and went on from there."
        )
    return "\n".join(
        [
            f"{trained} Meant for frozen embeddings (tagging, anomaly searches) on such jets "
            "and as a starting point for fine-tuning.",
            "",
            _measured_transfer(config)
            or "Not measured here on other generator settings (the leaderboard's `transfer-*` "
            "tasks).",
            "",
            "Measured shift of a classifier: trained on JetNet-recipe jets (underlying event "
            "on, parton pT in 1 TeV ± 0.5%) it scores 0.641 on them and 0.554-0.574 on jets "
            'without that pT window (`benchmarks/domain_shift.py`, the notes "Our jets against '
            "JetNet's\"). Not measured: detector-level inputs. Fine-tune on, or at least check "
            "against, jets of your own setting.",
        ]
    )


def _measured_transfer(config: dict[str, Any]) -> str | None:
    """One sentence: the frozen kNN accuracy on held-out jets of each generator setting (the
    ``generator-settings`` task group) from the card's results, the worst named."""
    results = config.get("results") or []
    rows = results.get("results") or [] if isinstance(results, dict) else results
    knn = {
        r["task"]: r["value"]
        for r in rows
        if r.get("evaluation") == "knn"
        and r.get("metric") == "accuracy"
        and str(r.get("task", "")).startswith("transfer-")
    }
    if not knn:
        return None
    nominal = next(
        (
            r["value"]
            for r in rows
            if (r.get("task"), r.get("evaluation"), r.get("metric"))
            == ("jetnet-5class", "knn", "accuracy")
        ),
        None,
    )
    worst = min(knn, key=knn.get)
    cells = ", ".join(f"{t.removeprefix('transfer-')} {v:.3f}" for t, v in sorted(knn.items()))
    at_home = f" against {nominal:.3f} on the default setting (jetnet-5class)" if nominal else ""
    return (
        f"Measured on held-out jets of {len(knn)} other generator settings (frozen 5-class "
        f"kNN accuracy, the leaderboard's `transfer-*` tasks): {cells}{at_home}; the worst "
        f"is {worst.removeprefix('transfer-')}."
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return "`" + json.dumps(value, separators=(", ", ": ")) + "`"
    return str(value).replace("|", "\\|")


def _table(items: dict[str, Any] | None, empty: str) -> str:
    if not items:
        return empty
    rows = ["| field | value |", "|---|---|"]
    rows += [f"| {k} | {_fmt(v)} |" for k, v in items.items()]
    return "\n".join(rows)


def _results_table(results: list[dict[str, Any]]) -> str:
    if not results:
        return "No leaderboard results yet (`jetzoo leaderboard submit`)."
    rows = ["| task | dataset | split | metric | value |", "|---|---|---|---|---|"]
    rows += [
        f"| {_task_label(r)} | {r['dataset']} | {r['split']} | {r['metric']} | "
        + ("n/a" if r["value"] is None else f"{r['value']:.4f}")
        + " |"
        for r in results
    ]
    return "\n".join(rows)


def _results_provenance(results: Any) -> str:
    """Where the results come from (the leaderboard store folder kept by ``jetzoo ship``)."""
    if not isinstance(results, dict) or "file" not in results:
        return ""
    datasets = ", ".join(
        f"{task}: {d.get('name', '?')} `{d['sha256'][:12]}`"
        for task, d in sorted((results.get("datasets") or {}).items())
    )
    main = ", ".join(f"{t} `{m}`" for t, m in sorted((results.get("main") or {}).items()))
    return (
        f"From the leaderboard store `leaderboard/results/{results['file']}/` (`jetzoo "
        f"leaderboard submit --tier {results.get('tier', 'standard')}`, jetzoo "
        f"{results.get('jetzoo_version')}, {str(results.get('date'))[:10]}). Main scores: "
        f"{main or 'not recorded'}. Evaluation data (sha256): "
        f"{datasets or 'not recorded'}. The rows below are each task's main metric for every "
        "evaluation; every other metric (per class, per seed, the ROC curves) is in that "
        "folder.\n\n"
    )


def _comparisons_table(rows: list[dict[str, Any]] | None) -> str:
    """The card's "against baselines" table (rows from :func:`jetzoo.release.compare`)."""
    if not rows:
        return ""
    out = [
        "### Against baselines",
        "",
        "| task | metric | this model | value | baseline | value | difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = r["value"] - r["baseline_value"]
        out.append(
            f"| {r['task']} | {r['metric']} | {r['evaluation']} | "
            f"{r['value']:.4f} ± {r.get('spread') or 0:.4f} | {r['baseline']} | "
            f"{r['baseline_value']:.4f} ± {r.get('baseline_spread') or 0:.4f} | "
            f"{diff:+.4f} |"
        )
    out += [
        "",
        "Values are `value ± bootstrap spread` on the task's test split.",
        "",
        "### Leaderboard rows",
        "",
        "",
    ]
    return "\n".join(out)


def render_model_card(
    config: dict[str, Any],
    *,
    license: str = "mit",
    n_params: int | None = None,
    load_id: str | None = None,
) -> str:
    """Fill the template from a config.json dict.

    Args:
        config: as written by :func:`jetzoo.models.zoo.save_pretrained`.
        license: license id for the metadata.
        n_params: parameter count for the architecture table (default: built from the config).
        load_id: what the snippet passes to ``from_pretrained`` (default: the model name).
    """
    from jetzoo import __version__

    backbone = dict(config["backbone"])
    name = str(config.get("model_name") or backbone.get("arch"))
    if n_params is None:
        from jetzoo.models.registry import build_from_config

        n_params = sum(p.numel() for p in build_from_config(backbone).parameters())
    prep = backbone.pop("preprocessing", None)
    arch = {**backbone, "parameters": f"{n_params:,}"}
    if prep:
        arch["preprocessing mean"] = prep.get("mean")
        arch["preprocessing std"] = prep.get("std")
    description = ""
    try:
        from jetzoo.models.registry import get_model_spec, is_registered

        if is_registered(name):
            description = get_model_spec(name).description
    except ImportError:  # pragma: no cover
        pass
    num_features = backbone.get("embed_dim", "D")
    if backbone.get("arch") == "particle_transformer":
        overview = (
            "It takes the raw JetNet particle features (eta_rel, phi_rel, pt_rel) of a "
            "padded set of particles plus a padding mask and returns a "
            f"{num_features}-dimensional jet embedding (the [CLS] token) and one token "
            "per particle. Preprocessing (log pT, standardisation) is part of the model."
        )
        example = (
            "x = torch.rand(8, 30, 3)  # (eta_rel, phi_rel, pt_rel), zeros at padding\n"
            "mask = torch.ones(8, 30, dtype=torch.bool)  # True = real particle\n"
            f'embedding = model.embed({{"x": x, "mask": mask}})  # (8, {num_features})'
        )
    elif backbone.get("arch") == "jet_classifier":
        classes = backbone.get("classes") or []
        overview = (
            f"Its classes: {', '.join(map(str, classes))}; a backbone fine-tuned with "
            "`jetzoo finetune` and an MLP head. `model.predict(batch)` returns class "
            "probabilities in that order, `model.embed(batch)` the "
            "fine-tuned embedding; `jetzoo export-onnx` deploys it with its "
            "preprocessing."
        )
        example = "probabilities = model.predict(batch)  # a jetzoo batch dict -> (B, classes)"
    else:
        overview = "`model.embed(batch)` returns one embedding per jet; see config.json."
        example = "embedding = model.embed(batch)  # a jetzoo batch dict -> (B, D)"
    training = dict(config.get("training") or {})
    pretraining = {
        **{f"recipe.{k}": v for k, v in (config.get("recipe") or {}).items()},
        **{f"training.{k}": v for k, v in training.items()},
    }
    dataset = config.get("dataset") or {}
    metadata = yaml.safe_dump(card_metadata(config, license), sort_keys=False)
    family = str(dataset.get("family") or dataset.get("kind") or "jetnet")
    recipe_name = (config.get("recipe") or {}).get("recipe")
    return load_template().substitute(
        metadata=metadata,
        model_name=name,
        description=description,
        overview=overview,
        intro=(
            "A jet classifier built on the jetzoo model zoo."
            if backbone.get("arch") == "jet_classifier"
            else "A jet-physics backbone from the jetzoo model zoo."
        ),
        architecture_table=_table(arch, ""),
        pretraining_table=_table(pretraining, "Not recorded (randomly initialised or unknown)."),
        data_table=_table(dataset, "Not recorded."),
        results_table=_results_provenance(config.get("results"))
        + _comparisons_table(config.get("comparisons"))
        + _results_table(normalize_results(config.get("results"), dataset.get("name") or "jetnet")),
        load_id=load_id or name,
        example=example,
        jetzoo_version=config.get("jetzoo_version"),
        card_version=__version__,
        limitations=_limitations(config, family),
        finetune=(
            f"jetzoo finetune llrd init_from={load_id or name} data.path=MY_JETS "
            "data.label_fraction=0.1 output.dir=runs/mine"
            if family == "jetnet" and backbone.get("arch") != "jet_classifier"
            else "# (RS3L backbones fine-tune through the leaderboard's LoRA evaluation)"
            if family == "rs3l"
            else "# a classifier: fine-tune its backbone again with init_from=<its folder>"
        ),
        export=(
            f"jetzoo export-onnx {load_id or name} --out model.onnx  # preprocessing inside"
            if family == "jetnet"
            else "# ONNX export takes particle (JetNet-family) models"
        ),
        citations=_citations(recipe_name, family),
    )


def render_folder(
    folder: str | Path, out: str | Path | None = None, load_id: str | None = None
) -> str:
    """Render the card of a saved model folder; write it atomically to ``out`` if given."""
    from jetzoo.utils.io import atomic_write_text

    config_file = Path(folder) / "config.json"  # read directly: cards sit below the zoo
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{config_file}: unreadable config ({err})") from err
    text = render_model_card(config, load_id=load_id)
    if out is not None:
        atomic_write_text(out, text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jetzoo.models.model_card",
        description="render the model card of a saved model folder",
    )
    parser.add_argument("folder")
    parser.add_argument("-o", "--out", default=None, help="output file (default: stdout)")
    parser.add_argument("--load-id", default=None, help="name or repo id shown in the snippet")
    args = parser.parse_args(argv)
    text = render_folder(args.folder, args.out, args.load_id)
    if args.out is None:
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
