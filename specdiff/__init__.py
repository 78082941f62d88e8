"""specdiff: denoising diffusion models, specified as laws and proven by property tests.

``specdiff.spec`` is the pure numpy float64 reference; the torch implementation in
``specdiff.diffusion`` and ``specdiff.nn`` is checked against it. The torch-backed names below
are imported on first use, so ``import specdiff.spec`` never loads torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from specdiff._typecheck import typecheck, typecheck_enabled

if TYPE_CHECKING:
    from specdiff.diffusion import Diffusion, NoiseSchedule
    from specdiff.latent import LatentDiffusion

__version__ = "0.1.0"

_LAZY = {
    "Diffusion": "specdiff.diffusion",
    "NoiseSchedule": "specdiff.diffusion",
    "LatentDiffusion": "specdiff.latent",
}

__all__ = [
    "Diffusion",
    "LatentDiffusion",
    "NoiseSchedule",
    "__version__",
    "typecheck",
    "typecheck_enabled",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'specdiff' has no attribute {name!r}")
