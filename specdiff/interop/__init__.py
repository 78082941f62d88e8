"""Conversions to and from other diffusion libraries (specs/interop.md).

The other library is an optional dependency (``pip install specdiff[interop]``), imported only
by the functions that build its objects, so importing specdiff never requires it.
"""

from specdiff.interop.diffusers import (
    diffusers_config_for,
    state_dict_from_diffusers,
    state_dict_to_diffusers,
    unet_from_diffusers,
    unet_to_diffusers,
)

__all__ = [
    "diffusers_config_for",
    "state_dict_from_diffusers",
    "state_dict_to_diffusers",
    "unet_from_diffusers",
    "unet_to_diffusers",
]
