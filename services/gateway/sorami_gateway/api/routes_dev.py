"""``POST /api/dev/token``: the web app's "sign in as NAME" in development.

The same minting as ``sorami token`` (:func:`sorami_gateway.auth.issue_development_token`),
refused outside development in the same way: 403, and no token exists to be had."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import AfterValidator, BaseModel, Field

from ..auth import DevelopmentTokensRefused, issue_development_token, valid_user_id
from .deps import Context

router = APIRouter(prefix="/api/dev", tags=["development"])


def _printable(value: str) -> str:
    if not valid_user_id(value):
        raise ValueError("must be 1..255 printable characters")
    return value


class DevTokenRequest(BaseModel):
    user: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable)]


class DevToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post(
    "/token",
    response_model=DevToken,
    responses={
        400: {"description": "The body cannot be parsed (not UTF-8 JSON)"},
        403: {"description": "Refused: the gateway is not in development"},
    },
)
async def development_token(body: DevTokenRequest, context: Context) -> DevToken:
    """A development JWT for `user` (the web app's sign-in form). Refused outside
    development: production tokens come from your identity provider."""
    ttl = context.settings.development_token_ttl_s
    try:
        token = issue_development_token(body.user, context.settings, ttl_s=ttl)
    except DevelopmentTokensRefused as exc:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{exc}: sign in with a token from your identity provider",
        ) from None
    return DevToken(access_token=token, expires_in=ttl)
