"""The bounded queue between processing and one exporter: in memory, or on disk (``file_storage``).

Both hold :class:`Batch` es (an encoded export request and how many items it carries),
refuse a batch when full (the receiver then answers "retry later"), hand batches to
consumers with :meth:`get` and forget them on :meth:`ack`.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Batch:
    signal: str  # traces, metrics, logs
    payload: bytes  # a serialized Export*ServiceRequest
    items: int  # spans, metric points or log records in it
    key: int = 0  # the queue's handle for ack
