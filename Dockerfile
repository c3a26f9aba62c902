# The spanmeter image: by default the pipeline service (collector-config/spanmeter-pipeline.yaml);
# docker-compose also runs the demo app from it (`spanmeter demo`). Slim base, non-root user.
FROM python:3.12-slim
RUN useradd --create-home --uid 10001 spanmeter
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY examples ./examples
COPY collector-config/spanmeter-pipeline.yaml /etc/spanmeter/pipeline.yaml
RUN pip install --no-cache-dir '.[all]'
USER spanmeter
WORKDIR /home/spanmeter
# OTLP gRPC / HTTP, Insights API, self-metrics, derived metrics (Prometheus), health check.
EXPOSE 4317 4318 4319 8888 8889 13133
HEALTHCHECK --interval=30s --timeout=10s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:13133/healthz', timeout=5)"]
CMD ["spanmeter", "pipeline", "--config", "/etc/spanmeter/pipeline.yaml"]
