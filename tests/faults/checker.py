"""The checker (after RabbitMQ's Jepsen suite): every job the client got a 2xx for is
classified lost, duplicated or ok, from the databases and the storage itself.

- lost: never reached a terminal status, or COMPLETED without its files (rows or objects),
  or terminal without its notification (in the notifier's table and the gateway's copy);
- duplicated: more file rows than one set, storage objects beyond the ones the rows name
  (a second set), more than one notification for an outcome or one for another outcome, or
  more than one terminal event in the user's event log (what ``GET /api/events`` streams):
  what a user would see if two generator replicas both ran a job to completion;
- ok: everything else.

Webhooks (jobs that asked for one): lost if the receiver never acknowledged a message of
the job's terminal event whose signature verified (on receipt) with its user's secret;
duplicated if that event came with more than one ``webhook-id`` (a redelivery must carry the
same id), or if a terminal event other than the job's outcome arrived. A batch's
``batch.completed`` (to its user's standing endpoint) likewise: lost if none verified and
acknowledged, duplicated if it came with more than one ``webhook-id``.

A batch's jobs are classified like single jobs; the batch itself (``GET /api/batches/{id}``)
must count every one of them, all finished (:func:`batch_problems`).

Live previews (``generation.preview``) are ignored: best effort, never stored (no table row,
no event-log row, no object, no webhook), so they cannot be lost, and a job run twice that
showed its previews twice is not duplicated.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from .harness import Accepted

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
BATCH_COMPLETED = "batch.completed"


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass
class Verdict:
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.counts["lost"]

    @property
    def duplicated(self) -> int:
        return self.counts["duplicated"]


async def snapshot(gateway_db: str, notifier_db: str) -> dict[str, Any]:
    gw = await asyncpg.connect(_dsn(gateway_db))
    try:
        generations = {
            str(r["id"]): dict(r)
            for r in await gw.fetch(
                "SELECT id, user_id, kind, status, error, error_code, params,"
                " watchdog_requeues FROM generations"
            )
        }
        files: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in await gw.fetch(
            "SELECT generation_id, index, key, mime_type, bytes, width, height, fps,"
            " frame_count, duration_s, poster_key FROM generation_files ORDER BY index"
        ):
            files[str(r["generation_id"])].append(dict(r))
        terminal_events = Counter(
            str(r["job_id"])
            for r in await gw.fetch(
                "SELECT job_id FROM user_events WHERE type = ANY($1::text[])",
                [f"generation.{t.lower()}" for t in TERMINAL],
            )
        )
        gw_notes = Counter(
            (str(r["job_id"]), r["type"].removeprefix("generation."))
            for r in await gw.fetch("SELECT job_id, type FROM notifications")
        )
    finally:
        await gw.close()
    nt = await asyncpg.connect(_dsn(notifier_db))
    try:
        notes = Counter(
            (str(r["job_id"]), r["outcome"])
            for r in await nt.fetch("SELECT job_id, outcome FROM notifications")
        )
    finally:
        await nt.close()
    return {
        "generations": generations,
        "files": files,
        "gw_notes": gw_notes,
        "notes": notes,
        "terminal_events": terminal_events,
    }


def objects_of(media_dir: Path, kind: str, job_id: str) -> set[str]:
    folder = media_dir / kind / job_id
    if not folder.exists():
        return set()
    return {f"{kind}/{job_id}/{p.name}" for p in folder.iterdir() if p.is_file()}


def classify(accepted: list[Accepted], snap: dict[str, Any], media_dir: Path) -> Verdict:
    verdict = Verdict()
    for job in accepted:
        row = snap["generations"].get(job.job_id)
        lost: list[str] = []
        dup: list[str] = []
        status = row["status"] if row else "MISSING"
        verdict.statuses[status] += 1
        if status not in TERMINAL:
            lost.append(f"status {status}")
        rows = snap["files"].get(job.job_id, [])
        keys = {r["key"] for r in rows} | {r["poster_key"] for r in rows if r["poster_key"]}
        objects = objects_of(media_dir, job.kind, job.job_id)
        if status == "COMPLETED":
            if len(rows) < job.files:
                lost.append(f"{len(rows)} file rows of {job.files}")
            if not keys <= objects:
                lost.append(f"objects missing: {sorted(keys - objects)}")
        if len(rows) > job.files or len({r["index"] for r in rows}) != len(rows):
            dup.append(f"{len(rows)} file rows for {job.files} files")
        if objects - keys and status == "COMPLETED":
            dup.append(f"objects outside the file set: {sorted(objects - keys)}")
        if status in ("COMPLETED", "FAILED"):
            outcome = status.lower()
            for source in ("notes", "gw_notes"):
                n = snap[source].get((job.job_id, outcome), 0)
                if n == 0:
                    lost.append(f"no {outcome} notification in {source}")
                elif n > 1:
                    dup.append(f"{n} {outcome} notifications in {source}")
                other = "failed" if outcome == "completed" else "completed"
                if snap[source].get((job.job_id, other), 0):
                    dup.append(f"a {other} notification too in {source}")
        if status in TERMINAL:
            n = snap["terminal_events"].get(job.job_id, 0)
            if n == 0:
                lost.append("no terminal event in the user's event log")
            elif n > 1:
                dup.append(f"{n} terminal events in the user's event log")
        if lost:
            verdict.counts["lost"] += 1
            verdict.problems.append(f"LOST {job.kind} {job.job_id} ({job.user}): {lost}")
        elif dup:
            verdict.counts["duplicated"] += 1
            verdict.problems.append(f"DUPLICATED {job.kind} {job.job_id}: {dup}")
        else:
            verdict.counts["ok"] += 1
    return verdict


def classify_webhooks(
    accepted: list[Accepted], snap: dict[str, Any], received: list[Any]
) -> Verdict:
    """``received``: the receiver's requests, each with the ``payload`` it verified on receipt
    (None: the signature did not verify with its user's secret)."""
    by_job: dict[str, list[tuple[str, str]]] = defaultdict(list)
    unverified = 0
    for request in (r for r in received if 200 <= r.status < 300):  # acknowledged only
        if request.payload is None:
            unverified += 1
            continue
        payload = request.payload
        if payload["type"] == BATCH_COMPLETED:  # a batch's: classify_batch_webhooks
            continue
        by_job[payload["data"]["job_id"]].append((payload["type"], request.headers["webhook-id"]))
    verdict = Verdict()
    if unverified:
        verdict.problems.append(f"{unverified} webhook requests did not verify")
        verdict.counts["duplicated"] += unverified
    for job in (a for a in accepted if a.webhook):
        status = snap["generations"].get(job.job_id, {}).get("status", "MISSING")
        expected = f"generation.{status.lower()}"
        got = by_job.get(job.job_id, [])
        ids = {wid for kind, wid in got if kind == expected}
        others = {kind for kind, _ in got if kind != expected}
        if status not in TERMINAL or not ids:
            verdict.counts["lost"] += 1
            verdict.problems.append(f"WEBHOOK LOST {job.job_id} ({status}): got {got}")
        elif len(ids) > 1 or others:
            verdict.counts["duplicated"] += 1
            verdict.problems.append(f"WEBHOOK DUPLICATED {job.job_id}: {got}")
        else:
            verdict.counts["ok"] += 1
        verdict.statuses["deliveries received"] += len(got)
    return verdict


def classify_batch_webhooks(counts: dict[str, dict[str, int]], received: list[Any]) -> Verdict:
    """``batch.completed`` of each batch (its id -> its counts by status), from the receiver's
    requests (only acknowledged ones whose signature verified count); ``wrong`` if its body's
    counts are not the batch's."""
    ids: dict[str, set[str]] = defaultdict(set)
    bodies: dict[str, list[dict[str, int]]] = defaultdict(list)
    for request in received:
        payload = request.payload
        if 200 <= request.status < 300 and payload and payload["type"] == BATCH_COMPLETED:
            ids[payload["data"]["batch_id"]].add(request.headers["webhook-id"])
            bodies[payload["data"]["batch_id"]].append(payload["data"]["counts"])
    verdict = Verdict()
    for batch_id, expected in counts.items():
        n = len(ids.get(batch_id, ()))
        outcome = "lost" if n == 0 else "duplicated" if n > 1 else "ok"
        if outcome == "ok" and any(body != expected for body in bodies[batch_id]):
            outcome = "wrong"
        verdict.counts[outcome] += 1
        if outcome != "ok":
            verdict.problems.append(
                f"BATCH WEBHOOK {outcome.upper()} {batch_id}: {n} ids, counts {bodies[batch_id]}"
                f" (the batch's: {expected})"
            )
    return verdict


def batch_problems(view: dict[str, Any], jobs: list[Accepted], snap: dict[str, Any]) -> list[str]:
    """What is wrong with a batch's answer (``GET /api/batches/{id}``, every page's jobs in
    ``jobs``) given its accepted ``jobs`` and the databases' ``snap``: its counts must sum to
    its size, say every job finished, and agree with the jobs' own statuses."""
    problems = []
    counts = view["counts"]
    if view["size"] != len(jobs) or sum(counts.values()) != len(jobs):
        problems.append(f"size {view['size']}, counts {counts}, {len(jobs)} jobs accepted")
    if not view["done"] or any(s not in TERMINAL for s in counts):
        problems.append(f"not finished: done={view['done']} counts={counts}")
    listed = [j["job_id"] for j in view["jobs"]]
    if listed != [j.job_id for j in jobs]:  # in submission order
        problems.append(f"jobs listed {len(listed)}, not the {len(jobs)} accepted in order")
    rows = Counter(snap["generations"].get(j.job_id, {}).get("status") for j in jobs)
    if dict(rows) != counts:
        problems.append(f"counts {counts}, the jobs' statuses {dict(rows)}")
    return problems


def completions(logs: dict[str, str]) -> dict[str, Counter[str]]:
    """``job completed`` lines of each generator replica's log (all its runs), by job id.
    A job counted more than once ran to completion twice (a redelivery after a kill or a cut,
    a watchdog re-send): only exactly-once effects keep the user from seeing it (one set of
    files, one terminal event, one notification, one webhook). Each replica serves its own
    models, so a job in another replica's log went to a queue it should not consume."""
    return {
        replica: Counter(
            json.loads(line)["job_id"]
            for line in text.splitlines()
            if '"job completed"' in line and line.startswith("{")
        )
        for replica, text in logs.items()
    }
