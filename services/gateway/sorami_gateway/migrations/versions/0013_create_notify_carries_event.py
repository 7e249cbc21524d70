"""the create's NOTIFY carries its event: sorami_admit_generation() re-made (same signature)

The user event a create appends (the job's PENDING status) now goes in its NOTIFY, as
``events.log.append_many``'s do (the user id, a newline, ``[[id, type, data, created_at]]``):
the user's open streams send it without reading the log (events/hub.py). A create's event is
a few hundred bytes, far below NOTIFY's 8,000. The downgrade puts back 0007's function.
"""

from __future__ import annotations

import importlib

from sorami_gateway.migrations.sql import steps

revision = "0013"
down_revision = "0012"

_previous = importlib.import_module("sorami_gateway.migrations.versions.0007_scheduling")

OLD_APPEND = """    INSERT INTO user_events (user_id, type, job_id, data)
    VALUES (p_user_id, p_user_event_type, p_job_id, p_user_event_data);
    PERFORM pg_notify(p_events_channel, p_user_id);"""
NEW_APPEND = """    INSERT INTO user_events (user_id, type, job_id, data)
    VALUES (p_user_id, p_user_event_type, p_job_id, p_user_event_data)
    RETURNING id, created_at INTO v_event_id, v_event_at;
    PERFORM pg_notify(p_events_channel, p_user_id || E'\\n' || json_build_array(
        json_build_array(v_event_id, p_user_event_type, p_user_event_data, v_event_at))::text);"""
OLD_DECLARE = "    v_unfinished bigint;\n"
NEW_DECLARE = "    v_unfinished bigint;\n    v_event_id bigint;\n    v_event_at timestamptz;\n"
assert OLD_APPEND in _previous.FUNCTION and OLD_DECLARE in _previous.FUNCTION


def _replaceable(function: str) -> str:
    return function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


FUNCTION = _replaceable(
    _previous.FUNCTION.replace(OLD_APPEND, NEW_APPEND).replace(OLD_DECLARE, NEW_DECLARE)
)

upgrade, downgrade = steps((FUNCTION,), (_replaceable(_previous.FUNCTION),))
