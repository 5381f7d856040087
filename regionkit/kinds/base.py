"""The :class:`Kind` record: everything regionkit knows about one kind of component, in one place.

A kind's entry-point group, contract methods, typed traits, base class, mmengine parent,
validator rules and conformance checks are all read from its :class:`Kind`; the registry,
``regionkit plugins validate``, the conformance kit and the runner consult it rather than
keeping lists of their own.  Adding a kind is one new module in :mod:`regionkit.kinds`.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from regionkit.errors import ContractError

__all__ = ["Kind", "ContractMethod", "Trait", "ENTRY_POINT_PREFIX", "LIFECYCLE_GROUP"]

ENTRY_POINT_PREFIX = "regionkit."
#: entry-point group for pluggy lifecycle plugins (``name = "module"`` or ``"module:object"``)
LIFECYCLE_GROUP = "regionkit.lifecycle"


@dataclass(frozen=True)
class ContractMethod:
    """A method every component of a kind has: ``name(self, <n_args positional>, **keywords)``.

    ``call`` is how it is called, for messages (``detect(images) -> list[Boxes]``).
    """

    name: str
    n_args: int
    call: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trait:
    """A boolean class attribute that tells the runner how to treat a component (``parallel_safe``, ``needs_image``)."""

    name: str
    default: bool
    doc: str


@dataclass(frozen=True)
class Kind:
    """One kind of component (see the module docstring).

    ``key`` is the plural used on the command line and in entry-point groups
    (``regionkit.<key>``); ``base`` is the base class plugins may inherit (``None`` where the
    base lives with a heavy dependency, e.g. torch); ``mmengine_parent`` names mmengine's root
    registry that builds this kind in a Runner; ``conformance`` is the module whose ``CHECKS``
    the conformance kit runs; ``extra_rules`` validates an imported class beyond its
    contract methods and returns problems as ``(severity, message)`` pairs.
    """

    key: str
    singular: str
    contract: str
    methods: tuple[ContractMethod, ...] = ()
    traits: tuple[Trait, ...] = ()
    base: type | None = None
    mmengine_parent: str | None = None
    conformance: str | None = None
    extra_rules: Callable[[type], list[tuple[str, str]]] | None = None
    example_target: str = "my_pkg.module:MyComponent"
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def group(self) -> str:
        """The entry-point group: ``regionkit.<key>``."""
        return ENTRY_POINT_PREFIX + self.key

    @property
    def label(self) -> str:
        """The singular as an identifier (``box_selector``): mmengine registry names, config wording."""
        return self.singular.replace(" ", "_")

    def trait(self, component: Any, name: str) -> bool:
        """The value of trait ``name`` of ``component`` (its class attribute, else the declared default).

        A value that is not ``True``/``False`` is a :class:`~regionkit.errors.ContractError`
        naming the component, so a typo such as ``parallel_safe = "yes"`` cannot silently
        change how a run treats it.
        """
        declared = {t.name: t for t in self.traits}
        if name not in declared:
            raise KeyError(f"{self.singular}s have no trait {name!r}; traits: {', '.join(declared) or 'none'}")
        value = getattr(component, name, declared[name].default)
        if not isinstance(value, bool):
            owner = component if isinstance(component, type) else type(component)
            raise ContractError(f"{self.singular} {owner.__qualname__}.{name} must be True or False, "
                                f"got {value!r}")
        return value

    def checks(self) -> tuple[Any, ...]:
        """The conformance checks of this kind (imports the conformance module; empty if none)."""
        if self.conformance is None:
            return ()
        return tuple(getattr(importlib.import_module(self.conformance), "CHECKS", ()))
