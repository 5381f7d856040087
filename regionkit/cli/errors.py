"""How the command line reports problems: one line, and a documented exit code.

Exit codes (every ``regionkit`` command):

====  =====================================================================
0     success
1     the run finished, but some images failed (reasons in failures.json),
      or a check found problems (``plugins validate``, ``config check``)
2     a user error: bad config, option or input file, an output folder that
      cannot be written; nothing was lost (rerun with ``--resume`` where the
      message says so)
130   interrupted (Ctrl-C); a run keeps what it finished: rerun with ``--resume``
====  =====================================================================

Messages go to standard error as ``Error: ...``; ``regionkit --debug`` shows tracebacks.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click

__all__ = ["UserError", "EXIT_OK", "EXIT_FAILURES", "EXIT_USAGE", "EXIT_INTERRUPTED", "user_errors", "echo_safe"]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(click.ClickException):
    """A one-line ``Error: ...`` with exit code 2."""

    exit_code = EXIT_USAGE

    def format_message(self) -> str:
        return printable(self.message)


def printable(text: str) -> str:
    """``text`` with characters the terminal cannot encode (non-UTF-8 file names) escaped."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding, "replace")


def echo_safe(text: str, err: bool = False) -> None:
    """``click.echo`` that never fails on a file name the terminal cannot encode."""
    stream = sys.stderr if err else sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    click.echo(text.encode(encoding, "backslashreplace").decode(encoding, "replace"), err=err)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return isinstance(root.obj, dict) and bool(root.obj.get("debug"))


@contextlib.contextmanager
def user_errors(ctx: click.Context) -> Iterator[None]:
    """Turn regionkit's user-facing errors into one-line messages and Ctrl-C into exit code 130."""
    from regionkit.errors import RegionkitError

    try:
        yield
    except RegionkitError as exc:
        if _debug(ctx):
            raise
        raise UserError(str(exc)) from exc
    except KeyboardInterrupt:
        if _debug(ctx):
            raise
        echo_safe("Interrupted. Finished images are kept in the output folder's journal; rerun the same "
                  "command with --resume to continue.", err=True)
        ctx.exit(EXIT_INTERRUPTED)
