#!/usr/bin/env bash
# Start PostgreSQL and RabbitMQ on this machine if they are not running, and wait for both.
set -euo pipefail

# Tools the deploy/ tests run (tests/support/tools.py installs them too when missing):
# kubectl, and Debian's prometheus package (promtool, and the prometheus server that
# tests/e2e/test_prometheus_alerts.py runs on loopback).
for tool in kubectl:kubectl promtool:prometheus prometheus:prometheus; do
  command -v "${tool%%:*}" >/dev/null \
    || apt-get install -y -q --no-install-recommends "${tool#*:}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${tool#*:}" >/dev/null; } \
    || true
done

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
rabbit_ready() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_ready; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! rabbit_ready; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
fi
for _ in $(seq 1 120); do
  if pg_ready && rabbit_ready; then break; fi
  sleep 1
done
pg_ready || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
rabbit_ready || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; exit 1; }
# The port opens before the broker accepts work; wait until it answers.
rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
