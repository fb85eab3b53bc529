"""Reading and writing weights files without ever running code from them.

* Torch pickles (``.pt``/``.pth``/``.bin``) are read with ``torch.load(weights_only=True)``: tensors and
  plain data only. The one class a released ViFi-CLIP checkpoint pickles, its training config (a yacs
  ``CfgNode``), is read as plain data without importing yacs; any other class or function in a pickle
  is refused (:class:`UnsafeWeightsError`) instead of being called.
* What vidseek writes is safetensors: tensors plus a header of JSON strings. Plain data that holds
  tensors (an optimizer's state) is stored as JSON whose tensors sit beside the weights, by reference.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import torch

from models.errors import PretrainedLoadError, UnsafeWeightsError

# yacs' CfgNode is a dict subclass pickled as NEWOBJ + SETITEMS + BUILD(attributes). torch's weights-only
# unpickler lets SETITEMS fill only a dict, OrderedDict or Counter, so OrderedDict is the stand-in: it
# grants nothing torch does not allow already, and yacs is never imported.
VIFI_CONFIG_CLASS = (OrderedDict, "yacs.config.CfgNode")
_safe_globals_lock = threading.Lock()  # torch's allow-list is process-wide: one reader changes it at a time

# Markers of the JSON tree that stores plain data with tensors (a dict with exactly one of these keys).
TENSOR, TUPLE, ITEMS = "__tensor__", "__tuple__", "__items__"
MARKERS = (TENSOR, TUPLE, ITEMS)


def load_pickle(path: Path) -> object:
    """``torch.load`` a pickled weights file on the CPU, allowing tensors, plain data and a ViFi-CLIP config."""
    if _is_torchscript(path):
        raise PretrainedLoadError(
            f"{path} is a TorchScript archive (like OpenAI's original CLIP .pt files), which vidseek does not load "
            "because loading it can run code; use the open_clip tag (--pretrained openai) or its state dict as .safetensors"
        )
    with _safe_globals_lock, torch.serialization.safe_globals([VIFI_CONFIG_CLASS]):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise _refusal(path, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - any other reader failure means "not a weights file"
            raise PretrainedLoadError(f"cannot read weights file {path}: {str(exc) or type(exc).__name__}") from exc


def _refusal(path: Path, message: str) -> PretrainedLoadError:
    """Why torch's weights-only unpickler stopped, in vidseek's words (torch's advice is to allow what it refused)."""
    detail = message.partition("WeightsUnpickler error:")[2].strip().split("\n")[0]
    named = re.findall(r"GLOBAL (\S+) (?:was not an allowed global|whose module)", detail)  # torch drops "builtins."
    called = _unsafe_globals(path) or [name if "." in name else f"builtins.{name}" for name in named]
    if called:
        return UnsafeWeightsError(
            f"refusing to load {path}: unpickling it would call {', '.join(called)}, which can run arbitrary code; "
            "vidseek reads only tensors and plain data from pickled weights. If you trust the file, save its tensors "
            "with safetensors and pass the .safetensors file instead"
        )
    return PretrainedLoadError(
        f"cannot read weights file {path}: it does not hold only tensors and plain data ({detail or 'not a torch checkpoint'})"
    )


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):  # not a zip (a pickle), or a broken one: torch.load says what is wrong
        return False


def _unsafe_globals(path: Path) -> list[str]:
    """The classes and functions a torch zip checkpoint names beyond the allowed ones (read, never called)."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - legacy (non-zip) files and bare pickles: no list, still refused
        return []


def is_safetensors(path: Path) -> bool:
    """Whether ``path`` holds safetensors (an 8-byte header length, then a JSON header), whatever its name."""
    with open(path, "rb") as f:
        head = f.read(9)
    size = int.from_bytes(head[:8], "little") if len(head) == 9 else 0
    return head[8:9] == b"{" and 0 < size <= os.path.getsize(path) - 8


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Write ``tensors`` with a header of ``metadata`` strings atomically (written aside, fsynced, renamed)."""
    from safetensors.torch import save_file

    stored, storages = {}, set()
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        storage = (tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes())
        stored[name] = tensor.clone() if storage in storages else tensor  # safetensors refuses shared memory
        storages.add(storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(stored, str(tmp), metadata=dict(metadata))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def to_json(value: object, name: str, tensors: dict[str, torch.Tensor]) -> str:
    """``value`` (dicts, lists, tuples, str, numbers, bools, None, tensors) as JSON text; its tensors are added
    to ``tensors`` under ``name/...`` paths and referenced from the JSON. Anything else is a TypeError."""
    return json.dumps(_encode(value, name, tensors))


def from_json(text: str, tensor: Callable[[str], torch.Tensor]) -> object:
    """The value :func:`to_json` wrote; ``tensor(name)`` reads each referenced tensor."""
    return _decode(json.loads(text), tensor)


def tensor_names(text: str) -> set[str]:
    """The tensors the JSON text of :func:`to_json` references, without reading them."""
    return set(_references(json.loads(text)))


def _encode(value: object, name: str, tensors: dict[str, torch.Tensor]) -> object:
    if isinstance(value, torch.Tensor):
        if name in tensors:
            raise ValueError(f"two tensors would be stored as {name!r}")
        tensors[name] = value
        return {TENSOR: name}
    if isinstance(value, tuple):
        return {TUPLE: [_encode(v, f"{name}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{name}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        encoded = {k: _encode(v, f"{name}/{k}", tensors) for k, v in value.items()}
        if all(isinstance(k, str) for k in value) and not (len(value) == 1 and next(iter(value)) in MARKERS):
            return encoded
        return {ITEMS: [[k, v] for k, v in encoded.items()]}  # keeps int keys (an optimizer's per-parameter state)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} ({name}) in a checkpoint")


def _decode(tree: object, tensor: Callable[[str], torch.Tensor]) -> object:
    if isinstance(tree, list):
        return [_decode(v, tensor) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) == 1:
        [(marker, inner)] = tree.items()
        if marker == TENSOR:
            return tensor(inner)
        if marker == TUPLE:
            return tuple(_decode(v, tensor) for v in inner)
        if marker == ITEMS:
            return {k: _decode(v, tensor) for k, v in inner}
    return {k: _decode(v, tensor) for k, v in tree.items()}


def _references(tree: object) -> Iterator[str]:
    if isinstance(tree, dict) and tree.keys() == {TENSOR}:
        yield tree[TENSOR]
    elif isinstance(tree, dict | list):
        for child in tree.values() if isinstance(tree, dict) else tree:
            yield from _references(child)
