"""Declared parameter types and ranges: the one mechanism every component (and ``runtime``) uses.

A component states the type and the allowed values of each constructor parameter in its
signature, with :data:`typing.Annotated` constraints, and decorates the constructor with
:func:`checked`::

    class MyDetector(BaseDetector):
        @checked
        def __init__(self, *, threshold: Annotated[float, Range(0, 1)] = 0.5,
                     max_regions: Annotated[int, Range(1, 1000)] = 5,
                     mode: Literal["fast", "exact"] = "fast") -> None:
            self.threshold = threshold          # already checked: a finite float in [0, 1]

Every call, through a config or from Python, is checked before the body runs: the value
must have the declared type (``bool`` only ``True``/``False``; ``int`` an integer, never a
float or a bool; ``float`` any finite real number; ``str`` a string; ``list[X]`` /
``Sequence[X]`` a list or tuple of ``X``; ``Literal[...]`` one of the values; ``Optional``
and unions as written) and satisfy the constraints.  A violation raises
:class:`~regionkit.errors.ConfigError` (a ``ValueError``) naming the parameter, what it
must be, and what it got.  Values are passed on normalised: ints for ``int``, floats for
``float``, tuples for sequences.

The same declarations drive the property-based tests: :func:`parameter_specs` lists them,
so generated inputs cover every parameter of every built-in component.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union

from regionkit.errors import ConfigError

__all__ = ["Range", "NonEmpty", "MaxLength", "FileName", "Component", "component_kind", "WeightsFile",
           "weights_marker", "UnitInterval", "OutputName", "RegionSetName", "PathText", "Device", "ParamSpec", "checked", "check_value", "check_number",
           "parameter_specs", "describe_type", "MAX_WORKERS"]

#: upper bound of worker-process counts (forking more than this only stalls the machine)
MAX_WORKERS = max(64, 4 * (os.cpu_count() or 1))

_F = TypeVar("_F", bound=Callable[..., Any])


# ---------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class Range:
    """``low <= value <= high`` (``low_open``/``high_open``: strict at that end); for ints and floats."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def check(self, value: Any) -> str | None:
        low_ok = value > self.low if self.low_open else value >= self.low
        high_ok = value < self.high if self.high_open else value <= self.high
        return None if (low_ok and high_ok) else f"must be {self.describe()}"

    def describe(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"


@dataclass(frozen=True)
class NonEmpty:
    """A string with non-blank text, or a sequence with at least one item; ``hint`` says what to give."""

    hint: str = ""

    def check(self, value: Any) -> str | None:
        empty = not value.strip() if isinstance(value, str) else not len(value)
        if not empty:
            return None
        return "must not be empty" + (f": {self.hint}" if self.hint else "")

    def describe(self) -> str:
        return "non-empty"


@dataclass(frozen=True)
class MaxLength:
    """At most ``n`` characters (strings) or items (sequences)."""

    n: int

    def check(self, value: Any) -> str | None:
        return None if len(value) <= self.n else f"must have at most {self.n} {'characters' if isinstance(value, str) else 'items'}"

    def describe(self) -> str:
        return f"at most {self.n} long"


@dataclass(frozen=True)
class FileName:
    """A plain file name: no folder part, not ``.``/``..``, no NUL, short enough for any file system.

    The limit leaves room for the ``.<name>.<random>.tmp`` temporary file an atomic write
    creates beside it (255 bytes in all on common file systems).
    """

    max_bytes: int = 200

    def check(self, value: Any) -> str | None:
        if not value.strip():
            return "must be a file name, not empty"
        if value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
            return "must be a plain file name (no folder part, not '.' or '..')"
        if len(value.encode("utf-8", "surrogateescape")) > self.max_bytes:
            return f"must be at most {self.max_bytes} bytes long"
        return None

    def describe(self) -> str:
        return "that is a plain file name"


@dataclass(frozen=True)
class Component:
    """Marks a parameter that takes the config of another component, of kind ``kind`` (``dict(type=..., ...)``).

    Nothing is checked here (the component's registry builds the config); ``regionkit config
    check`` follows the marker to check the nested config against the right registry.
    """

    kind: str

    def check(self, value: Any) -> str | None:
        return None

    def describe(self) -> str:
        return f"a {self.kind[:-1] if self.kind.endswith('s') else self.kind} config"


def component_kind(annotation: Any) -> str | None:
    """The kind a :class:`Component` marker in ``annotation`` names (looking inside unions and sequences)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        for m in meta:
            if isinstance(m, Component):
                return m.kind
        return component_kind(base)
    for arg in typing.get_args(annotation):
        found = component_kind(arg)
        if found:
            return found
    return None


@dataclass(frozen=True)
class WeightsFile:
    """Marks a path parameter that names a local file the component loads (weights, a vocabulary, ...).

    ``regionkit check CONFIG`` lists every such file a config needs, and ``regionkit infer``
    checks them before any image is read.  ``what`` names the file in messages (``"BARON
    checkpoint"``); ``source`` says where to get it; ``format`` is how its integrity is checked
    (``"torch"``: a torch/zip checkpoint whose index is intact, ``"npy"``: a NumPy array whose
    size matches its header, ``"any"``: a non-empty file); values whose suffix is not among
    ``suffixes`` (when given) are not files (YOLO's ``model='yolo11n.yaml'``); ``sha256`` holds
    published ``(file name, hash)`` pairs.
    """

    what: str
    source: str
    format: Literal["torch", "npy", "any"] = "any"
    suffixes: tuple[str, ...] = ()
    sha256: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        what = self.what if self.what.endswith("file") else f"{self.what} file"
        return f"the path of a local {what}"

    def applies_to(self, value: Any) -> bool:
        """Whether ``value`` names a file this marker covers (a path, with one of ``suffixes`` if given)."""
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            return False
        return not self.suffixes or os.fspath(value).lower().endswith(tuple(x.lower() for x in self.suffixes))

    def published_sha256(self, file_name: str) -> str | None:
        """The published hash of a file of this name, if one is known."""
        return dict(self.sha256).get(file_name)


def weights_marker(annotation: Any, value: Any) -> WeightsFile | None:
    """The :class:`WeightsFile` marker covering ``value`` in ``annotation`` (the union member ``value`` fits)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        for m in meta:
            if isinstance(m, WeightsFile):
                return m if m.applies_to(value) else None
        return weights_marker(base, value)
    if origin is Union or origin is types.UnionType:
        for option in typing.get_args(annotation):
            try:
                _convert(option, value)
            except _Invalid:
                continue
            found = weights_marker(option, value)
            if found is not None:
                return found
    return None


#: a number in [0, 1] (scores, IoU thresholds, area fractions)
UnitInterval = typing.Annotated[float, Range(0.0, 1.0)]
#: the file (or folder) a writer creates inside the run's output folder
OutputName = typing.Annotated[str, FileName()]
#: the name of a region set (a selector stage's output, or ``"detections"``)
RegionSetName = typing.Annotated[str, NonEmpty(), MaxLength(200)]
#: a file or folder path given as text (configs) or a path object (Python)
PathText = str | os.PathLike
#: a torch/ultralytics device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ... or a GPU index
Device = typing.Annotated[str, NonEmpty(), MaxLength(64)] | typing.Annotated[int, Range(0, 1024)]


def _num(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(int(value)) if float(value).is_integer() else str(value)


# ---------------------------------------------------------------------- type checks
class _Invalid(Exception):
    """Internal: the value does not fit the annotation; ``args[0]`` says what it must be."""


def describe_type(annotation: Any) -> str:
    """Human wording of an annotation: ``an integer in [1, 1000]``, ``a list of strings``, ..."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        ranges = [m.describe() for m in meta if isinstance(m, Range)]
        others = [m.describe() for m in meta if hasattr(m, "describe") and not isinstance(m, Range)]
        text = describe_type(base) + "".join(f" {r}" for r in ranges)
        return text + (f" ({', '.join(others)})" if others else "")
    if annotation is Any or annotation is object:
        return "any value"
    if annotation is bool:
        return "True or False"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a finite number"
    if annotation is str:
        return "a string"
    if annotation is type(None) or annotation is None:
        return "None"
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    if origin is Union or origin is types.UnionType:
        return " or ".join(describe_type(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, Sequence, typing.Sequence) or _is_sequence_origin(origin):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return "a list" + (f" of {_plural(describe_type(args[0]))}" if args else "")
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return "a dict"
    if annotation is os.PathLike:
        return "a path"
    name = getattr(annotation, "__name__", str(annotation))
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _plural(text: str) -> str:
    """``an integer or a string`` -> ``integers or strings`` (each alternative of a union)."""
    if " or " in text:
        return " or ".join(_plural(part) for part in text.split(" or "))
    if text.startswith("any value"):
        return "any values" + text[len("any value"):]
    for article in ("an ", "a "):
        if text.startswith(article):
            noun, _, rest = text[len(article):].partition(" ")
            return f"{noun}s" + (f" {rest}" if rest else "")
    return text


def _is_sequence_origin(origin: Any) -> bool:
    import collections.abc as cabc

    return origin in (cabc.Sequence, cabc.MutableSequence)


def _convert(annotation: Any, value: Any) -> Any:
    """``value`` normalised to ``annotation``; :class:`_Invalid` if it does not fit."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        out = _convert(base, value)
        for constraint in meta:
            check = getattr(constraint, "check", None)
            if check is not None and out is not None:
                problem = check(out)
                if problem:
                    raise _Invalid(problem)
        return out
    if annotation is Any or annotation is object or annotation is inspect.Parameter.empty:
        return value
    if annotation is type(None) or annotation is None:
        if value is None:
            return None
        raise _Invalid("must be None")
    if annotation is bool:
        import numpy as np  # np.bool_ from numpy-typed configs is fine

        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise _Invalid("must be True or False")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _Invalid("must be an integer")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _Invalid("must be a number")
        try:
            out = float(value)
        except (OverflowError, ValueError):
            raise _Invalid("must be a finite number") from None
        if not math.isfinite(out):
            raise _Invalid("must be a finite number")
        return out
    if annotation is str:
        if not isinstance(value, str):
            raise _Invalid("must be a string")
        if "\x00" in value:
            raise _Invalid("must not contain a NUL character")
        return value
    if origin is Literal:
        choices = typing.get_args(annotation)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        raise _Invalid("must be one of " + ", ".join(repr(c) for c in choices))
    if origin is Union or origin is types.UnionType:
        problems = []
        for option in typing.get_args(annotation):
            try:
                return _convert(option, value)
            except _Invalid as exc:
                problems.append(str(exc))
        raise _Invalid("must be " + describe_type(annotation))
    if origin in (list, tuple) or _is_sequence_origin(origin) or annotation in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _Invalid(f"must be {describe_type(annotation)}")
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if not args:
            return tuple(value)
        out_items = []
        for i, item in enumerate(value):
            try:
                out_items.append(_convert(args[0], item))
            except _Invalid as exc:
                raise _Invalid(f"item {i} ({_short(item)}) {exc}") from None
        return tuple(out_items)
    if origin in (dict, Mapping) or annotation in (dict, Mapping) or _is_mapping_origin(origin):
        if not isinstance(value, Mapping):
            raise _Invalid("must be a dict")
        return value
    if isinstance(annotation, type):  # a class or runtime-checkable protocol, e.g. os.PathLike
        if isinstance(value, annotation):
            return value
        raise _Invalid(f"must be {describe_type(annotation)}")
    return value  # an annotation this module does not interpret: not checked


def _is_mapping_origin(origin: Any) -> bool:
    import collections.abc as cabc

    return origin in (cabc.Mapping, cabc.MutableMapping)


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real problem
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_value(name: str, value: Any, annotation: Any) -> Any:
    """``value`` checked against ``annotation`` and normalised; :class:`ConfigError` naming ``name`` if not."""
    try:
        return _convert(annotation, value)
    except _Invalid as exc:
        raise ConfigError(f"{name} {exc}, got {_short(value)}") from None
    except RecursionError:
        raise ConfigError(f"{name} is nested too deeply") from None


def check_number(name: str, value: object, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float if it is a finite real number (not a bool) in ``[low, high]``."""
    return check_value(name, value, typing.Annotated[float, Range(low, high)])


# ---------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: its name, annotation (``Annotated`` kept) and default."""

    name: str
    annotation: Any
    default: Any
    required: bool

    def describe(self) -> str:
        return describe_type(self.annotation)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    target = func.__init__ if inspect.isclass(func) else func
    target = inspect.unwrap(target)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable forward references: nothing is declared
        return {}


@functools.cache
def parameter_specs(func: Callable[..., Any]) -> tuple[ParamSpec, ...]:
    """The keyword parameters of ``func`` (a class: its constructor) with their declared annotations."""
    target = func.__init__ if inspect.isclass(func) else func
    target = inspect.unwrap(target)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return ()
    hints = _hints(func)
    out = []
    for p in sig.parameters.values():
        if p.name == "self" or p.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            continue
        out.append(ParamSpec(p.name, hints.get(p.name, Any), p.default, p.default is inspect.Parameter.empty))
    return tuple(out)


def checked(init: _F) -> _F:
    """Decorate a constructor (or function) so every call checks its keyword arguments against their annotations.

    Unknown or missing parameters are left to Python (the registry reports them with a
    did-you-mean before the call).  Defaults are trusted and not re-checked.
    """
    sig = inspect.signature(init)
    cache: dict[str, dict[str, Any]] = {}

    def hints() -> dict[str, Any]:
        if "h" not in cache:
            cache["h"] = typing.get_type_hints(init, include_extras=True)
        return cache["h"]

    @functools.wraps(init)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError:
            return init(*args, **kwargs)  # let Python word the signature mismatch
        declared = hints()
        for name, value in list(bound.arguments.items()):
            if name == "self" or name not in declared:
                continue
            param = sig.parameters[name]
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            bound.arguments[name] = check_value(name, value, declared[name])
        return init(*bound.args, **bound.kwargs)

    wrapper.__regionkit_checked__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
