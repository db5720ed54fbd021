"""The ``jetzoo`` command.

Each subcommand lives in the module that owns the feature; that module defines
``add_arguments(parser)`` and ``main(args) -> int``. Modules are imported only when their
subcommand runs, so ``jetzoo --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from jetzoo.utils.extras import MissingExtra

# (command words) -> (module, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("generate", "jetnet"): (
        "jetzoo.data.jetnet_generator",
        "simulate JetNet-like jets with Pythia 8 + FastJet into HDF5 shards",
    ),
    ("generate", "rs3l"): (
        "jetzoo.data.rs3l_generator",
        "simulate RS3L re-simulated jet pairs (tracks + calorimeter cells)",
    ),
    ("data", "merge"): (
        "jetzoo.data.merge",
        "join the parts of a generation split over array-job tasks "
        "(--shard-index/--num-shards), checking every sha256",
    ),
    ("data", "mix"): (
        "jetzoo.data.mixture",
        "join pinned sets of several generator settings into one pre-training mixture "
        "(composition in its manifest)",
    ),
    ("data", "make"): (
        "jetzoo.data.make",
        "make a pinned benchmark dataset of the catalog (--list: sizes, times, commands)",
    ),
    ("data", "import"): (
        "jetzoo.data.importers",
        "convert a public dataset (jetnet, toptagging, jetclass, qg) in its "
        "published layout into jetzoo shards",
    ),
    ("data", "download"): (
        "jetzoo.data.importers:download",
        "download a public dataset's published files (needs a network)",
    ),
    ("run",): ("jetzoo.recipes.runner", "train a pre-training recipe from a YAML file"),
    ("export",): (
        "jetzoo.recipes.export",
        "write a run's epoch checkpoint, EMA teacher or checkpoint average as a model folder",
    ),
    ("finetune",): (
        "jetzoo.recipes.finetune",
        "fine-tune a zoo backbone on labelled jets (LLRD, LoRA, full, linear) and "
        "save the classifier",
    ),
    ("embed",): (
        "jetzoo.embed",
        "write the embeddings of every jet of a dataset, with labels and "
        "jet features, to .h5 or .parquet",
    ),
    ("export-onnx",): (
        "jetzoo.models.onnx_export",
        "write a backbone or classifier as ONNX (preprocessing inside the graph) "
        "with a JSON of its interface",
    ),
    ("import", "jbot-keras"): (
        "jetzoo.models.keras_import",
        "build a jetzoo backbone from a published jBOT Keras .weights.h5",
    ),
    ("publish",): (
        "jetzoo.models.publish",
        "upload a saved backbone folder to the Hugging Face Hub",
    ),
    ("ship",): (
        "jetzoo.release",
        "ship a trained backbone with the package (jetzoo/weights/NAME + model card)",
    ),
    ("leaderboard", "submit"): (
        "jetzoo.leaderboard.cli",
        "score a backbone on every task that applies and write its result file",
    ),
    ("leaderboard", "validate"): (
        "jetzoo.leaderboard.validate",
        "check result files for a pull request: schema, checksum, task file and dataset "
        "sha256, the model resolves",
    ),
    ("leaderboard", "table"): (
        "jetzoo.leaderboard.paper_tables",
        "print a reference paper's tables (jbot: Tables 2-4; rs3l) with our models from the store",
    ),
    ("leaderboard", "render"): (
        "jetzoo.leaderboard.render",
        "rebuild leaderboard/README.md and ROC plots from result files",
    ),
}


def _usage() -> str:
    lines = ["usage: jetzoo COMMAND [ARGS...]", "", "commands:"]
    for words, (_, text) in COMMANDS.items():
        lines.append(f"  {' '.join(words):<22} {text}")
    lines.append("")
    lines.append("Run 'jetzoo COMMAND --help' for the arguments of one command.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        from jetzoo import __version__

        print(f"jetzoo {__version__}")
        return 0
    for n in (2, 1):
        words = tuple(argv[:n])
        if words in COMMANDS:
            module_name, text = COMMANDS[words]
            module_name, _, prefix = module_name.partition(":")  # "module:name" -> name_main
            module = importlib.import_module(module_name)
            add_arguments = getattr(module, f"{prefix}_arguments" if prefix else "add_arguments")
            run = getattr(module, f"{prefix}_main" if prefix else "main")
            parser = argparse.ArgumentParser(prog="jetzoo " + " ".join(words), description=text)
            add_arguments(parser)
            args = parser.parse_intermixed_args(argv[n:])  # options may follow KEY=VALUE
            try:
                return int(run(args) or 0)
            except MissingExtra as err:  # an optional dependency is not installed
                print(f"jetzoo {' '.join(words)}: error: {err}", file=sys.stderr)
                return 2
    print(f"jetzoo: unknown command {' '.join(argv[:2])!r}\n", file=sys.stderr)
    print(_usage(), file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
