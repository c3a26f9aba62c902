# The spanmeter demo app (docker-compose's `demo` service): slim base, non-root user.
FROM python:3.12-slim
RUN useradd --create-home --uid 10001 spanmeter
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY examples ./examples
RUN pip install --no-cache-dir '.[all]'
USER spanmeter
WORKDIR /home/spanmeter
CMD ["spanmeter", "demo"]
