"""The refusal of a submission: a weight, dataset or store check failed (the message says
which file and what to do)."""

from __future__ import annotations


class SubmissionError(RuntimeError):
    """A submission is refused (hash mismatch, nothing to score, bad model)."""
