"""${message}"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}

# The change in PostgreSQL's own words, one statement a string (see migrations/sql.py). Start
# from what SQLAlchemy would emit for the models: `alembic upgrade <from>:<to> --sql`.
UPGRADE: tuple[str, ...] = ()

DOWNGRADE: tuple[str, ...] = ()

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
