#!/usr/bin/env python3
"""``make asyncapi``: docs/asyncapi.yaml (AsyncAPI 3.0) from the code's event contracts.

Sources: the pydantic event models and their versions (``sorami_shared.events.EVENT_MODELS``),
the CloudEvents envelope and AMQP headers (``sorami_shared.events`` / ``.messaging``), and the
broker topology (``sorami_shared.topology``: exchange, routing keys, queues, DLQs, streams).
``--check`` exits 1 when the committed file differs (tests/e2e/test_asyncapi.py runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from sorami_shared import topology
from sorami_shared.events import EVENT_MODELS, SPECVERSION, Envelope
from sorami_shared.messaging import HEADER_CORRELATION_ID, HEADER_JOB_ID, HEADER_USER_ID

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "asyncapi.yaml"
REF = "#/components/schemas/{model}"
MODEL = "{model}"  # the parameter of the per-model generator queues
# Who publishes each event type (the ``source`` attribute of its envelopes).
PUBLISHERS = {
    "generation.requested": ["gateway"],  # the api (outbox), re-sent by the watchdog
    "generation.cancel_requested": ["gateway"],
    "generation.progress": ["generator"],
    "generation.preview": ["generator"],  # best effort: dropped if unroutable
    "generation.completed": ["generator"],
    "generation.failed": ["generator", "gateway"],  # the watchdog fails stalled jobs
    "generation.cancelled": ["generator"],
    "notification.created": ["notifier"],
}
AMQP_EXCHANGE = {
    "name": topology.EXCHANGE,
    "type": "topic",
    "durable": True,
    "autoDelete": False,
    "vhost": "/",
}


def _message_name(event_type: str, version: int) -> str:
    return "".join(p.capitalize() for p in event_type.replace("_", ".").split(".")) + f"V{version}"


def _schemas_and_messages() -> tuple[dict[str, Any], dict[str, Any]]:
    envelope = Envelope[dict[str, Any]].model_json_schema(ref_template=REF)  # type: ignore[type-var]
    envelope.pop("$defs", None)
    envelope["title"] = "CloudEventsEnvelope"
    envelope["description"] = (
        "CloudEvents 1.0 structured mode (the whole event is the JSON body), with the "
        "extensions correlationid and dataversion; the routing key is the event's type "
        "(a generation.requested adds .<model>: a queue per model)."
    )
    schemas: dict[str, Any] = {"CloudEventsEnvelope": envelope}
    messages: dict[str, Any] = {}
    for (event_type, version), model in sorted(EVENT_MODELS.items()):
        data = model.model_json_schema(ref_template=REF)
        schemas.update(data.pop("$defs", {}))
        schemas[model.__name__] = data
        messages[_message_name(event_type, version)] = {
            "name": event_type,
            "title": f"{event_type} (dataversion {version})",
            "summary": " ".join((model.__doc__ or event_type).split("\n\n")[0].split()),
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/AmqpHeaders"},
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEventsEnvelope"},
                    {
                        "type": "object",
                        "properties": {
                            "specversion": {"const": SPECVERSION},
                            "type": {"const": event_type},
                            "dataversion": {"const": version},
                            "data": {"$ref": f"#/components/schemas/{model.__name__}"},
                        },
                    },
                ]
            },
            "bindings": {"amqp": {"messageType": event_type, "bindingVersion": "0.3.0"}},
        }
    schemas["AmqpHeaders"] = {
        "type": "object",
        "description": "AMQP application headers copied from the envelope (for tracing and "
        "for reading a DLQ without parsing bodies); message_id = id, type = type, "
        "correlation_id = correlationid, app_id = source, delivery_mode = 2 (persistent).",
        "properties": {
            HEADER_CORRELATION_ID: {"type": "string"},
            HEADER_JOB_ID: {"type": "string", "format": "uuid"},
            HEADER_USER_ID: {"type": "string"},
        },
        "required": [HEADER_CORRELATION_ID],
    }
    return schemas, messages


def _refs(event_types: tuple[str, ...], messages: dict[str, Any]) -> dict[str, Any]:
    event_types = tuple(t.removesuffix(f".{MODEL}") for t in event_types)
    return {
        key: {"$ref": f"#/components/messages/{key}"}
        for key, message in messages.items()
        if message["name"] in event_types
    }


def _queue_channel(name: str, keys: tuple[str, ...], args: dict[str, Any], messages: dict) -> dict:
    return {
        "address": name,
        "description": f"Queue bound to {topology.EXCHANGE} with {', '.join(keys) or '-'}; "
        f"arguments: {', '.join(f'{k}={v}' for k, v in args.items())}",
        "messages": _refs(keys, messages),
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {"name": name, "durable": True, "exclusive": False, "autoDelete": False},
                "bindingVersion": "0.3.0",
            }
        },
    }


def build() -> dict[str, Any]:
    schemas, messages = _schemas_and_messages()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type in sorted({t for t, _ in EVENT_MODELS}):
        channel = event_type.replace(".", "_")
        channels[channel] = {
            "address": event_type,
            "description": f"Routing key {event_type} on the topic exchange {topology.EXCHANGE}",
            "messages": _refs((event_type,), messages),
            "bindings": {
                "amqp": {"is": "routingKey", "exchange": AMQP_EXCHANGE, "bindingVersion": "0.3.0"}
            },
        }
        for service in PUBLISHERS[event_type]:
            operations[f"{service}_publishes_{channel}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{service} publishes {event_type} (publisher confirms, mandatory)",
                "bindings": {
                    "amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": "0.3.0"}
                },
            }
    queues = [(q.name, q.routing_keys, q.arguments) for q in topology.ALL_QUEUES]
    queues += [
        (q.dead_letter_queue, q.routing_keys, {"x-queue-type": "quorum"})
        for q in topology.ALL_QUEUES
    ]
    per_model = topology.generator_queue_spec(MODEL)
    queues.append((per_model.name, per_model.routing_keys, per_model.arguments))
    queues.append((per_model.dead_letter_queue, per_model.routing_keys, {"x-queue-type": "quorum"}))
    # a copy of each generator queue's dead letters, for the gateway's releaser
    queues += [
        (q.release_queue, q.routing_keys, {"x-queue-type": "quorum"})
        for q in (*topology.ALL_QUEUES, per_model)
        if q.release_dead_letters
    ]
    stream = topology.GENERATOR_CANCELS
    queues.append((stream.name, stream.routing_keys, stream.arguments))
    for name, keys, args in queues:
        channel = "queue_" + name.replace(".", "_").replace(MODEL, "model")
        channels[channel] = _queue_channel(name, keys, args, messages)
        if MODEL in name:
            channels[channel]["parameters"] = {
                "model": {"description": "a model of the registry (one queue per model)"}
            }
        if name.endswith(".dlq"):
            continue  # read by people, not by a service
        service = "gateway" if name.endswith(".release") else name.split(".")[0]
        operations[f"{service}_consumes_{channel}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{service} consumes {name} (ack after the effect committed)"
            + (
                " and re-sends the request or fails the job"
                if service == "gateway" and name.endswith(".release")
                else ""
            ),
            "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
        }
    # Live previews: each API process's own queue (server-named, exclusive, auto-deleted).
    channels["queue_gateway_api_previews"] = {
        "address": "(server-named, one per gateway API process)",
        "description": f"Exclusive, auto-deleted queue bound to {topology.EXCHANGE} with "
        "generation.preview; x-message-ttl=10000, x-max-length=1000, x-overflow=drop-head; "
        "consumed without acks (sorami_gateway/events/previews.py)",
        "messages": _refs(("generation.preview",), messages),
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {"durable": False, "exclusive": True, "autoDelete": True},
                "bindingVersion": "0.3.0",
            }
        },
    }
    operations["gateway_consumes_queue_gateway_api_previews"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/queue_gateway_api_previews"},
        "summary": "each gateway API process streams previews to the job owner's open streams",
        "bindings": {"amqp": {"ack": False, "bindingVersion": "0.3.0"}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Sorami events",
            "version": "1.0.0",
            "description": "Generated by `make asyncapi` (scripts/asyncapi.py) from the pydantic "
            "event models and the broker topology; do not edit by hand. Prose: "
            "docs/architecture.md and docs/CONVENTIONS.md.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "rabbitmq:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ 3.13+/4.x (quorum queues, streams)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render() -> str:
    header = "# GENERATED by `make asyncapi` (scripts/asyncapi.py): do not edit.\n"
    return header + yaml.safe_dump(build(), sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(build()['channels'])} channels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
