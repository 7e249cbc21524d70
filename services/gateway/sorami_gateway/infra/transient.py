"""Which failures of a gateway consumer are an outage to ride out in place (not the message's
fault): the bus's own (broker, connections, timeouts) plus the database driver's."""

from __future__ import annotations

import asyncpg
import sqlalchemy.exc
from sorami_shared.messaging import transient_classifier

is_transient = transient_classifier(
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # the pool's
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # a deadlock or serialization failure: the transaction is rolled back and may run again
    asyncpg.exceptions.TransactionRollbackError,
)
