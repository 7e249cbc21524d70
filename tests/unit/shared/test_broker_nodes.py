"""The broker node list: one URL, a comma-separated list or a sequence; rotation."""

import pytest
from sorami_shared.messaging.connection import BrokerNodes, broker_urls


def test_one_url_stays_one_node() -> None:
    assert broker_urls("amqp://u:p@h:5672/") == ["amqp://u:p@h:5672/"]


def test_a_comma_separated_list_is_split_and_trimmed() -> None:
    value = "amqp://u:p@a:5672/v, amqp://u:p@b:5673/v ,amqp://u:p@c:5674/v,"
    assert broker_urls(value) == [
        "amqp://u:p@a:5672/v",
        "amqp://u:p@b:5673/v",
        "amqp://u:p@c:5674/v",
    ]
    assert broker_urls(["amqp://a/", " amqp://b/ "]) == ["amqp://a/", "amqp://b/"]


def test_an_empty_value_is_refused() -> None:
    with pytest.raises(ValueError):
        broker_urls(" , ")


def test_nodes_rotate_and_wrap() -> None:
    nodes = BrokerNodes("amqp://a/,amqp://b/,amqp://c/")
    assert [nodes.current, nodes.advance(), nodes.advance(), nodes.advance()] == [
        "amqp://a/",
        "amqp://b/",
        "amqp://c/",
        "amqp://a/",
    ]
    single = BrokerNodes("amqp://a/")
    assert single.advance() == "amqp://a/"
