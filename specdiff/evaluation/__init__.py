"""Evaluating trained runs: the digits classifier and ``specdiff evaluate``."""

from specdiff.evaluation.digits_classifier import (
    DigitsClassifier,
    downscale_to_digits,
    fit_digits_classifier,
)
from specdiff.evaluation.run_metrics import evaluate_run, write_json_atomic

__all__ = [
    "DigitsClassifier",
    "downscale_to_digits",
    "evaluate_run",
    "fit_digits_classifier",
    "write_json_atomic",
]
