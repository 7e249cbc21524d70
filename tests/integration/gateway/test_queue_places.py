"""A page loaded anew (the web app after a reload) sees where a queued job stands: the history
list (``GET /api/generations``) and ``/result`` answer ``queue_position``/``eta_s``/
``waiting_for`` as ``/status`` does, not only the live ``generation.queued`` event."""

from __future__ import annotations

import time

from sorami_gateway.generations.admission import admit
from sorami_gateway.infra.db import create_engine, driver_connection
from sorami_gateway.scheduling.positions import update_positions

from .conftest import auth, running_client
from .test_scheduler import _ask


async def test_history_and_result_say_where_a_queued_job_stands(make_settings, sessions):
    settings = make_settings(rate_limit_generations=0, max_unfinished_jobs=0)
    writer = create_engine(settings, pool_size=1)
    first = await admit(writer, settings, _ask(settings, "light"))
    second = await admit(writer, settings, _ask(settings, "light"))
    async with driver_connection(writer) as conn, conn.transaction():
        assert await update_positions(conn, now=time.time())
    await writer.dispose()

    async with running_client(settings) as client:
        page = (await client.get("/api/generations", headers=auth("light"))).json()
        places = {i["job_id"]: i["queue_position"] for i in page["items"]}
        assert places == {str(first.job_id): 1, str(second.job_id): 2}
        result = await client.get(f"/api/images/{second.job_id}/result", headers=auth("light"))
        assert result.status_code == 200 and result.json()["queue_position"] == 2
        status = await client.get(f"/api/images/{second.job_id}/status", headers=auth("light"))
        assert status.json()["queue_position"] == 2
