"""Storefront ingestion: the HTTP collector in front of Kafka (the storefront's Python
client is ``shoppulse.producer``).

Data path: HTTP body → ``limits`` (size, depth) → ``tokens`` (who is writing) →
``shoppulse.schemas`` (validate) → ``dedupe`` (recent event ids) → ``kafka`` (one
message per store per request) → per-event ``results``.
"""
