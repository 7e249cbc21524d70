"""Where the command line finds its settings, and the development tokens it mints.

Settings come from the environment; where the variables are not set, ``deploy/local.env``
(what ``make up`` runs with) fills them in. A development token is signed as the gateway
in development expects it (:mod:`sorami_shared.dev_tokens`, with the gateway's secret,
issuer and audience if the environment sets them) and is refused outside development.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import EXIT_USAGE, CliError

DEFAULT_URL = "http://127.0.0.1:8000"
GATEWAY = "SORAMI_GATEWAY_"  # the gateway's variables decide how its tokens look


def _repo_env_file() -> Path | None:
    explicit = os.environ.get("SORAMI_ENV_FILE")
    if explicit:
        return Path(explicit)
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base / "deploy" / "local.env"
        if candidate.is_file():
            return candidate
    return None


def load_local_env(prefix: str = GATEWAY) -> None:
    """Fill unset ``SORAMI_GATEWAY_*`` variables from deploy/local.env (never overrides)."""
    path = _repo_env_file()
    if path is None or not path.is_file():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip().strip("'\"")
        if key.startswith(prefix):
            os.environ.setdefault(key, value)


def _gateway_env(name: str) -> str | None:
    return os.environ.get(GATEWAY + name) or None


def development_token(user_id: str, ttl_s: int | None = None) -> str:
    """What ``sorami token USER`` prints (the demo uses the same function)."""
    # Imported here: jwt and pydantic-settings cost more than the rest of a `--token` run.
    from sorami_shared.dev_tokens import (
        DEVELOPMENT_TOKEN_TTL_S,
        DevelopmentTokensRefused,
        mint_dev_token,
    )

    load_local_env()
    environment = (_gateway_env("ENVIRONMENT") or "development").lower()
    try:
        if ttl_s is None:
            ttl_s = int(_gateway_env("DEVELOPMENT_TOKEN_TTL_S") or DEVELOPMENT_TOKEN_TTL_S)
        return mint_dev_token(
            user_id,
            ttl_s,
            environment=environment,
            secret=_gateway_env("JWT_SECRET"),
            issuer=_gateway_env("JWT_ISSUER"),
            audience=_gateway_env("JWT_AUDIENCE"),
        )
    except DevelopmentTokensRefused as exc:
        raise CliError(
            f"{exc}: SORAMI_GATEWAY_ENVIRONMENT is {environment!r}. Development tokens exist "
            "only for local development; use a token from your identity provider "
            "(--token or $SORAMI_TOKEN).",
            EXIT_USAGE,
        ) from exc
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
