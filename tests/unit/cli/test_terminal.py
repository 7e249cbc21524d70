"""Text from the API is shown with its control characters escaped."""

from __future__ import annotations

from sorami_cli.progress import format_notification
from sorami_cli.terminal import safe


def test_safe_escapes_controls_and_keeps_the_rest():
    assert safe("a red fox — 狐 🦊") == "a red fox — 狐 🦊"
    assert safe("x\x1b[31my") == "x\\x1b[31my"
    assert safe("bell\x07 csi\x9b back\x08 cr\r nl\n") == "bell\\x07 csi\\x9b back\\x08 cr\\r nl\\n"
    assert safe("\u202eevil") == "\\u202eevil"
    assert safe(12) == "12"


def test_a_notification_line_holds_no_raw_escape():
    line = format_notification(
        {
            "id": "n1",
            "title": "Your image is ready",
            "message": "'\x1b]0;pwned\x07a fox' finished",
            "created_at": "2026-01-01T00:00:00Z",
            "read_at": None,
        }
    )
    assert "\x1b" not in line and "\x07" not in line
    assert "\\x1b]0;pwned\\x07a fox" in line
