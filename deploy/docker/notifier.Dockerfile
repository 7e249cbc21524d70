# Sorami notifier: `run` (consume generation outcomes) or `migrate`.
# Build from the repo root:  docker build -f deploy/docker/notifier.Dockerfile -t sorami-notifier .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY shared /app/shared
COPY services/notifier /app/services/notifier
RUN pip install /app/shared /app/services/notifier \
    && useradd --system --uid 10001 --home-dir /app sorami

USER sorami
ENTRYPOINT ["sorami-notifier"]
CMD ["run"]
