"""Scheduling: the database is the queue of record. A create stores its ``generation.requested``
in ``generation_queue``; the scheduler (a loop in every ``sorami-gateway relay``) releases jobs
into the outbox, in the same transaction that removes them from the queue, as generators have
room: by priority tier, then per-user deficit round-robin weighted by cost, then age."""
