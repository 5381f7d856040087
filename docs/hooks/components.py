"""mkdocs hook: the component reference, generated from regionkit's registries when the site is built.

``docs/components.md`` holds the marker ``<!-- regionkit:components -->``; :func:`on_page_markdown`
replaces it with :func:`components_markdown`: for each kind of
``regionkit.registry.REGISTRIES`` and each component it lists (built-ins and the plugins
installed where the site is built, as ``regionkit list`` shows them), the summary line, the
class path, its traits, the local files it loads (``WeightsFile`` markers) and a table of its
constructor parameters (name, type as ``regionkit.params.describe_type`` words it, default,
required, and the description its docstring's ``Parameters (keyword only):`` section gives),
then the rest of its docstring, collapsed.  ``<!-- regionkit:kinds -->`` (``docs/plugins.md``)
becomes :func:`kinds_markdown`, the table of kinds from ``regionkit.kinds.KINDS``.

Reading the parameters imports the component's module (torch for BARON is fine at docs
time).  A component whose module cannot be imported (an optional dependency missing) does not
fail the build: its parameters are read from its source with :mod:`ast`, as written, and the
entry says why it could not be loaded.
"""
from __future__ import annotations

import ast
import inspect
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["MARKER", "KINDS_MARKER", "ParamRow", "ComponentDoc", "parameter_rows", "static_parameter_rows",
           "split_docstring", "component_doc", "component_docs", "parameters_table", "component_markdown",
           "component_section", "components_markdown", "kinds_markdown", "on_page_markdown"]

MARKER = "<!-- regionkit:components -->"
#: the table of kinds on the plugin guide
KINDS_MARKER = "<!-- regionkit:kinds -->"

#: config sections that hold one kind of component (``regionkit.inference.job.SECTIONS``, without importing it)
_SECTION_OF_KIND = {"datasets": "dataset", "detectors": "detector", "box_selectors": "selectors",
                    "writers": "writers"}


@dataclass(frozen=True)
class ParamRow:
    """One constructor parameter as the table shows it (``type`` is prose or, read from source, code)."""

    name: str
    type: str
    default: str | None
    required: bool
    type_is_code: bool = False
    description: str = ""


@dataclass(frozen=True)
class ComponentDoc:
    """Everything the page says about one component."""

    kind: str
    name: str
    qualified_name: str
    target: str
    distribution: str
    version: str
    summary: str
    params: tuple[ParamRow, ...] = ()
    traits: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str, str], ...] = ()
    details: str = ""
    problem: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------- markdown helpers
def _text(value: str) -> str:
    """``value`` as Markdown text on one line: characters Markdown would interpret are escaped (tables too)."""
    out = value.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    for char in "`*_[]>|#":
        out = out.replace(char, "\\" + char)
    return " ".join(out.split())


_ROLE = re.compile(r":(?:py:)?(?:class|func|data|mod|meth|attr|exc|obj|const):`~?(?P<target>[^`]+)`(?P<plural> s\b)?")
_CODE_SPAN = re.compile(r"(``.+?``|`[^`]+`)")
_EMPHASIS = re.compile(r"(\*\*[^*\s](?:[^*]*[^*\s])?\*\*|(?<![\w*])\*[^*\s](?:[^*]*[^*\s])?\*(?![\w*]))")


def _prose(value: str, *, one_line: bool = False) -> str:
    """reST-flavoured docstring prose as Markdown: roles become code spans, ``x`` stays code, text is escaped.

    Indented blocks after a ``::`` paragraph are kept as code blocks (Markdown's indented code).
    """
    value = _ROLE.sub(lambda m: f"`{m.group('target')}`" + ("s" if m.group("plural") else ""), value)
    paragraphs = re.split(r"\n[ \t]*\n", value.strip())
    out: list[str] = []
    literal_next = False
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if literal_next and all(line.startswith("    ") or not line.strip() for line in lines):
            out.append(paragraph)  # an indented literal block: Markdown shows it as code
            continue
        literal_next = paragraph.rstrip().endswith("::")
        if literal_next:
            paragraph = paragraph.rstrip()[:-1]
        parts = _CODE_SPAN.split(paragraph)
        escaped = "".join(part if i % 2 else _escape_keep_lines(part) for i, part in enumerate(parts))
        out.append(" ".join(escaped.split()) if one_line else escaped)
    return (" " if one_line else "\n\n").join(out)


def _escape_keep_lines(text: str) -> str:
    """Like :func:`_text` for prose outside code spans, keeping line breaks and ``* ``/``- `` list markers."""
    lines = []
    for line in text.split("\n"):
        marker = re.match(r"\s*(?:[*-]|\d+\.)\s+", line)
        head, tail = (line[:marker.end()], line[marker.end():]) if marker else ("", line)
        pieces = _EMPHASIS.split(tail)  # reST's **strong** and *emphasis* are Markdown's too
        for j in range(0, len(pieces), 2):
            piece = pieces[j].replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
            for char in "*_[]|":
                piece = piece.replace(char, "\\" + char)
            pieces[j] = piece
        tail = "".join(pieces)
        if not head and tail.lstrip().startswith("#"):
            tail = tail.replace("#", "\\#", 1)
        lines.append(head + tail)
    return "\n".join(lines)


_PARAMS_HEADER = re.compile(r"^(Parameters|Arguments|Args)\b[^:\n]*:\s*$")


def split_docstring(doc: str, names: Iterable[str]) -> tuple[str, dict[str, str], str]:
    """``(summary, {parameter: description}, the rest)`` of a component docstring.

    regionkit's components describe their parameters in a ``Parameters (keyword only):``
    section of ``name:`` lines (``a, b:`` for several) each followed by an indented
    description; the section ends at the first unindented line that names no parameter.
    """
    known = set(names)
    lines = inspect.cleandoc(doc).splitlines() if doc.strip() else []
    summary = lines[0].strip() if lines else ""
    body = lines[1:]
    described: dict[str, list[str]] = {}
    rest: list[str] = []
    i = 0
    while i < len(body):
        if not _PARAMS_HEADER.match(body[i].strip()) or body[i].startswith(" "):
            rest.append(body[i])
            i += 1
            continue
        i += 1
        current: list[str] = []
        while i < len(body):
            line = body[i]
            entry = re.fullmatch(r"(?P<names>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:\s*(?P<text>.*)", line)
            entry_names = [n.strip() for n in entry.group("names").split(",")] if entry else []
            if entry and all(n in known for n in entry_names):
                current = [entry.group("text")] if entry.group("text") else []
                for name in entry_names:
                    described[name] = current
            elif line.startswith((" ", "\t")) or not line.strip():
                current.append(line.strip())
            else:
                break
            i += 1
    joined = {name: " ".join(" ".join(text).split()) for name, text in described.items()}
    return summary, joined, "\n".join(rest).strip()


def _code(value: str) -> str:
    """``value`` as an inline code span (safe in a table cell)."""
    value = " ".join(value.split())  # a pipe inside a code span does not split a table cell
    fence = "``" if "`" in value else "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-{name}".replace(".", "-").replace("_", "-").lower()


# ---------------------------------------------------------------------- reading parameters
def _weights_files(annotation: Any) -> list[Any]:
    """Every ``WeightsFile`` marker inside ``annotation`` (through ``Annotated``, unions and sequences)."""
    from regionkit.params import WeightsFile

    found: list[Any] = []
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        found.extend(m for m in meta if isinstance(m, WeightsFile))
        return found + _weights_files(base)
    for arg in typing.get_args(annotation):
        found.extend(_weights_files(arg))
    return found


def parameter_rows(obj: Any) -> tuple[ParamRow, ...]:
    """The keyword parameters of a component class (or factory) from its declared annotations."""
    from regionkit.params import describe_type, parameter_specs

    rows = []
    for spec in parameter_specs(obj):
        default = None if spec.required else repr(spec.default)
        rows.append(ParamRow(spec.name, describe_type(spec.annotation), default, spec.required))
    return tuple(rows)


def _source_node(target: str) -> ast.AST | None:
    """The ``ClassDef``/``FunctionDef`` a ``module:attr`` target names, parsed from its source file."""
    from regionkit.discovery.summaries import find_module_file

    module, _, attr = target.partition(":")
    path = find_module_file(module)
    if path is None:
        return None
    try:
        body: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    node: ast.ClassDef | ast.FunctionDef | None = None
    for part in attr.split("."):
        node = next((n for n in body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return node


def static_parameter_rows(target: str) -> tuple[ParamRow, ...] | None:
    """Keyword parameters of ``module:attr`` read from its source without importing it (``None`` if not found).

    The types are the annotations as written (``Annotated[float, Range(0, 1)]``); a class with
    no ``__init__`` of its own gives no rows.
    """
    node = _source_node(target)
    if isinstance(node, ast.ClassDef):
        node = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if node is None:
            return ()
    if not isinstance(node, ast.FunctionDef):
        return None
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults))[len(args.posonlyargs):] + list(zip(args.kwonlyargs, args.kw_defaults))
    rows = []
    for arg, default in pairs:
        if arg.arg in ("self", "cls"):
            continue
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else "(not annotated)"
        rows.append(ParamRow(arg.arg, annotation, None if default is None else ast.unparse(default),
                             default is None, type_is_code=arg.annotation is not None))
    return tuple(rows)


def _static_docstring(target: str) -> str:
    node = _source_node(target)
    if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
        return ast.get_docstring(node) or ""
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _with_descriptions(rows: tuple[ParamRow, ...], doc: str) -> tuple[tuple[ParamRow, ...], str]:
    """``rows`` with the descriptions the docstring gives, and the docstring's remaining prose."""
    _, described, rest = split_docstring(doc, [row.name for row in rows])
    return tuple(replace(row, description=described.get(row.name, "")) for row in rows), rest


def component_doc(kind: str, info: Any, registry: Any | None = None) -> ComponentDoc:
    """What the page shows for ``info`` (a ``ComponentInfo`` of ``regionkit list``), loading the class."""
    from regionkit.kinds import KINDS
    from regionkit.params import parameter_specs
    from regionkit.registry import REGISTRIES

    registry = registry if registry is not None else REGISTRIES[kind]
    base = dict(kind=kind, name=info.name, qualified_name=info.qualified_name, target=info.target,
                distribution=info.distribution, version=info.version, summary=info.summary)
    try:
        obj = registry.load(registry.resolve(info.qualified_name))
    except Exception as exc:  # a missing optional dependency, a broken plugin: say so, keep building
        rows, details = _with_descriptions(static_parameter_rows(info.target) or (), _static_docstring(info.target))
        why = ("Parameters read from the source (types as written), since the class could not be imported.",) \
            if rows else ()
        return ComponentDoc(**base, params=rows, details=details, problem=f"could not be loaded: {_first_line(exc)}",
                            notes=why)
    traits = []
    for trait in KINDS[kind].traits:
        try:
            traits.append((trait.name, repr(KINDS[kind].trait(obj, trait.name))))
        except Exception as exc:  # a trait that is not True/False is itself worth showing
            traits.append((trait.name, f"invalid: {_first_line(exc)}"))
    notes: tuple[str, ...] = ()
    files: tuple[tuple[str, str, str], ...] = ()
    try:
        rows = parameter_rows(obj)
        files = tuple((spec.name, marker.what, marker.source) for spec in parameter_specs(obj)
                      for marker in _weights_files(spec.annotation))
    except Exception as exc:  # annotations that do not resolve: fall back to the source
        rows = static_parameter_rows(info.target) or ()
        notes = (f"Parameters read from the source (types as written): {_first_line(exc)}",)
    rows, details = _with_descriptions(rows, inspect.getdoc(obj) or "")
    return ComponentDoc(**base, params=rows, traits=tuple(traits), files=files, details=details, notes=notes)


def component_docs(kinds: Iterable[str] | None = None) -> dict[str, list[ComponentDoc]]:
    """``{kind: [ComponentDoc, ...]}`` for every kind of ``REGISTRIES`` (or ``kinds``), in ``regionkit list`` order."""
    from regionkit.registry import REGISTRIES

    wanted = list(REGISTRIES) if kinds is None else list(kinds)
    return {kind: [component_doc(kind, info, REGISTRIES[kind]) for info in REGISTRIES[kind].list_components()]
            for kind in wanted}


# ---------------------------------------------------------------------- rendering
def parameters_table(rows: Iterable[ParamRow]) -> str:
    """A Markdown table: parameter, type, default, required, and the docstring's description when it has one."""
    rows = list(rows)
    if not rows:
        return "No constructor parameters."
    described = any(row.description for row in rows)
    lines = ["| parameter | type | default | required |" + (" description |" if described else ""),
             "|---|---|---|---|" + ("---|" if described else "")]
    for row in rows:
        kind = _code(row.type) if row.type_is_code else _text(row.type)
        default = "—" if row.default is None else _code(row.default)
        line = f"| {_code(row.name)} | {kind} | {default} | {'**yes**' if row.required else 'no'} |"
        lines.append(line + (f" {_prose(row.description, one_line=True)} |" if described else ""))
    return "\n".join(lines)


def _details_block(details: str) -> str:
    """The rest of the docstring (after the summary and the parameters), collapsed."""
    if not details.strip():
        return ""
    body = "\n".join(("    " + line) if line.strip() else "" for line in _prose(details).splitlines())
    return f'??? info "Details"\n\n{body}\n'


def component_markdown(doc: ComponentDoc) -> str:
    """One component's section: heading, summary, facts, parameter table, the rest of its docstring."""
    out = [f"### `{doc.name}` {{ #{_anchor(doc.kind, doc.name)} }}", ""]
    if doc.summary:
        out += [_prose(doc.summary, one_line=True), ""]
    if doc.problem:
        out += [f"!!! warning \"({_text(doc.problem)})\"", "", "    Installing the component's dependencies "
                "makes the full entry appear here.", ""]
    facts = [f"- **Class:** {_code(doc.target)}",
             f"- **Provided by:** {_text(f'{doc.distribution} {doc.version}'.strip())}; "
             f"qualified name {_code(doc.qualified_name)}"]
    section = _SECTION_OF_KIND.get(doc.kind)
    if section == "selectors":
        facts.append(f"- **In a config:** {_code(f'selectors = [dict(type={doc.name!r}, input=..., output=...)]')}")
    elif section == "writers":
        facts.append(f"- **In a config:** {_code(f'writers = [dict(type={doc.name!r}, ...)]')}")
    elif section:
        facts.append(f"- **In a config:** {_code(f'{section} = dict(type={doc.name!r}, ...)')}")
    if doc.traits:
        facts.append("- **Traits:** " + ", ".join(_code(f"{name} = {value}") for name, value in doc.traits))
    for param, what, source in doc.files:
        facts.append(f"- **Local file** {_code(param)}: {_text(what)}; {_text(source)}")
    out += [*facts, "", parameters_table(doc.params), ""]
    out += [f"*{_text(note)}*\n" for note in doc.notes]
    block = _details_block(doc.details)
    if block:
        out.append(block)
    return "\n".join(out)


def component_section(kind: str, name: str) -> str:
    """The Markdown section of one component, e.g. ``component_section("detectors", "saliency")``.

    ``name`` is a bare or qualified name as ``regionkit list`` shows it; ``LookupError`` if
    the kind lists no such component.
    """
    from regionkit.kinds import normalize_kind
    from regionkit.registry import REGISTRIES

    key = normalize_kind(kind) or kind
    registry = REGISTRIES[key]
    for info in registry.list_components():
        if name in (info.name, info.qualified_name):
            return component_markdown(component_doc(key, info, registry))
    raise LookupError(f"no {key} component named {name!r}")


def _kind_intro(kind_key: str) -> list[str]:
    import regionkit
    from regionkit.kinds import KINDS

    kind = KINDS[kind_key]
    facts = [f"- **Entry-point group:** {_code(kind.group)}", f"- **Contract:** {_code(kind.contract)}"]
    if kind.base is not None:
        public = kind.base.__name__ in regionkit.__all__
        base = f"[{_code('regionkit.' + kind.base.__name__)}](api.md#regionkit.{kind.base.__name__})" if public \
            else _code(f"{kind.base.__module__}.{kind.base.__qualname__}")
        facts.append(f"- **Base class:** {base}")
    if kind.traits:
        facts.append("- **Traits:** " + "; ".join(f"{_code(t.name)} (default {t.default}): {_text(t.doc)}"
                                                 for t in kind.traits))
    if kind.mmengine_parent:
        facts.append(f"- **mmengine registry:** a child of mmengine's {_code(kind.mmengine_parent)}")
    return facts


def components_markdown(docs: dict[str, list[ComponentDoc]] | None = None) -> str:
    """The whole generated part of the page: an overview table, then a section per kind and component."""
    from regionkit.kinds import KINDS

    docs = component_docs() if docs is None else docs
    overview = ["| name | kind | provided by | summary |", "|---|---|---|---|"]
    for kind, items in docs.items():
        for doc in items:
            overview.append(f"| [{_code(doc.name)}](#{_anchor(kind, doc.name)}) | {kind} | "
                            f"{_text(f'{doc.distribution} {doc.version}'.strip())} | "
                            f"{_prose(doc.summary, one_line=True)} |")
    out = ["## Overview", "", *overview, ""]
    for kind, items in docs.items():
        title = kind.replace("_", " ").capitalize()  # the key is the plural: detectors, box_selectors, losses
        out += [f"## {title} {{ #{kind.replace('_', '-')} }}", "", *_kind_intro(kind), ""]
        if not items:
            out += [f"No {kind.replace('_', ' ')} are registered where this site was built; a plugin adds one "
                    f"with an entry point in the {_code(KINDS[kind].group)} group.", ""]
        out += [component_markdown(doc) for doc in items]
    return "\n".join(out)


def kinds_markdown() -> str:
    """A table of every kind of ``regionkit.kinds.KINDS``: entry-point group, contract, base class, traits."""
    import regionkit
    from regionkit.kinds import KINDS

    rows = ["| kind | entry-point group | contract | base class | traits |", "|---|---|---|---|---|"]
    for kind in KINDS.values():
        base = ""
        if kind.base is not None:
            name = kind.base.__name__
            base = f"[{_code(name)}](api.md#regionkit.{name})" if name in regionkit.__all__ else _code(name)
        elif kind.mmengine_parent:
            base = f"(mmengine {_code(kind.mmengine_parent)})"
        traits = ", ".join(_code(t.name) for t in kind.traits)
        rows.append(f"| [{kind.key}](components.md#{kind.key.replace('_', '-')}) | {_code(kind.group)} | "
                    f"{_text(kind.contract)} | {base} | {traits} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: replace the markers with the generated reference and the table of kinds."""
    if KINDS_MARKER in markdown:
        markdown = markdown.replace(KINDS_MARKER, kinds_markdown())
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, components_markdown())
    return markdown
