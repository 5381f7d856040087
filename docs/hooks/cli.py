"""mkdocs hook: the command-line reference, generated from the click command tree when the site is built.

``docs/cli.md`` holds the marker ``<!-- regionkit:cli -->``; :func:`on_page_markdown` replaces
it with :func:`cli_markdown`: ``regionkit`` itself, then every command of
``regionkit.cli.main.cli`` in the order the code registers them, each sub-command of a group
after it, each with its usage line, its help text, its arguments and a table of its options
(names, value, default, help), all read from click, so the page cannot drift from
``regionkit COMMAND --help``.  Nothing is invoked.
"""
from __future__ import annotations

import inspect
import re
import textwrap
from typing import Any

import click

__all__ = ["MARKER", "command_markdown", "cli_markdown", "on_page_markdown"]

MARKER = "<!-- regionkit:cli -->"


def _text(value: str) -> str:
    """``value`` as Markdown text: characters Markdown would interpret are escaped (one line)."""
    out = value.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    for char in "`*_[]|#":
        out = out.replace(char, "\\" + char)
    return " ".join(out.split())


def _prose(value: str) -> str:
    """Help text as Markdown: ````code```` spans stay code, everything else is escaped text."""
    parts = re.split(r"(``[^`]+``)", " ".join(value.split()))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
        elif part.strip():
            out.append((" " if part[0].isspace() else "") + _text(part) + (" " if part[-1].isspace() else ""))
        else:
            out.append(part)
    return "".join(out).strip()


def _code(value: str) -> str:
    value = " ".join(value.split())  # a pipe inside a code span does not split a table cell
    fence = "``" if "`" in value else "`"
    return f"{fence}{value}{fence}"


def _help_markdown(help_text: str) -> str:
    """click help text as Markdown: ``\\b`` paragraphs verbatim (as click prints them), others as prose."""
    text = inspect.cleandoc(help_text).split("\f")[0]
    out = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append("```text\n" + textwrap.dedent("\n".join(lines[1:])).strip("\n") + "\n```")
        else:
            out.append(_prose(paragraph))
    return "\n\n".join(out)


def _default(param: click.Parameter, ctx: click.Context) -> str:
    """The default click would use, as shown in the table (``—`` for none, flags off, empty repeatables)."""
    try:
        value = param.get_default(ctx, call=False)
    except Exception:  # a default that needs the environment: not worth failing the docs over
        return "—"
    if callable(value):
        return "(computed)"
    if value is None or value == () or value == [] or (isinstance(param, click.Option) and param.is_flag
                                                      and value is False):
        return "—"
    if type(value).__name__ == "Sentinel" or repr(value).startswith("<"):  # click's UNSET marker
        return "—"
    return _code(repr(value) if not isinstance(value, str) else value)


def _value(param: click.Option, ctx: click.Context) -> str:
    required = " (required)" if param.required else ""
    if param.is_flag and not param.count:
        return "flag" + required
    if param.count:
        return "count" + required
    metavar = param.make_metavar(ctx)
    extra = param.get_help_extra(ctx) if hasattr(param, "get_help_extra") else {}
    limits = f" {_code(str(extra['range']))}" if extra.get("range") else ""
    return _code(metavar) + limits + (" (repeatable)" if param.multiple else "") + required


def _options_table(command: click.Command, ctx: click.Context) -> str:
    rows = ["| option | value | default | help |", "|---|---|---|---|"]
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden:
            continue
        names = ", ".join(_code(n) for n in [*param.opts, *param.secondary_opts])
        help_text = _prose(param.help or "")
        if param.envvar:
            envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
            help_text += " Environment: " + ", ".join(_code(e) for e in envvars) + "."
        rows.append(f"| {names} | {_value(param, ctx)} | {_default(param, ctx)} | {help_text} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def _arguments(command: click.Command, ctx: click.Context) -> str:
    items = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Argument):
            continue
        metavar = param.make_metavar(ctx)
        facts = ["required" if param.required else "optional", param.type.name]
        if param.nargs != 1:
            facts.append("any number" if param.nargs < 0 else f"{param.nargs} values")
        items.append(f"- {_code(metavar)} ({', '.join(facts)})")
    return "\n".join(items)


def command_markdown(command: click.Command, ctx: click.Context, level: int) -> str:
    """One command's section (heading at ``level``), followed by those of its sub-commands."""
    path = ctx.command_path
    anchor = path.replace(" ", "-")
    usage = " ".join([path, *command.collect_usage_pieces(ctx)])
    out = [f"{'#' * level} `{path}` {{ #{anchor} }}", "", f"```text\n{usage}\n```", ""]
    if command.help:
        out += [_help_markdown(command.help), ""]
    if command.deprecated:
        out += ["!!! warning \"Deprecated\"", ""]
    arguments = _arguments(command, ctx)
    if arguments:
        out += ["**Arguments**", "", arguments, ""]
    options = _options_table(command, ctx)
    if options:
        out += ["**Options**", "", options, ""]
    if command.epilog:
        out += [_help_markdown(command.epilog), ""]
    if isinstance(command, click.Group):
        subs = [(name, sub) for name, sub in command.commands.items() if not sub.hidden]
        out += ["**Commands**", "", "| command | summary |", "|---|---|"]
        out += [f"| [{_code(f'{path} {name}')}](#{anchor}-{name}) | {_text(sub.get_short_help_str(limit=300))} |"
                for name, sub in subs]
        out.append("")
        for name, sub in subs:
            with click.Context(sub, info_name=name, parent=ctx) as sub_ctx:
                # the top-level commands sit beside `regionkit` itself; a group's commands under it
                out.append(command_markdown(sub, sub_ctx, level if ctx.parent is None else level + 1))
    return "\n".join(out)


def cli_markdown(root: Any = None, prog_name: str = "regionkit") -> str:
    """The whole reference: ``regionkit`` (heading level 2) and every command under it (level 2, sub-commands 3)."""
    if root is None:
        from regionkit.cli.main import cli as root
    with click.Context(root, info_name=prog_name) as ctx:
        return command_markdown(root, ctx, 2)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: replace the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_markdown())
