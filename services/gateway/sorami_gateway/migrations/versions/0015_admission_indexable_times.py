"""the create's time filters use an index: sorami_admit_generation() re-made (same signature)

Three filters of the create compared a column with ``clock_timestamp()``, which is volatile:
PostgreSQL evaluates it per row and cannot use it as an index condition. The worst was the
clean-up of expired Idempotency-Keys that every create with a key runs: a sequential scan of
``idempotency_keys`` (every key of the last ``IDEMPOTENCY_TTL_S``, a day by default), 20 ms at
200,000 keys and growing with the create rate, where the index on ``expires_at`` answers in
0.2 ms. The lookup of an SDK retry's first attempt read every generation of the user and kind
instead of the window's (``ix_generations_history``). They now compare with ``v_now``, the
create's time, read once at its start (``clock_timestamp()`` after the quota row's lock): a
plpgsql variable is a parameter of the plan, so the indexes serve. The downgrade puts back
0014's function.
"""

from __future__ import annotations

import importlib

from sorami_gateway.migrations.sql import steps

revision = "0015"
down_revision = "0014"

_previous = importlib.import_module(
    "sorami_gateway.migrations.versions.0014_create_wake_names_model"
)

CHANGES = (
    ("          AND k.expires_at > clock_timestamp();", "          AND k.expires_at > v_now;"),
    (
        "AND g.created_at > clock_timestamp() - make_interval(secs => p_retry_window_s)",
        "AND g.created_at > v_now - make_interval(secs => p_retry_window_s)",
    ),
    ("        WHERE k.expires_at <= clock_timestamp();", "        WHERE k.expires_at <= v_now;"),
    (
        "WHERE e.expires_at <= clock_timestamp() LIMIT 100 FOR UPDATE SKIP LOCKED);",
        "WHERE e.expires_at <= v_now LIMIT 100 FOR UPDATE SKIP LOCKED);",
    ),
)
FUNCTION = _previous.FUNCTION
for old, new in CHANGES:
    assert FUNCTION.count(old) == 1, old
    FUNCTION = FUNCTION.replace(old, new)

upgrade, downgrade = steps((FUNCTION,), (_previous.FUNCTION,))
