"""Development tokens: one definition (sorami_shared.dev_tokens) for the command line and the
gateway; refused outside development, and never born expired."""

from __future__ import annotations

import subprocess
import sys

import jwt
import pytest
from sorami_cli.config import development_token
from sorami_cli.main import main
from sorami_gateway.auth import Authenticator
from sorami_gateway.settings import GatewaySettings
from sorami_shared.dev_tokens import (
    DEVELOPMENT_JWT_SECRET,
    DevelopmentTokensRefused,
    mint_dev_token,
)


@pytest.fixture(autouse=True)
def development(monkeypatch):
    for name in ("ENVIRONMENT", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(f"SORAMI_GATEWAY_{name}", raising=False)
    monkeypatch.setenv("SORAMI_ENV_FILE", "/nonexistent")


@pytest.mark.parametrize("ttl", ["-100", "0"])
def test_token_with_a_lifetime_that_is_not_positive_is_refused(ttl, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["token", "alice", "--ttl", ttl])
    assert exit_.value.code == 2
    err = capsys.readouterr()
    assert err.out == ""  # no token printed
    assert "--ttl" in err.err and "positive number of seconds" in err.err


def test_the_shared_minting_refuses_a_lifetime_that_is_not_positive() -> None:
    for ttl in (-100, 0):
        with pytest.raises(ValueError, match="positive"):
            mint_dev_token("alice", ttl, environment="development")


def test_token_lifetime_is_what_was_asked(capsys) -> None:
    assert main(["token", "alice", "--ttl", "60"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), DEVELOPMENT_JWT_SECRET, ["HS256"])
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 60


async def test_the_gateway_in_development_accepts_what_the_cli_mints(monkeypatch) -> None:
    monkeypatch.setenv("SORAMI_GATEWAY_JWT_ISSUER", "https://issuer.example")
    token = development_token("carol")
    settings = GatewaySettings(environment="development", jwt_issuer="https://issuer.example")
    authenticator = Authenticator(settings)
    try:
        assert await authenticator.user_id(token) == "carol"
    finally:
        await authenticator.close()


@pytest.mark.parametrize("environment", ["test", "production", "nonsense"])
def test_refused_outside_development(environment, monkeypatch, capsys) -> None:
    with pytest.raises(DevelopmentTokensRefused):
        mint_dev_token("alice", 60, environment=environment)
    monkeypatch.setenv("SORAMI_GATEWAY_ENVIRONMENT", environment)
    with pytest.raises(SystemExit) as exit_:
        main(["token", "alice"])
    assert exit_.value.code == 2
    assert "refused outside development" in capsys.readouterr().err


def test_the_cli_imports_nothing_of_the_gateway() -> None:
    probe = (
        "import sys, sorami_cli.main, sorami_cli.commands; "
        "print(sorted(m for m in sys.modules if m.startswith('sorami_gateway')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
