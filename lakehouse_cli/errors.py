"""Failures a person can act on: one line saying what happened, one saying what to do.

`FriendlyGroup` is the typer group class of the `lakehouse` app, so every command,
including ones added later, runs inside `main()` below. Known failures (a bad
option, an unreachable broker, a lake path that cannot be written ...) become two
lines on stderr and a non-zero exit; anything else becomes its type and first
line. The full traceback is printed only with `--log-level DEBUG` (or LOG_LEVEL=DEBUG).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer 0.2x vendors its own click; older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ActionableError(Exception):
    """A failure with what happened (`what`) and what the user should do (`todo`)."""

    def __init__(self, what: str, todo: str) -> None:
        super().__init__(what)
        self.what = what
        self.todo = todo


def explain(exc: BaseException) -> ActionableError:
    """The two lines a user sees for `exc`; unknown errors name their type and first line."""
    if isinstance(exc, ActionableError):
        return exc
    for kind, translate in _translators():
        if isinstance(exc, kind):
            found = translate(exc)
            if found is not None:
                return found
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return ActionableError(
        f"{type(exc).__name__}: {first}" if first else type(exc).__name__,
        "rerun with --log-level DEBUG for the full traceback",
    )


def _translators() -> list[tuple[type[BaseException], Any]]:
    """Exception types raised by the layers below the CLI, imported only if installed."""
    found: list[tuple[type[BaseException], Any]] = []
    try:
        from pydantic import ValidationError

        found.append((ValidationError, _invalid_setting))
    except ImportError:  # pragma: no cover - pydantic is a core dependency
        pass
    from retail_lakehouse.jvm import JarsMissingError

    found.append((JarsMissingError, _jars_missing))
    try:
        from mock.kafka_broker import BrokerUnavailableError

        found.append((BrokerUnavailableError, _broker_missing))
    except ImportError:  # pragma: no cover
        pass
    try:
        from producer.topics import TopicSetupError

        found.append(
            (
                TopicSetupError,
                lambda e: ActionableError(
                    str(e).split("; ")[0], "check KAFKA_BOOTSTRAP_SERVERS and topic permissions"
                ),
            )
        )
    except ImportError:  # pragma: no cover
        pass
    found += [
        (NotADirectoryError, _not_writable),
        (PermissionError, _not_writable),
        (FileExistsError, _not_writable),
        (ValueError, _missing_bootstrap),
    ]
    return found


def _invalid_setting(exc: Any) -> ActionableError:
    problems = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error.get("loc", ())).upper() or "settings"
        problems.append(f"{name}={error.get('input')!r}: {error.get('msg')}")
    return ActionableError(
        "invalid setting " + "; ".join(problems),
        "fix that environment variable (or its line in .env); see README 'Configuration'",
    )


def _broker_missing(exc: BaseException) -> ActionableError:
    text = str(exc)
    if "did not answer" in text or "exited" in text:
        return ActionableError(
            f"the local Kafka broker did not start ({text})",
            "read its log (outputs/broker.log for the demo), or set KAFKA_BOOTSTRAP_SERVERS",
        )
    what, _, todo = text.partition(": ")
    return ActionableError(what, todo or "set KAFKA_BOOTSTRAP_SERVERS to a running Kafka cluster")


def _jars_missing(exc: BaseException) -> ActionableError:
    what, _, todo = str(exc).partition(": ")
    return ActionableError(what, todo)


def _not_writable(exc: OSError) -> ActionableError:
    path = exc.filename or "the path"
    return ActionableError(
        f"cannot write to {path}: {exc.strerror or exc}",
        "set LAKE_ROOT (and CHECKPOINT_ROOT) to a folder you can write, e.g. LAKE_ROOT=./lake",
    )


def _missing_bootstrap(exc: ValueError) -> ActionableError | None:
    text = str(exc)
    if "KAFKA_BOOTSTRAP_SERVERS is not set" not in text:
        return None
    what, _, todo = text.partition(": ")
    return ActionableError(what, todo)


def debug_enabled(args: Sequence[str]) -> bool:
    """--log-level DEBUG on the command line, or LOG_LEVEL=DEBUG in the environment."""
    args = list(args)
    for i, arg in enumerate(args):
        if arg == "--log-level" and i + 1 < len(args):
            return args[i + 1].upper() == "DEBUG"
        if arg.startswith("--log-level="):
            return arg.split("=", 1)[1].upper() == "DEBUG"
    return os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"


def report(exc: BaseException, *, debug: bool) -> None:
    """Print the two lines (after the traceback when debugging) to stderr."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    problem = explain(exc)
    sys.stderr.write(f"error: {problem.what}\n  -> {problem.todo}\n")
    sys.stderr.flush()


class FriendlyGroup(TyperGroup):
    """The `lakehouse` group: runs the command and turns failures into two lines."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = debug_enabled(argv)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exceptions.NoArgsIsHelpError as exc:
            exc.show()
            code = EXIT_USAGE
        except click_exceptions.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "lakehouse"
            report(ActionableError(exc.format_message(), f"see `{command} --help`"), debug=False)
            code = EXIT_USAGE
        except typer.Abort:
            sys.stderr.write("interrupted\n")
            code = EXIT_INTERRUPTED
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            code = EXIT_INTERRUPTED
        except click_exceptions.ClickException as exc:
            report(ActionableError(exc.format_message(), "see `lakehouse --help`"), debug=False)
            code = exc.exit_code
        except Exception as exc:
            report(exc, debug=debug)
            code = EXIT_FAILURE
        else:
            code = result if isinstance(result, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)
