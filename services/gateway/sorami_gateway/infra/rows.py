"""Reading one row to change it: ``SELECT ... FOR UPDATE`` in the caller's transaction."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")


async def locked_one(session: AsyncSession, model: type[Row], *where: Any) -> Row | None:
    """The one ``model`` row matching every condition of ``where``, locked until the
    transaction ends; None when there is none (a missing row and another user's row look the
    same to the caller, so a 404 never tells one from the other)."""
    statement = sa.select(model).where(*where).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()
