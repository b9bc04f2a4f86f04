"""The one place a command's errors end: each as one `clinvk: error:` line on stderr and the
exit code SPEC gives it, never a traceback. Click-free: the Click entry (clinvk.cli) and the
plain-run entry (clinvk.launch) both run their command inside `guarded`."""

from __future__ import annotations

import os

from clinvk.errors import ClinvkError, ExitCode

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO

    from clinvk.app import App


def guarded(app: App, body: Callable[[], int | None]) -> int:
    """Run a command and return its exit code; a command that succeeded is followed by the
    daily housekeeping; the store's index is closed and stdout flushed whatever happens."""
    try:
        code = body()
        if not isinstance(code, int):
            code = ExitCode.OK
        if code == ExitCode.OK:
            app.after_command()
        return int(code)
    except ClinvkError as exc:
        return report(app, exc.message, exc.exit_code)
    except (KeyboardInterrupt, EOFError):  # EOFError: as Click takes it, an aborted input
        return report(app, "interrupted", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        silence(app.env.stdout)
        return ExitCode.OK
    except Exception as exc:  # the last line of defence: never a traceback
        if app.env.environ.get("CLINVK_DEBUG"):
            raise
        failed = _output_failure(app, exc)
        if failed is not None:
            return report(app, f"cannot write the output ({failed})", ExitCode.BACKEND_FAILED)
        return report(app, f"internal error: {type(exc).__name__}: {exc}", ExitCode.BACKEND_FAILED)
    finally:
        _close_store(app)
        try:
            app.env.stdout.flush()
        except (BrokenPipeError, ValueError):
            silence(app.env.stdout)
        except OSError:  # a full stdout: the command said so (a turn: OutputFailed)
            pass


def _output_failure(app: App, exc: Exception) -> str | None:
    """What went wrong when `exc` is stdout's encoding unable to show the text
    (PYTHONIOENCODING=ascii and a title in another script); None for anything else."""
    encoding = getattr(app.env.stdout, "encoding", None)
    if not isinstance(exc, UnicodeEncodeError) or not encoding:
        return None
    import codecs

    try:
        name = codecs.lookup(encoding).name
        if codecs.lookup(exc.encoding).name != name or name.startswith("utf"):
            return None  # a UTF stdout shows every character: the error is from elsewhere
    except LookupError:
        return None
    return f"its encoding {exc.encoding} cannot show {exc.object[exc.start:exc.end]!a}"


def report(app: App, message: str, code: int) -> int:
    """One error line on stderr; `code`."""
    from clinvk.display import printable

    # line breaks kept: an ambiguous prefix lists its candidates one per line
    app.env.stderr.write(f"clinvk: error: {printable(message, lines=True)}\n")
    return code


def _close_store(app: App) -> None:
    """Close the index (its last connection folds sqlite's write-ahead log back into the
    file): main() leaves with os._exit, which would leave the -wal and -shm files behind."""
    try:
        app.close_store()
    except Exception:  # closing never fails a command that has run
        pass


def silence(stdout: IO[str]) -> None:
    """A reader that went away: later writes (the interpreter's own flush) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
    except (OSError, ValueError):
        pass
