"""What Mistral's Batch API accepts: its endpoints and the bounds of a job's settings.

The endpoints and the inline and timeout bounds are the spec's (``ApiEndpoint``,
``CreateBatchJobRequest``); the file bounds are those of Mistral's batch documentation
(a file of at most 1,000,000 requests, an upload of at most 512 MB).
"""

from __future__ import annotations

#: the paths a batch job's ``endpoint`` may name (the spec's ``ApiEndpoint``)
BATCH_ENDPOINTS = frozenset({
    "/v1/chat/completions", "/v1/fim/completions", "/v1/embeddings", "/v1/moderations",
    "/v1/chat/moderations", "/v1/ocr", "/v1/classifications", "/v1/chat/classifications",
    "/v1/conversations", "/v1/audio/transcriptions",
})
#: requests one job's input file may hold
MAX_FILE_REQUESTS = 1_000_000
#: requests one job may carry inline (``requests: maxItems``)
MAX_INLINE_REQUESTS = 10_000
#: bytes of one uploaded input file
MAX_FILE_BYTES = 512 * 1024 * 1024
#: the job's own deadline on the server (``timeout_hours``: 1 to 168, default 24)
TIMEOUT_HOURS = (1, 168)
DEFAULT_TIMEOUT_HOURS = 24
#: ``metadata``: keys of 1 to 32 characters, values of 1 to 512
METADATA_KEY_LENGTH = 32
METADATA_VALUE_LENGTH = 512
#: how long one run polls its jobs before leaving them to the next run (seconds; a week)
MAX_WAIT = 7 * 24 * 3600.0
