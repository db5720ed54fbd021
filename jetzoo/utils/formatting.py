"""Formatting shared by the leaderboard and the model cards (no imports of either)."""

from __future__ import annotations

import json
from typing import Any, Mapping


def format_settings(settings: Mapping[str, Any] | None) -> str:
    """Task settings (e.g. those changed by ``submit --set``) as markdown,
    e.g. ```max_epochs=10`, `base_lrs=[0.001]```; "" when there are none."""
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in sorted((settings or {}).items()))
