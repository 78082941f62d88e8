"""Split a nested state (an optimizer's state_dict) into JSON and named tensors, and join it back.

safetensors holds only flat name → tensor maps and JSON has no tuples, int keys or tensors, so
each tensor is replaced by {"tensor": name} and tuples and dicts are tagged, which makes
``join(*split(state)) == state`` exact: same types, same keys, bit-equal tensors.
"""

from collections.abc import Mapping
from typing import Any

import torch

_SCALARS = (bool, int, float, str, type(None))


def split_state(state: Any, prefix: str) -> tuple[Any, dict[str, torch.Tensor]]:
    """(JSON-ready tree, tensors by name); names are ``prefix`` + the path of keys, '/'-joined."""
    tensors: dict[str, torch.Tensor] = {}
    return _encode(state, prefix, tensors), tensors


def join_state(tree: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The inverse of split_state."""
    if isinstance(tree, list):
        return [join_state(item, tensors) for item in tree]
    if isinstance(tree, dict):
        if "tensor" in tree:
            return tensors[tree["tensor"]]
        if "tuple" in tree:
            return tuple(join_state(item, tensors) for item in tree["tuple"])
        return {key: join_state(value, tensors) for key, value in tree["dict"]}
    return tree


def _encode(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        if path in tensors:
            raise ValueError(f"two tensors of the state would be saved under the name {path!r}")
        tensors[path] = value
        return {"tensor": path}
    if isinstance(value, tuple):
        return {"tuple": [_encode(item, f"{path}/{i}", tensors) for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(item, f"{path}/{i}", tensors) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, (int, str)) or isinstance(key, bool):
                raise TypeError(f"cannot checkpoint {path}: dict key {key!r} is not an int or str")
        return {"dict": [[key, _encode(item, f"{path}/{key}", tensors)]
                         for key, item in value.items()]}
    if isinstance(value, _SCALARS):
        return value
    raise TypeError(f"cannot checkpoint {path}: {type(value).__name__} is not a tensor, "
                    "number, str, None, list, tuple or dict")
