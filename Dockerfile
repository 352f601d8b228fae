# One image for every role: compose.yaml (or a platform reading the Procfile) picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEBHOOKS_LOG_FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md ./
COPY webhooks ./webhooks
COPY api ./api
COPY worker ./worker
COPY migrations ./migrations
RUN pip install . && rm -rf build

# Nothing here needs root; celery refuses to be comfortable as root anyway.
RUN useradd --system --uid 10001 --no-create-home webhooks
USER webhooks

# 8000: the API; 9808: a worker's metrics (WEBHOOKS_WORKER_METRICS_PORT).
EXPOSE 8000 9808
CMD ["sh", "-c", "exec gunicorn --config python:api.server.config --bind 0.0.0.0:${PORT:-8000} --worker-class api.server.BufferedWorker --workers ${WEB_CONCURRENCY:-2} --threads ${WEB_THREADS:-8} --worker-connections ${WEB_CONNECTIONS:-1000} 'api:create_app()'"]
