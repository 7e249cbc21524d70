from __future__ import annotations

import json

import pytest
from sorami_gateway.infra.auth import DevelopmentTokensRefused, issue_development_token
from sorami_gateway.settings import (
    DEVELOPMENT_JWT_SECRET,
    DEVELOPMENT_MEDIA_SECRET,
    GatewaySettings,
)


def test_development_uses_builtin_secrets():
    settings = GatewaySettings(environment="development")
    assert settings.hs256_secret == DEVELOPMENT_JWT_SECRET
    assert settings.media_secret == DEVELOPMENT_MEDIA_SECRET.encode()
    assert issue_development_token("alice", settings)


@pytest.mark.parametrize("environment", ["test", "production"])
def test_builtin_secrets_refused_elsewhere(environment):
    with pytest.raises(ValueError):
        GatewaySettings(
            environment=environment,
            jwt_secret=DEVELOPMENT_JWT_SECRET,
            media_signing_secret="m" * 40,
        )
    with pytest.raises(ValueError):
        GatewaySettings(environment=environment, jwt_secret="j" * 40)  # no media secret
    with pytest.raises(ValueError):
        GatewaySettings(
            environment=environment,
            jwt_secret="j" * 40,
            media_signing_secret=DEVELOPMENT_MEDIA_SECRET,
        )
    settings = GatewaySettings(
        environment=environment,
        jwks_url="https://idp/.well-known/jwks.json",
        media_signing_secret="m" * 40,
    )
    assert settings.hs256_secret is None
    with pytest.raises(DevelopmentTokensRefused):
        issue_development_token("alice", settings)


def test_env_prefix(monkeypatch):
    entry = {"source": "x/y", "kind": "image"}
    monkeypatch.setenv("SORAMI_GATEWAY_MODELS", json.dumps({"a": entry, "b": entry}))
    monkeypatch.setenv("SORAMI_GATEWAY_IMAGE_MODELS", '["a", "b"]')
    monkeypatch.setenv("SORAMI_GATEWAY_IMAGE_LIMITS__MAX_NUM_IMAGES", "2")
    monkeypatch.setenv("SORAMI_GATEWAY_ENVIRONMENT", "development")
    settings = GatewaySettings()
    assert settings.image_models == ["a", "b"]
    assert settings.image_limits.max_num_images == 2
    assert settings.registry["a"].source == "x/y" and "tiny-video" in settings.registry


def test_allow_listed_models_must_be_in_the_registry(monkeypatch):
    monkeypatch.setenv("SORAMI_GATEWAY_ENVIRONMENT", "development")
    monkeypatch.setenv("SORAMI_GATEWAY_IMAGE_MODELS", '["tiny-image", "ghost"]')
    with pytest.raises(ValueError, match="'ghost'"):
        GatewaySettings()


def test_a_reserve_that_leaves_batch_jobs_no_slot_is_refused_naming_both_settings():
    with pytest.raises(ValueError, match="scheduler_interactive_reserve.*slots_per_consumer"):
        GatewaySettings(scheduler_slots_per_consumer=4, scheduler_interactive_reserve=4)
    fine = GatewaySettings(scheduler_slots_per_consumer=4, scheduler_interactive_reserve=3)
    assert fine.scheduler_interactive_reserve == 3
