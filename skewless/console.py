"""How the command line talks: a spinner on stderr for long steps, plain summaries on stdout,
and the guard that turns bad input into one line ``error: <message>`` and exit code 2.

Exit codes (every command): 0 ok, 1 skew found (parity, replay, skew-report), 2 bad input or
an unusable environment — a ``ValueError`` (``StateError``, ``BadInput``, ...),
``LookupError`` (unknown service, not fitted), ``FileNotFoundError``/``FileExistsError``/
``NotADirectoryError``, or a ``RuntimeError`` our libraries raise naming the fix (Redis not
answering, Java missing, ``feast apply`` failing). Set ``SKEWLESS_TRACEBACK=1`` to get the
traceback instead.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

EXIT_OK, EXIT_SKEW, EXIT_BAD_INPUT = 0, 1, 2
BAD_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, LookupError, FileNotFoundError, FileExistsError, NotADirectoryError,
    RuntimeError,
)


def stderr_console() -> Console:
    """A console on the current ``sys.stderr`` (spinners are drawn only on a terminal)."""
    return Console(stderr=True)


@contextmanager
def spinner(label: str) -> Iterator[None]:
    """A spinner with ``label`` while the block runs (nothing is drawn off a terminal)."""
    with stderr_console().status(f"{label} …"):
        yield


@contextmanager
def step(label: str) -> Iterator[None]:
    """:func:`spinner`, then ``✓ label (Xs)`` on stderr when the block succeeds — on a
    terminal only, so piped or captured stderr holds nothing but warnings and errors."""
    console = stderr_console()
    t0 = time.perf_counter()
    with console.status(f"{label} …"):
        yield
    if console.is_terminal:
        console.print(f"[green]✓[/green] {label} ({time.perf_counter() - t0:.1f}s)",
                      highlight=False)


def error_message(exc: BaseException) -> str:
    """The message of ``exc`` (a ``KeyError``'s without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def guarded(command: Callable[..., int | None]) -> Callable[..., None]:
    """Wrap a command: its return value is the exit code; bad input prints ``error: ...`` on
    stderr and exits 2 (see module docstring)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise  # both are RuntimeErrors: let typer handle them
        except BAD_INPUT_ERRORS as exc:
            if os.environ.get("SKEWLESS_TRACEBACK"):
                raise
            typer.echo(f"error: {error_message(exc)}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        if code:
            raise typer.Exit(code)

    return wrapper
