"""What reaches the terminal: text that came from the API (prompts, titles, error details)
is shown with its control characters escaped, so a prompt holding ESC sequences cannot
recolour, move the cursor, retitle or clear the user's terminal; and a closed pipe
(``sorami status ID | head -5``) ends the command quietly."""

from __future__ import annotations

import os
import sys
import unicodedata

# Cc: C0/C1 controls (ESC, CSI 0x9b, BEL, backspace, carriage return...); Cf: format
# characters such as bidi overrides (U+202E), which reorder what is shown.
UNSAFE = ("Cc", "Cf")
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a command killed by it


def safe(text: object) -> str:
    """``text`` with every control or format character written as an escape (``\\x1b``)."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in UNSAFE else ch
        for ch in s
    )


def quiet_broken_pipe() -> int:
    """After a BrokenPipeError on stdout: point stdout at /dev/null, so the interpreter's
    final flush does not fail again, and return the exit status of a SIGPIPE'd command."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE
