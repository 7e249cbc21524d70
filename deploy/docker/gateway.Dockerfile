# Sorami gateway: one image, four processes chosen by command (see docker-compose.yml):
#   api [--host --port] | relay | projector | migrate
# Build from the repo root:  docker build -f deploy/docker/gateway.Dockerfile -t sorami-gateway .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY shared /app/shared
COPY services/gateway /app/services/gateway
# the web app: services/gateway/sorami_gateway/web links to it; installed as package data
COPY web /app/web
RUN pip install "/app/shared[s3]" /app/services/gateway \
    && useradd --system --uid 10001 --home-dir /app sorami

USER sorami
EXPOSE 8000
ENTRYPOINT ["sorami-gateway"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
