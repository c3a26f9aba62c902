"""``spanmeter pipeline``: the Collector-shaped service — OTLP in, spanmeter processing, OTLP/Prometheus out.

config.py        the YAML file (Collector keys), validated into dataclasses
yaml_reading.py  the reading vocabulary: sections with file:line errors, ${env:...}, value parsers, tls
receivers/       OTLP over gRPC and HTTP (protobuf and JSON), auth, TLS, limits
queue/           the bounded queue before each exporter (sending_queue): in memory or on disk
exporters/       one module per kind (otlp_grpc, otlp_http, file, prometheus), registered in one list
retry.py         the Collector's retry_on_failure: its settings, backoff with jitter
stage.py         the spanmeter processor: processing-core's Enricher on protobuf spans + aggregator
sending.py       a queue, its consumers and the retry loop around one exporter
health.py        the health_check extension
http_server.py   the threaded HTTP server the receiver, health and /metrics share
telemetry.py     self-metrics (the Collector's names) and structured log lines
service.py       wiring: pipelines, fan-out, start, drain, stop
cli.py           ``spanmeter pipeline`` and ``spanmeter pipeline validate``
"""
