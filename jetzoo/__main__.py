"""``python -m jetzoo ...``: the ``jetzoo`` command, also where the package is not pip-installed
(a bare GPU machine: run from the repository root with it on ``PYTHONPATH``)."""

import sys

from jetzoo.cli import main

sys.exit(main())
