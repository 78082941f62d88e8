"""specdiff: denoising diffusion models, specified as laws and proven by property tests.

``specdiff.spec`` is the pure numpy float64 reference; the torch implementation in
``specdiff.diffusion`` and ``specdiff.nn`` is checked against it.
"""

from specdiff._typecheck import typecheck, typecheck_enabled
from specdiff.diffusion import Diffusion, NoiseSchedule

__version__ = "0.1.0"

__all__ = ["Diffusion", "NoiseSchedule", "__version__", "typecheck", "typecheck_enabled"]
