"""Signed webhooks (issue 15): a job's events pushed to its caller's server.

``outbox`` queues deliveries in the transaction of their cause; ``deliverer`` (the
``sorami-gateway webhooks`` process) sends them through the SSRF guard (``addresses``,
``sender``), signed with Standard Webhooks (``secrets``); ``routes`` serve secrets and
endpoints. Built on top of it: the request fields and the job's delivery listing and payload
(:mod:`sorami_gateway.generations`), the process (:mod:`sorami_gateway.workers.webhooks`).
See docs/webhooks.md."""
