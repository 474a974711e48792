"""One exception for input the user can fix, and the wrapper that turns it into a one-line message."""

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class UserInputError(ValueError):
    """Bad input the user can fix (a flag, a data file, a config). Its message names the problem and the fix."""


def cli_entry_point(main: Callable[[], T]) -> Callable[[], T]:
    """
    Wrap a script's `main` so that a `UserInputError` (or a missing file) prints `error: <message>` on one line and
    exits with status 2. With `--debug` on the command line the full traceback is shown instead.
    """

    @functools.wraps(main)
    def wrapper() -> T:
        debug = "--debug" in sys.argv
        if debug:
            sys.argv.remove("--debug")
            return main()
        try:
            return main()
        except (UserInputError, FileNotFoundError) as error:
            logging.getLogger(main.__module__).debug("user error", exc_info=True)
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"error: {message} (run with --debug for the traceback)", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
