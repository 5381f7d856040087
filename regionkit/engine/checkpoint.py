"""Runner checkpoints that load under torch's ``weights_only=True`` default, with an exact allow-list.

Since torch 2.6, ``torch.load`` unpickles only tensors, containers and plain values unless
told otherwise, and mmengine calls it with that default.  A plain mmengine Runner checkpoint
(``meta``, ``state_dict``, ``optimizer``, ``param_schedulers``, ``message_hub``) cannot be
loaded that way without opening the sandbox: each ``mmengine.logging.HistoryBuffer`` of the
message hub pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``, and
mmengine's ``OneCycleLR`` pickles its annealing function, both through ``builtins.getattr``
(which, allowed, lets a file call anything).  So regionkit changes what is written, not what
is allowed:

* :func:`to_plain_checkpoint` (run on every save by the Runner's
  :class:`~regionkit.engine.hooks.PlainCheckpointHook`) stores each ``HistoryBuffer`` as a
  tagged dict of lists and numpy scalars as Python numbers; :func:`from_plain_checkpoint`
  (run on every load) rebuilds the buffers, so a resumed run logs and smooths exactly as
  before;
* regionkit's :class:`~regionkit.engine.schedulers.OneCycleLR` keeps a state of plain values.

What is still allowed, for the duration of one load (``torch.serialization.safe_globals``,
:func:`safe_checkpoint_globals`), is :data:`CHECKPOINT_SAFE_GLOBALS`: numpy's plain data
(``numpy.ndarray``, ``numpy.dtype`` and the numeric dtype classes, and the reconstruction
functions ``_reconstruct`` / ``scalar`` under the numpy 2 and numpy 1 module names), which
``meta`` values such as a dataset's ``metainfo`` may hold.  A checkpoint with anything else is
refused with a one-line :class:`~regionkit.errors.ConfigError` that names the objects.
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is never set and nothing is allowed globally.
"""
from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from regionkit.errors import ConfigError

__all__ = ["CHECKPOINT_SAFE_GLOBALS", "safe_checkpoint_globals", "load_checkpoint_file", "allowed_names",
           "unsafe_globals", "to_plain_checkpoint", "from_plain_checkpoint", "BUFFER_TAG"]


def _numpy_globals() -> list[Any]:
    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    multiarray = core.multiarray
    out: list[Any] = [np.ndarray, np.dtype]
    for name in ("_reconstruct", "scalar"):
        func = getattr(multiarray, name)
        out.append(func)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # the name either numpy pickled it under
            qualified = f"{module}.{name}"
            if qualified != f"{func.__module__}.{func.__qualname__}":
                out.append((func, qualified))
    seen: set[type] = set()
    for code in "?bBhHiIlLqQefdgFDG":  # the dtype classes of numeric arrays (numpy >= 1.25 pickles them)
        cls = type(np.dtype(code))
        if cls is not np.dtype and cls not in seen:
            seen.add(cls)
            out.append(cls)
    return out


#: everything besides tensors and plain values a checkpoint may pickle and still be loaded (module docstring)
CHECKPOINT_SAFE_GLOBALS: list[Any] = _numpy_globals()

#: the key of a ``HistoryBuffer`` stored as plain values
BUFFER_TAG = "__regionkit_history_buffer__"


def _plain_number(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def to_plain_checkpoint(checkpoint: dict) -> dict:
    """In place: the message hub's ``HistoryBuffer`` s as tagged dicts of lists, numpy scalars as numbers."""
    from mmengine.logging.history_buffer import HistoryBuffer

    hub = checkpoint.get("message_hub")
    if not isinstance(hub, dict):
        return checkpoint
    scalars = hub.get("log_scalars")
    if isinstance(scalars, dict):
        for key, buffer in list(scalars.items()):
            if isinstance(buffer, HistoryBuffer):
                logs, counts = buffer.data
                scalars[key] = {BUFFER_TAG: {"log_history": np.asarray(logs).tolist(),
                                             "count_history": np.asarray(counts).tolist(),
                                             "max_length": int(buffer.max_length)}}
    info = hub.get("runtime_info")
    if isinstance(info, dict):
        for key, value in list(info.items()):
            info[key] = _plain_number(value)
    return checkpoint


def from_plain_checkpoint(checkpoint: Any) -> Any:
    """In place: the inverse of :func:`to_plain_checkpoint` (anything else is left as it is)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    hub = checkpoint.get("message_hub") if isinstance(checkpoint, dict) else None
    scalars = hub.get("log_scalars") if isinstance(hub, dict) else None
    if isinstance(scalars, dict):
        for key, value in list(scalars.items()):
            if isinstance(value, dict) and set(value) == {BUFFER_TAG}:
                state = value[BUFFER_TAG]
                scalars[key] = HistoryBuffer(state["log_history"], state["count_history"], state["max_length"])
    return checkpoint


def allowed_names() -> list[str]:
    """The qualified names :data:`CHECKPOINT_SAFE_GLOBALS` allows."""
    names = []
    for item in CHECKPOINT_SAFE_GLOBALS:
        if isinstance(item, tuple):
            names.append(item[1])
        else:
            names.append(f"{item.__module__}.{item.__qualname__}")
    return sorted(set(names))


@contextlib.contextmanager
def safe_checkpoint_globals() -> Iterator[None]:
    """Allow exactly :data:`CHECKPOINT_SAFE_GLOBALS` to ``weights_only`` loads inside the block."""
    with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
        yield


def unsafe_globals(path: str | os.PathLike[str]) -> list[str]:
    """The objects a checkpoint file pickles that the allow-list does not cover (empty for a Runner checkpoint)."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a zip checkpoint: nothing to report
        return []
    allowed = set(allowed_names())
    return sorted(name for name in found if name not in allowed)


def refusal_message(path: str | os.PathLike[str], exc: BaseException) -> str:
    """One line saying why ``path`` was refused under ``weights_only`` and what it holds."""
    extra = unsafe_globals(path)
    what = f"objects outside regionkit's allow-list: {', '.join(extra)}" if extra else \
        f"data torch's weights_only loader refuses ({str(exc).strip().splitlines()[0][:200]})"
    hint = ""
    if any("getattr" in name for name in extra):
        hint = ("; it was not written by regionkit's Runner (plain mmengine's HistoryBuffer and OneCycleLR pickle "
                "functions through builtins.getattr, which a safe load never allows): train with regionkit train, "
                "whose checkpoints hold plain values")
    return (f"checkpoint {path} holds {what}; regionkit loads checkpoints with torch's weights_only=True and allows "
            f"only numpy's plain data besides tensors{hint}")


def load_checkpoint_file(path: str | os.PathLike[str], map_location: Any = "cpu", mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` with the allow-list, history buffers rebuilt; refused or unreadable: ``ConfigError``.

    ``mmap``: map the tensors instead of reading them (cheap for a look at the keys; zip files only).
    """
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint not found: {path}")
    try:
        with safe_checkpoint_globals():
            loaded = None
            if mmap:
                with contextlib.suppress(RuntimeError):  # the legacy (non-zip) format cannot be mapped
                    loaded = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
            if loaded is None:
                loaded = torch.load(path, map_location=map_location, weights_only=True)
            return from_plain_checkpoint(loaded)
    except pickle.UnpicklingError as exc:
        raise ConfigError(refusal_message(path, exc)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read checkpoint {path}: {type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from None
