"""The ``lightning`` console script: ``lightning run recipes/X.yaml`` runs a jetzoo recipe.

Lightning 2.6 and later ship no ``lightning`` command of their own (only ``fabric``); 2.2-2.5
installed one (``lightning.fabric.cli:_legacy_main``, which sent ``lightning run model`` to
Fabric), and two packages writing one script shadow each other. jetzoo therefore requires
``lightning>=2.6`` (pyproject.toml; ``tests/test_runner.py`` checks that no other installed
distribution declares a ``lightning`` script) and provides the command:

- ``lightning run RECIPE.yaml [KEY=VALUE ...] [--resume] [--overwrite]`` is exactly
  ``jetzoo run RECIPE.yaml ...`` (a ``.yaml``/``.yml`` file is a recipe);
- anything else (``lightning run train.py --devices 2 ...``, ``lightning consolidate ...``) is
  handed on unchanged to Lightning Fabric's CLI (``fabric run ...``).
"""

from __future__ import annotations

import sys

RECIPE_SUFFIXES = (".yaml", ".yml")

USAGE = """usage: lightning run RECIPE.yaml [KEY=VALUE ...] [--resume] [--overwrite]
       lightning run SCRIPT.py [fabric options] [SCRIPT ARGS...]

  RECIPE.yaml   a jetzoo recipe: same as `jetzoo run RECIPE.yaml ...`
  SCRIPT.py     a Lightning Fabric script: same as `fabric run SCRIPT.py ...`
"""


def _is_recipe(argv: list[str]) -> bool:
    """True for ``run X.yaml ...``: the first non-option argument after ``run`` is a YAML file."""
    if not argv or argv[0] != "run":
        return False
    positional = [a for a in argv[1:] if not a.startswith("-")]
    return bool(positional) and positional[0].lower().endswith(RECIPE_SUFFIXES)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lightning`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return 0
    if _is_recipe(argv):
        from jetzoo.cli import main as jetzoo_main

        return jetzoo_main(argv)
    if argv[0] == "run" and any(a in {"-h", "--help"} for a in argv[1:2]):
        print(USAGE)  # then Fabric's own help for scripts
    from importlib.metadata import entry_points

    # the `fabric` command, as Lightning's package declares it (a click group: run, consolidate)
    (fabric,) = entry_points(group="console_scripts", name="fabric")
    try:
        fabric.load().main(args=argv, prog_name="lightning", standalone_mode=True)
    except SystemExit as exc:  # click exits with the command's status
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
