"""Transactions arriving on a stream (Redis Streams or Kafka) instead of over HTTP.

``manage.py consume_stream`` reads batches, validates and stores them through the same ingest
service as the API, sends what cannot be stored to a dead-letter stream with the reason, and
acknowledges only after the database commit. The format and the guarantees are described in
``docs/streams.md``.

- ``messages``: the message format (pure, no Django);
- ``consumer``: the loop common to both sources (batching, dead letters, retries, stop);
- ``redis_source`` / ``kafka_source``: reading, acknowledging and dead-lettering per broker;
- ``metrics``: Prometheus counters and gauges of the consumers.
"""
