"""Publishing an outgoing through Mistral's Batch API (``mode: batch``).

What the Batch API accepts lives in :mod:`alumio_mistral.batch.limits` (read by the project
schema and cross-checks, which must not pull in the publisher); the publisher itself, its
crash-safe records and ``tasks cancel-batch`` in :mod:`alumio_mistral.batch.publisher`.
"""
