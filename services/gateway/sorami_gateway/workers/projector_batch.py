"""The projector's batch path: many deliveries in ONE transaction on the pooled connection's
driver (asyncpg, pre-built statements, no ORM), a handful of round trips per batch whatever
its size. The effect is the one-event-at-a-time path's (:mod:`.projector`), event by event:

1. the batch's generations, locked in id order (two replicas never deadlock);
2. ``processed_events`` for the batch in one statement: a redelivered event is dropped there
   (progress and notifications are not recorded: applying a progress twice changes nothing,
   and a notification's id is its row's key);
3. each job's new events folded over its row (generations/batch_fold.py: the state rules of
   generations/transitions.py, superseded progress of the batch left out of the user's log);
4. one UPDATE for every changed generation, one INSERT for the files, the notifications, the
   webhook deliveries; then the users' advisory locks (sorted) and their log events in batch
   order, LAST, as every writer of the log does (rows first, then user locks), and the NOTIFYs.

What this path does not do is deferred to the one-at-a-time path, after this commit and in
order: a job without a row (deleted: tombstones and storage clean-up; unknown: dead-letter),
an event whose user or kind does not match (dead-letter), a ``cancelled`` report and a
``completed`` for a cancelled job (storage clean-up), and any type it does not know.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg
from sorami_shared.events import (
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationCompleted,
    GenerationFailed,
    GenerationProgress,
    NotificationCreated,
)
from sorami_shared.messaging import Item

from ..events import log as user_events
from ..generations import metrics
from ..generations.batch_fold import Folded, Row, fold
from ..notifications.projection import event_data, row_of
from ..webhooks import outbox as webhook_outbox

JOB_EVENTS = (GenerationProgress, GenerationCompleted, GenerationFailed)

# The webhook targets of each job come with its row (no round trip of their own): the job's
# own (the request's webhook) and its user's endpoints, as JSON, or NULL when there are none.
LOCK = """SELECT id, user_id, kind, status, progress, error, error_code,
    started_at IS NOT NULL AS started, created_at, now() AS now,
    (SELECT json_agg(t) FROM (
        SELECT 'request' AS target, NULL::uuid AS endpoint_id, w.url, w.events
        FROM generation_webhooks w WHERE w.generation_id = g.id
        UNION ALL
        SELECT e.id::text, e.id, e.url, e.events FROM webhook_endpoints e
        WHERE e.user_id = g.user_id AND e.deleted_at IS NULL AND e.disabled_at IS NULL
    ) t) AS hooks
FROM generations g WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE OF g"""

PROCESSED = """INSERT INTO processed_events (consumer, event_id, event_type)
SELECT $1, e, t FROM unnest($2::uuid[], $3::text[]) AS u(e, t)
ON CONFLICT DO NOTHING RETURNING event_id"""

UPDATE = """UPDATE generations g SET status = u.status, progress = u.progress,
    error = CASE WHEN u.set_error THEN u.error ELSE g.error END,
    error_code = CASE WHEN u.set_error THEN u.error_code ELSE g.error_code END,
    started_at = CASE WHEN u.started THEN coalesce(g.started_at, now()) ELSE g.started_at END,
    completed_at = CASE WHEN u.finished THEN now() ELSE g.completed_at END,
    updated_at = now()
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bool[], $5::text[], $6::text[], $7::bool[],
    $8::bool[]) AS u(id, status, progress, set_error, error, error_code, started, finished)
WHERE g.id = u.id"""

FILES = """INSERT INTO generation_files (generation_id, index, key, mime_type, bytes, width,
    height, fps, frame_count, duration_s, poster_key)
SELECT generation_id, index, key, mime_type, bytes, width, height, fps, frame_count,
    duration_s, poster_key
FROM jsonb_populate_recordset(NULL::generation_files, $1::jsonb)
ON CONFLICT (generation_id, index) DO NOTHING"""

NOTIFICATIONS = """INSERT INTO notifications (id, user_id, job_id, kind, type, title, message,
    data, created_at)
SELECT id, user_id, job_id, kind, type, title, message, data, created_at
FROM jsonb_populate_recordset(NULL::notifications, $1::jsonb)
ON CONFLICT (id) DO NOTHING RETURNING id"""


class Outcome:
    """What a batch did: the deferred items, and the metrics to record after commit."""

    def __init__(self) -> None:
        self.deferred: list[Item] = []
        self.folded: list[Folded] = []
        self.created: dict[uuid.UUID, datetime] = {}
        self.now: datetime | None = None
        self.applied = 0

    def record_metrics(self) -> None:
        """After commit, as the one-at-a-time path does (generations/metrics.py)."""
        for f in self.folded:
            created, now, kind = self.created[f.row.id], self.now, f.row.kind
            assert now is not None
            seconds = max(0.0, (now - created).total_seconds())
            if f.started_now:
                metrics.JOB_QUEUE_WAIT.labels(kind).observe(seconds)
            if f.finished_now:
                outcome = f.row.status.lower()
                metrics.JOBS_FINISHED.labels(kind, outcome, f.row.error_code or outcome).inc()
                metrics.JOB_LATENCY.labels(kind, outcome).observe(seconds)


async def apply_batch(conn: asyncpg.Connection, consumer: str, items: list[Item]) -> Outcome:
    """In the caller's transaction on ``conn``."""
    out = Outcome()
    first: dict[uuid.UUID, Item] = {}
    by_job: dict[uuid.UUID, list[Item]] = defaultdict(list)
    other: list[Item] = []  # notifications and cancel requests
    again: list[Item] = []  # the same event twice in one batch: the copy after this commit
    for item in items:
        env = item.envelope
        if env.id in first:
            again.append(item)
            continue
        first[env.id] = item
        if isinstance(env.data, JOB_EVENTS):
            by_job[env.data.job_id].append(item)
        elif isinstance(env.data, NotificationCreated | GenerationCancelRequested):
            other.append(item)
        elif isinstance(env.data, GenerationCancelled):
            by_job[env.data.job_id].append(item)
        else:
            out.deferred.append(item)
    rows: dict[uuid.UUID, asyncpg.Record] = {}
    if by_job:
        for r in await conn.fetch(LOCK, list(by_job)):
            rows[r["id"]] = r
            out.created[r["id"]], out.now = r["created_at"], r["now"]
    fast: dict[uuid.UUID, list[Item]] = {}
    for job_id, job_items in by_job.items():
        if _fast(rows.get(job_id), job_items):
            fast[job_id] = job_items
        else:
            out.deferred += job_items
    out.deferred += again  # found processed (if applied here) by the one-at-a-time path
    candidates = [i for its in fast.values() for i in its] + other
    if not candidates:
        return out
    # Not recorded as processed: progress (applying one twice changes nothing: it only
    # rises, and an unchanged percent writes no event) and notifications (their id is the
    # row's key, never deleted: the INSERT's ON CONFLICT is the dedupe, and only a row it
    # inserted is logged). A batch of those alone costs no processed_events write at all.
    once, new = [], set()
    for i in candidates:
        if isinstance(i.envelope.data, GenerationProgress | NotificationCreated):
            new.add(i.envelope.id)
        else:
            once.append(i)
    if once:
        recorded = await conn.fetch(
            PROCESSED, consumer, [i.envelope.id for i in once], [i.envelope.type for i in once]
        )
        new |= {r["event_id"] for r in recorded}
    out.applied = len(candidates)
    position = {id(item): pos for pos, item in enumerate(items)}
    log: list[tuple[int, str, uuid.UUID, str, dict[str, Any]]] = []  # pos, user, job, type, data
    for job_id, job_items in fast.items():
        envs = [(position[id(i)], i.envelope) for i in job_items if i.envelope.id in new]
        if not envs:
            continue
        r = rows[job_id]
        row = Row(job_id, r["user_id"], r["kind"], r["status"], r["progress"], r["error"],
                  r["error_code"], r["started"])  # fmt: skip
        folded = fold(row, envs)
        if folded.changed:
            out.folded.append(folded)
        log += [(pos, row.user_id, job_id, t, d) for pos, t, d in folded.events]
    await _write_generations(conn, out.folded)
    log += await _notifications(conn, [i for i in other if i.envelope.id in new], position)
    await _webhooks(conn, out.folded, rows)
    await _append(conn, sorted(log, key=lambda e: e[0]))
    return out


def _fast(row: asyncpg.Record | None, items: list[Item]) -> bool:
    """Whether the batch path may apply this job's events (see the module doc)."""
    if row is None:
        return False
    for item in items:
        data = item.envelope.data
        if isinstance(data, GenerationCancelled):
            return False
        if data.user_id != row["user_id"] or data.kind.value != row["kind"]:
            return False
        if isinstance(data, GenerationCompleted) and row["status"] == "CANCELLED":
            return False
    return True


async def _write_generations(conn: asyncpg.Connection, folded: list[Folded]) -> None:
    if not folded:
        return
    rows = [f.row for f in folded]
    await conn.execute(
        UPDATE,
        [r.id for r in rows],
        [r.status for r in rows],
        [r.progress for r in rows],
        [f.set_error for f in folded],
        [r.error for r in rows],
        [r.error_code for r in rows],
        [f.started_now for f in folded],
        [f.finished_now for f in folded],
    )
    files = [file for f in folded for file in f.files]
    if files:
        await conn.execute(FILES, json.dumps(files))


async def _notifications(
    conn: asyncpg.Connection, items: list[Item], position: dict[int, int]
) -> list[tuple[int, str, uuid.UUID, str, dict[str, Any]]]:
    notes = [(position[id(i)], row_of(i.envelope.data)) for i in items
             if isinstance(i.envelope.data, NotificationCreated)]  # fmt: skip
    if not notes:
        return []
    payload = [{**row, "created_at": row["created_at"].isoformat()} for _, row in notes]
    inserted = {r["id"] for r in await conn.fetch(NOTIFICATIONS, json.dumps(payload, default=str))}
    return [
        (pos, row["user_id"], row["job_id"], user_events.NOTIFICATION, event_data(row))
        for pos, row in notes
        if row["id"] in inserted
    ]


async def _webhooks(
    conn: asyncpg.Connection, folded: list[Folded], rows: dict[uuid.UUID, asyncpg.Record]
) -> None:
    """The deliveries the batch's events call for (webhooks/outbox.py's rules), to the targets
    read with the rows (``LOCK``)."""
    deliveries = []
    for f in folded:
        row, hooks = f.row, rows[f.row.id]["hooks"]
        if not hooks:
            continue
        targets = json.loads(hooks) if isinstance(hooks, str) else hooks
        for _, type, data in f.events:
            event = webhook_outbox._event_of(type, data["status"])
            if event is None:
                continue
            step = None
            if event == webhook_outbox.WebhookEvent.progress:
                step = data["step"] if data.get("step") is not None else data.get("progress")
            message = webhook_outbox.webhook_id(row.id, event.value, step)
            for t in targets:
                if event.value in t["events"]:
                    deliveries.append({
                        "webhook_id": message, "target": t["target"],
                        "endpoint_id": t["endpoint_id"],
                        "user_id": row.user_id, "job_id": row.id, "kind": row.kind,
                        "event": event.value, "url": t["url"], "snapshot": data,
                        "status": "pending",
                    })  # fmt: skip
    if deliveries:
        await webhook_outbox.queue_deliveries(conn, deliveries)


async def _append(
    conn: asyncpg.Connection, log: list[tuple[int, str, uuid.UUID, str, dict[str, Any]]]
) -> None:
    """The users' log events in batch order, LAST (events/log.py: locks, rows, NOTIFYs)."""
    await user_events.append_many(conn, [(user, t, job, data) for _, user, job, t, data in log])
