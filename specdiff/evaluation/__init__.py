"""Evaluating trained runs: the digits classifier, ``specdiff evaluate`` and its report (whose
figures need matplotlib, the ``plots`` extra, imported only by specdiff.evaluation.plots)."""

from specdiff.evaluation.digits_classifier import (
    DigitsClassifier,
    downscale_to_digits,
    fit_digits_classifier,
)
from specdiff.evaluation.run_metrics import Evaluation, evaluate_run, write_json_atomic

__all__ = [
    "DigitsClassifier",
    "Evaluation",
    "downscale_to_digits",
    "evaluate_run",
    "fit_digits_classifier",
    "write_json_atomic",
]
