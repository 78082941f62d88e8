"""Public twin eps-models: one function written in torch and in numpy, for checking a torch
sampler against the spec's chain on the same model."""

from collections.abc import Callable

import numpy as np
import torch

TorchEpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NumpyEpsModel = Callable[[np.ndarray, int], np.ndarray]


def twin_eps_models(T: int, amplitude: float = 1.0) -> tuple[TorchEpsModel, NumpyEpsModel]:
    """ε̂(x, t) = amplitude·tanh(x)·(1 − t/T) + 0.1, nonlinear in x and dependent on t, as a
    torch model (batched t, one per example) and as its numpy twin (one int t)."""

    def torch_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        per_example_t = t.to(x.dtype).reshape(-1, *(1,) * (x.ndim - 1))
        return amplitude * torch.tanh(x) * (1.0 - per_example_t / T) + 0.1

    def numpy_model(x: np.ndarray, t: int) -> np.ndarray:
        return np.asarray(amplitude * np.tanh(x) * (1.0 - t / T) + 0.1)

    return torch_model, numpy_model
