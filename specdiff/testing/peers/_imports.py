"""Import a peer library's sampling module without the parts of the package we do not run.

k-diffusion 0.1.1 and denoising-diffusion-pytorch 2.3.4 import torchvision at module level, for
their dataset and image-saving helpers only (``torchvision.transforms``, ``torchvision.utils``);
their samplers never call it. The torchvision wheels that pair with torch 2.13 on CPU fail to
load (``operator torchvision::nms does not exist``), and k-diffusion's package ``__init__`` also
imports its training stack (clean-fid, CLIP, kornia, scikit-image, wandb). So
:func:`import_peer_module` loads only the named submodule:

- the package is registered as a bare package (its ``__path__``, not its ``__init__``), so only the
  submodule and what it imports run;
- when ``import torchvision`` fails, a placeholder ``torchvision`` (with ``transforms``,
  ``transforms.functional`` and ``utils``) is registered for the duration of that import only;
  any use of it raises an ImportError that says so. A working torchvision is used as is.

Afterwards the peer's package and the placeholder are taken out of ``sys.modules`` again, so a
user's own ``import k_diffusion`` is not handed the bare package; the modules are loaded once per
process and kept here.
"""

import functools
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_TORCHVISION_PARTS = ("torchvision", "torchvision.transforms",
                      "torchvision.transforms.functional", "torchvision.utils")


class _Placeholder(ModuleType):
    """Stands in for torchvision while a peer's sampling module is imported."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"{self.__name__}.{name} is a placeholder: specdiff imports the peer's "
                          "sampling code without torchvision, which it does not use")


def _torchvision_loads() -> bool:
    try:
        importlib.import_module("torchvision")
    except Exception:  # a missing wheel or one built for another torch (torchvision::nms)
        for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        return False
    return True


@contextmanager
def _registered_only_here(package: str) -> Iterator[None]:
    try:
        yield
    finally:
        for name in [n for n, module in sys.modules.items()
                     if n.split(".")[0] == package or isinstance(module, _Placeholder)]:
            del sys.modules[name]


@functools.cache
def import_peer_modules(package: str, submodules: tuple[str, ...], install: str
                        ) -> tuple[ModuleType, ...]:
    """``package.<submodule>`` for each submodule, loaded as described above; an ImportError that
    names ``install`` (the pip command) when the package or a module it imports is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{package} is not installed: {install}")
    with _registered_only_here(package):
        if not _torchvision_loads():
            for name in _TORCHVISION_PARTS:
                sys.modules[name] = _Placeholder(name)
            for name in _TORCHVISION_PARTS[1:]:
                parent, _, child = name.rpartition(".")
                setattr(sys.modules[parent], child, sys.modules[name])
        bare = ModuleType(package)
        bare.__path__ = list(spec.submodule_search_locations)
        bare.__spec__ = spec
        sys.modules[package] = bare
        try:
            return tuple(importlib.import_module(f"{package}.{name}") for name in submodules)
        except ImportError as error:
            raise ImportError(f"{package} needs {error.name}: {install}") from error
