"""a job leaves the scheduler's queue when it leaves PENDING: a trigger, not a purge per pass

Every release pass used to delete the queued jobs that were no longer PENDING (cancelled,
failed by the watchdog, ...) by joining the whole queue with their generations: 18 ms a pass
at 50,000 queued jobs, on every pass. The invariant "a queue row exists only while its
generation is PENDING" now holds at the change itself: a row trigger on ``generations``
deletes the job's queue row when its status leaves PENDING (a deleted generation's row goes by
the foreign key's ON DELETE CASCADE, as before). A released job has no queue row left, so for
a job's start or end the trigger's delete finds nothing, through the primary key. The upgrade
purges once what an earlier pass had not yet; the downgrade drops the trigger (0015's pass
purged on its own).
"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = "0016"
down_revision = "0015"

UPGRADE = (
    """
    CREATE FUNCTION sorami_dequeue_not_pending() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        DELETE FROM generation_queue WHERE job_id = NEW.id;
        RETURN NULL;
    END
    $fn$
    """,
    """
    CREATE TRIGGER generations_leave_queue AFTER UPDATE OF status ON generations
    FOR EACH ROW WHEN (OLD.status = 'PENDING' AND NEW.status <> 'PENDING')
    EXECUTE FUNCTION sorami_dequeue_not_pending()
    """,
    "DELETE FROM generation_queue q USING generations g"
    " WHERE g.id = q.job_id AND g.status <> 'PENDING'",
)

DOWNGRADE = (
    "DROP TRIGGER generations_leave_queue ON generations",
    "DROP FUNCTION sorami_dequeue_not_pending()",
)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
