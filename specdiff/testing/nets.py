"""Public strategies and helpers for checking a network against its spec twin.

A spec net is a pure function of a parameter mapping keyed like the torch ``state_dict``; these
helpers draw such mappings, move them between numpy and torch, and draw small net configs::

    from specdiff.testing.nets import parameter_mappings, load_numpy_state_dict, numpy_state_dict
"""

from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import torch
from hypothesis import strategies as st

from specdiff.nn.epsconv import EpsConvNetConfig
from specdiff.nn.unet_config import UNetConfig
from specdiff.testing.tensors import to_spec_array

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

# 1-D parameters (biases, norm scales and shifts) are drawn with this standard deviation; it is
# large enough that no bias or norm scale is negligible next to the signal it acts on.
VECTOR_PARAMETER_STD = 0.5


def parameter_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The shape of every ``state_dict`` entry of ``module``."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def random_parameters(shapes: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """float64 parameters, reproducible from ``seed``: k-D arrays (k ≥ 2) ~ N(0, 1/fan_in) with
    fan_in = ∏ shape[1:] (activations stay O(1) through depth), 1-D ~ N(0, 0.5²), 0-D ~ N(0, 1).
    Every entry is random, including those a module initializes to zero or one."""
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for key in sorted(shapes):  # a fixed order, so a seed means the same mapping every time
        shape = shapes[key]
        if len(shape) >= 2:
            std = 1.0 / np.sqrt(float(np.prod(shape[1:])))
        else:
            std = VECTOR_PARAMETER_STD if len(shape) == 1 else 1.0
        params[key] = rng.normal(0.0, std, size=shape)
    return params


def parameter_mappings(shapes: Mapping[str, tuple[int, ...]]
                       ) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Random parameter mappings with the given shapes (see ``random_parameters``); Hypothesis
    draws and shrinks the seed, so a counterexample prints as one integer, not the arrays."""
    return st.integers(0, 2**32 - 1).map(lambda seed: random_parameters(shapes, seed))


def numpy_state_dict(module: torch.nn.Module, prefix: str = "") -> dict[str, np.ndarray]:
    """``module``'s ``state_dict`` as float64 numpy arrays: the spec twins' ``params``. With a
    ``prefix``, keys become ``prefix.key``, as a block's keys are inside a whole network."""
    return {
        f"{prefix}.{key}" if prefix else key: to_spec_array(value)
        for key, value in module.state_dict().items()
    }


def load_numpy_state_dict(module: torch.nn.Module, params: Mapping[str, np.ndarray]) -> None:
    """Copy ``params`` into ``module`` (every key must match), keeping its dtype and device."""
    current = module.state_dict()
    module.load_state_dict({
        key: torch.as_tensor(np.asarray(value), dtype=current[key].dtype,
                             device=current[key].device)
        for key, value in params.items()
    })


def randomized_module(module: ModuleT, seed: int, dtype: torch.dtype, device: str | torch.device
                      ) -> ModuleT:
    """``module`` moved to ``dtype`` and ``device``, in eval mode (dropout off, as the spec), with
    every parameter drawn by ``random_parameters(…, seed)``."""
    module = module.to(device=device, dtype=dtype).eval()
    load_numpy_state_dict(module, random_parameters(parameter_shapes(module), seed))
    return module


def eps_conv_net_configs(
    max_data_channels: int = 3, max_hidden_channels: int = 6, kernels: tuple[int, ...] = (1, 3, 5)
) -> st.SearchStrategy[EpsConvNetConfig]:
    """Small ``EpsConvNetConfig`` s: 1×1 kernels and widths of 1 included."""
    return st.builds(
        EpsConvNetConfig,
        data_channels=st.integers(1, max_data_channels),
        hidden_channels=st.integers(1, max_hidden_channels),
        kernel=st.sampled_from(kernels),
        num_timesteps=st.sampled_from([1, 10, 1000]),
    )


@st.composite
def unet_configs(draw: st.DrawFn) -> UNetConfig:
    """Tiny ``UNetConfig`` s (4×4 or 8×8, one or two levels) that still vary every layout choice:
    res blocks per level, attention at any subset of the levels, 1 or 2 heads, norm groups from
    1 to the width, with or without classes, T = 1 included."""
    levels = draw(st.integers(1, 2))
    image_size = draw(st.sampled_from([4, 8]))
    base_channels = draw(st.sampled_from([4, 8]))
    resolutions = [image_size >> level for level in range(levels)]
    return UNetConfig(
        image_size=image_size,
        data_channels=draw(st.integers(1, 3)),
        base_channels=base_channels,
        channel_mults=(1, 2)[:levels],
        num_res_blocks=draw(st.integers(1, 2)),
        attention_resolutions=tuple(draw(st.lists(st.sampled_from(resolutions), unique=True,
                                                   max_size=len(resolutions)))),
        attention_heads=draw(st.sampled_from([1, 2])),
        norm_groups=draw(st.sampled_from([g for g in (1, 2, 4, 8) if base_channels % g == 0])),
        num_classes=draw(st.one_of(st.none(), st.integers(1, 3))),
        num_timesteps=draw(st.sampled_from([1, 1000])),
    )
