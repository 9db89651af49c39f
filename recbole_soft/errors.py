"""Mistakes a user can fix: in their settings, their data files or the files a run needs.

Every such mistake is raised as an ``InputError`` whose message names the problem and the fix. The command line
prints it as one line and exits with status 2 (``--debug`` or ``RECBOLE_SOFT_DEBUG=1`` shows the traceback); any
other exception is a bug and keeps its traceback. The subclasses are also the built-in exceptions their callers
would expect, so ``except ValueError`` still catches a bad setting.
"""
import os
import sys
from collections.abc import Callable

DEBUG_VARIABLE = "RECBOLE_SOFT_DEBUG"


class InputError(Exception):
    """A mistake in the user's input; the message says what is wrong and how to fix it."""


class InvalidSetting(InputError, ValueError):
    """A setting that does not exist or whose value is not allowed, or a settings file that cannot be read."""


class InvalidData(InputError, ValueError):
    """A dataset file that RecBole cannot load as it is."""


class MissingInput(InputError, FileNotFoundError):
    """A dataset, settings file, model or adapter that is not where the settings say."""


class MissingPackage(InputError, ModuleNotFoundError):
    """An optional package that a chosen setting needs and that is not installed."""


def run_as_command(entry: Callable[[], object], program: str, argv: list[str] | None = None) -> None:
    """Run ``entry``; a user's mistake ends the process with one line on stderr and status 2, unless debugging."""
    arguments = sys.argv[1:] if argv is None else argv
    try:
        entry()
    except InputError as error:
        if "--debug" in arguments or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            raise
        print(f"{program}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
