"""the create path in one round trip: sorami_admit_generation(), a PL/pgSQL function

Everything ``POST /api/{kind}/generate`` (and /v1's creates) does in the database, in the
order the multi-statement path did it, as one statement (one implicit transaction):

1. the user's quota row, upserted and locked (serializes one user's creates on every replica);
2. with an Idempotency-Key: the live stored answer (``replayed``) or ``key_reused`` (another
   request); without one, on an SDK retry: the job the first attempt created (``sdk_replay``);
3. the sliding-window rate limit (``rate``, with the seconds to wait) and the unfinished-jobs
   cap (``cap``); a refusal changes nothing;
4. the window charged, the generation row (its id minted by the caller), the outbox row and
   its NOTIFY, the job's webhook (if any), then the per-user advisory lock, the user event and
   its NOTIFY (last: rows first, then the user lock, as every other writer of the log);
5. with a key: its answer stored (a live row of another transaction raises SQLSTATE SR409,
   rolling everything back), and up to 100 expired keys purged.

Channels and the advisory lock's seed come in as arguments: the Python modules that listen
and lock (outbox.writer, events.log) stay their single source.
"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = "0006_issue14"
down_revision = "0005_issue15"

SIGNATURE = """sorami_admit_generation(
    p_job_id uuid, p_user_id text, p_kind text, p_params jsonb, p_correlation_id text,
    p_event_id uuid, p_event_type text, p_event_payload jsonb,
    p_user_event_type text, p_user_event_data jsonb,
    p_rate_limit int, p_rate_window_s int, p_max_unfinished int,
    p_scope text, p_idempotency_key text, p_fingerprint text, p_idempotency_ttl_s int,
    p_retry_params jsonb, p_retry_window_s int,
    p_webhook_url text, p_webhook_events text[],
    p_outbox_channel text, p_events_channel text, p_user_lock_seed bigint)"""

FUNCTION = f"""
CREATE FUNCTION {SIGNATURE}
RETURNS TABLE (o_outcome text, o_job_id uuid, o_status int, o_body jsonb, o_retry_after int)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_now timestamptz;
    v_recent timestamptz[];
    v_n int;
    v_key idempotency_keys%ROWTYPE;
    v_earlier uuid;
    v_unfinished bigint;
BEGIN
    INSERT INTO generation_quotas AS q (user_id, recent) VALUES (p_user_id, '{{}}')
    ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id
    RETURNING q.recent, clock_timestamp() INTO v_recent, v_now;

    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO v_key FROM idempotency_keys k
        WHERE k.user_id = p_user_id AND k.scope = p_scope AND k.key = p_idempotency_key
          AND k.expires_at > clock_timestamp();
        IF FOUND THEN
            IF v_key.request_hash <> p_fingerprint THEN
                RETURN QUERY SELECT 'key_reused', NULL::uuid, 409, NULL::jsonb, NULL::int;
                RETURN;
            END IF;
            RETURN QUERY SELECT 'replayed', v_key.job_id, (v_key.response->>'status_code')::int,
                v_key.response->'body', NULL::int;
            RETURN;
        END IF;
    ELSIF p_retry_params IS NOT NULL THEN
        SELECT g.id INTO v_earlier FROM generations g
        WHERE g.user_id = p_user_id AND g.kind = p_kind AND g.params @> p_retry_params
          AND g.created_at > clock_timestamp() - make_interval(secs => p_retry_window_s)
        ORDER BY g.created_at DESC, g.id DESC LIMIT 1;
        IF FOUND THEN
            RETURN QUERY SELECT 'sdk_replay', v_earlier, 200,
                jsonb_build_object('job_id', v_earlier::text), NULL::int;
            RETURN;
        END IF;
    END IF;

    -- the creates still inside the sliding window, oldest first
    SELECT coalesce(array_agg(t ORDER BY t), '{{}}') INTO v_recent
    FROM unnest(v_recent) AS t WHERE t > v_now - make_interval(secs => p_rate_window_s);
    v_n := cardinality(v_recent);
    IF p_rate_limit > 0 AND v_n >= p_rate_limit THEN
        RETURN QUERY SELECT 'rate', NULL::uuid, 429, NULL::jsonb, greatest(1, ceil(extract(epoch
            FROM v_recent[v_n - p_rate_limit + 1] + make_interval(secs => p_rate_window_s)
                 - v_now))::int);
        RETURN;
    END IF;
    IF p_max_unfinished > 0 THEN
        SELECT count(*) INTO v_unfinished FROM generations g
        WHERE g.user_id = p_user_id AND g.status IN ('PENDING', 'PROCESSING');
        IF v_unfinished >= p_max_unfinished THEN
            RETURN QUERY SELECT 'cap', NULL::uuid, 429, NULL::jsonb, NULL::int;
            RETURN;
        END IF;
    END IF;

    -- charge the window: at most the limit's worth of creates, this one last
    IF p_rate_limit > 1 THEN
        v_recent := v_recent[greatest(1, v_n - p_rate_limit + 2) : v_n];  -- (spaced: no bind)
    ELSE
        v_recent := '{{}}';
    END IF;
    UPDATE generation_quotas SET recent = v_recent || v_now, updated_at = v_now
    WHERE user_id = p_user_id;

    INSERT INTO generations (id, user_id, kind, status, progress, params, correlation_id)
    VALUES (p_job_id, p_user_id, p_kind, 'PENDING', 0, p_params, p_correlation_id);
    INSERT INTO outbox (event_id, type, payload) VALUES (p_event_id, p_event_type, p_event_payload);
    PERFORM pg_notify(p_outbox_channel, '');
    IF p_webhook_url IS NOT NULL THEN
        INSERT INTO generation_webhooks (generation_id, url, events)
        VALUES (p_job_id, p_webhook_url, p_webhook_events);
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended(p_user_id, p_user_lock_seed));
    INSERT INTO user_events (user_id, type, job_id, data)
    VALUES (p_user_id, p_user_event_type, p_job_id, p_user_event_data);
    PERFORM pg_notify(p_events_channel, p_user_id);

    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys AS k
            (user_id, scope, key, request_hash, job_id, response, created_at, expires_at)
        VALUES (p_user_id, p_scope, p_idempotency_key, p_fingerprint, p_job_id,
            jsonb_build_object('status_code', 202, 'body',
                jsonb_build_object('job_id', p_job_id::text, 'status', 'PENDING')),
            clock_timestamp(), clock_timestamp() + make_interval(secs => p_idempotency_ttl_s))
        ON CONFLICT (user_id, scope, key) DO UPDATE SET
            request_hash = excluded.request_hash, job_id = excluded.job_id,
            response = excluded.response, created_at = excluded.created_at,
            expires_at = excluded.expires_at
        WHERE k.expires_at <= clock_timestamp();
        IF NOT FOUND THEN
            RAISE EXCEPTION 'Idempotency-Key stored by another transaction' USING ERRCODE = 'SR409';
        END IF;
        DELETE FROM idempotency_keys d
        WHERE (d.user_id, d.scope, d.key) IN (
            SELECT e.user_id, e.scope, e.key FROM idempotency_keys e
            WHERE e.expires_at <= clock_timestamp() LIMIT 100 FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN QUERY SELECT 'created', p_job_id, 202, NULL::jsonb, NULL::int;
END
$fn$;
"""


UPGRADE = (FUNCTION,)

DOWNGRADE = (
    "DROP FUNCTION sorami_admit_generation(uuid, text, text, jsonb, text, uuid, text, jsonb,"
    " text, jsonb, int, int, int, text, text, text, int, jsonb, int, text, text[], text, text,"
    " bigint)",
)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
