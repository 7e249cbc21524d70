"""What the command line reports, and with which exit status."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # the API answered an error, or the job FAILED
EXIT_USAGE = 2  # usage or configuration (a development token outside development, --kind)


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


class ApiError(CliError):
    """The API answered ``status`` (>= 400)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, EXIT_ERROR)
        self.status = status
