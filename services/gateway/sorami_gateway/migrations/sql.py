"""A migration is two tuples of SQL statements: what its upgrade runs, and its downgrade.

Each revision file says ``upgrade, downgrade = steps(UPGRADE, DOWNGRADE)``: the schema in
PostgreSQL's own words, frozen once released (a later change is a new migration), so it never
drifts with the models; tests/integration/gateway/test_migrations.py compares the result with
the models and upgrades a database left at every released revision."""

from __future__ import annotations

from collections.abc import Callable

from alembic import op


def _running(statements: tuple[str, ...]) -> Callable[[], None]:
    def run() -> None:
        for statement in statements:
            op.execute(statement)

    return run


def steps(
    upgrade: tuple[str, ...], downgrade: tuple[str, ...]
) -> tuple[Callable[[], None], Callable[[], None]]:
    return _running(upgrade), _running(downgrade)
