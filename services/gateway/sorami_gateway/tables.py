"""Every table of the gateway's database, for the migrations (each feature owns its own)."""

from __future__ import annotations

from sqlmodel import SQLModel

from .batches import tables as _batches
from .events import tables as _events
from .generations import tables as _generations
from .guards import tables as _guards
from .media import tables as _media
from .notifications import tables as _notifications
from .outbox import tables as _outbox
from .scheduling import tables as _scheduling
from .uploads import tables as _uploads
from .webhooks import tables as _webhooks

TABLE_MODULES = (
    _generations,
    _batches,
    _guards,
    _notifications,
    _events,
    _media,
    _outbox,
    _scheduling,
    _webhooks,
    _uploads,
)
metadata = SQLModel.metadata
