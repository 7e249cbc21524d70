"""A disabled level costs nothing: structlog drops it before any processor runs."""

from __future__ import annotations

from sorami_shared.logging import configure_logging, get_logger


class Counted(dict):  # type: ignore[type-arg]
    """A log value that counts how often a processor (the redaction) walked it."""

    seen = 0

    def items(self):  # type: ignore[override]
        Counted.seen += 1
        return super().items()


def test_a_disabled_level_runs_no_processor(capsys):
    configure_logging("test", fmt="console", level="INFO")
    log = get_logger("levels").bind(job_id="j")
    log.debug("dropped", value=Counted())
    assert Counted.seen == 0
    assert "dropped" not in capsys.readouterr().out
    log.info("kept", value=Counted())
    assert Counted.seen > 0
    assert "kept" in capsys.readouterr().out
