"""Column helpers shared by the features' tables (SQLModel).

Enumerated columns are plain text with CHECK constraints (cheap to extend in a migration,
unlike PostgreSQL enum types). API shapes live in each feature's ``schemas``: a table object is
never returned to a client."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field


def uuid_pk() -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
    )


def timestamp(*, nullable: bool = True, server_now: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True),
            nullable=nullable,
            server_default=sa.func.now() if server_now else None,
        ),
    )
