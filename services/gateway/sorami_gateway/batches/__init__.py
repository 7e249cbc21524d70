"""Bulk jobs: ``POST /api/batches`` puts up to ``batch_max_items`` generations in one request,
all at the scheduler's ``batch`` priority (after every interactive job), under a cap of their
own; ``GET /api/batches/{id}`` counts them; ``POST /api/batches/{id}/cancel`` stops them."""
