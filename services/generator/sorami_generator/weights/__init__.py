"""Where a model's weights come from (issue 22 item 5): a built-in tiny model, a local
directory, a hub id at a pinned ``revision`` (``HF_HUB_OFFLINE`` honoured), or
``s3://bucket/prefix`` synced once into ``MODEL_CACHE_DIR`` (:mod:`.s3_sync`)."""

from .sources import Located, S3Access, locate

__all__ = ["Located", "S3Access", "locate"]
