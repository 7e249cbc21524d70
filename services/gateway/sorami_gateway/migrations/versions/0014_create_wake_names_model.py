"""the create's scheduler wake-up names its model: sorami_admit_generation() re-made (same
signature)

The NOTIFY a create sends on the scheduler's channel carried nothing; it now carries the job's
model. The scheduler skips the release pass for a wake-up that brought only creates of models
its last pass left with no free slot (workers/scheduler.py): under a backlog, a pass per
create spared. Every other wake-up still carries nothing and still runs a pass. The downgrade
puts back 0013's function.
"""

from __future__ import annotations

import importlib

from sorami_gateway.migrations.sql import steps

revision = "0014"
down_revision = "0013"

_previous = importlib.import_module(
    "sorami_gateway.migrations.versions.0013_create_notify_carries_event"
)

OLD_WAKE = "    PERFORM pg_notify(p_outbox_channel, '');"
NEW_WAKE = "    PERFORM pg_notify(p_outbox_channel, p_model);"
assert _previous.FUNCTION.count(OLD_WAKE) == 1

FUNCTION = _previous.FUNCTION.replace(OLD_WAKE, NEW_WAKE)

upgrade, downgrade = steps((FUNCTION,), (_previous.FUNCTION,))
