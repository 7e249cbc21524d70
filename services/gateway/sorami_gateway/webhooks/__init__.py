"""Signed webhooks (issue 15): a job's events pushed to its caller's server.

``outbox`` queues deliveries in the transaction of their cause; ``deliverer`` (the
``sorami-gateway webhooks`` process) sends them through the SSRF guard (``addresses``,
``sender``), signed with Standard Webhooks (``secrets``); ``routes`` serve secrets, endpoints
and the delivery listing. See docs/webhooks.md."""
