"""04 Retained messages: store, replace, clear, retain flag on delivery, re-send on re-subscribe,
wildcards, QoS, retain_available false."""
import pytest

import mqttraw as m


def connected(raw, port, cid, **kw):
    c = raw(port)
    c.connect(cid, **kw)
    return c


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_retained_delivered_to_new_subscriber(broker, raw, proto):
    b = broker()
    p = connected(raw, b.port, "p", proto=proto)
    p.publish("ret/a", b"kept", qos=1, retain=True)
    s = connected(raw, b.port, "s", proto=proto)
    s.subscribe("ret/a", qos=1)
    pkt = s.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.retain, pkt.qos) == ("ret/a", b"kept", True, 1)
    s.expect_nothing(0.5)


def test_retained_survives_publisher_disconnect(broker, raw):
    b = broker()
    p = connected(raw, b.port, "p")
    p.publish("ret/gone", b"still", qos=1, retain=True)
    p.disconnect()
    s = connected(raw, b.port, "s")
    s.subscribe("ret/gone")
    pkt = s.recv_publish()
    assert pkt.payload == b"still" and pkt.retain


def test_existing_subscriber_gets_retain_0(broker, raw):
    b = broker()
    s = connected(raw, b.port, "s")
    s.subscribe("ret/live", qos=1)
    p = connected(raw, b.port, "p")
    p.publish("ret/live", b"now", qos=1, retain=True)
    pkt = s.recv_publish()
    assert pkt.payload == b"now" and pkt.retain is False
    # ... but it was stored: a new subscriber gets it with retain=1
    s2 = connected(raw, b.port, "s2")
    s2.subscribe("ret/live")
    assert s2.recv_publish().retain is True


def test_retained_replaced(broker, raw):
    b = broker()
    p = connected(raw, b.port, "p")
    p.publish("ret/r", b"old", qos=1, retain=True)
    p.publish("ret/r", b"new", qos=1, retain=True, mid=2)
    s = connected(raw, b.port, "s")
    s.subscribe("ret/r")
    pkt = s.recv_publish()
    assert pkt.payload == b"new" and pkt.retain
    s.expect_nothing(0.5)


def test_non_retained_publish_keeps_retained(broker, raw):
    b = broker()
    p = connected(raw, b.port, "p")
    p.publish("ret/k", b"retained", qos=1, retain=True)
    p.publish("ret/k", b"transient", qos=1, retain=False, mid=2)
    s = connected(raw, b.port, "s")
    s.subscribe("ret/k")
    assert s.recv_publish().payload == b"retained"


def test_retained_cleared_by_empty_payload(broker, raw):
    b = broker()
    watcher = connected(raw, b.port, "w")
    watcher.subscribe("ret/c", qos=1)
    p = connected(raw, b.port, "p")
    p.publish("ret/c", b"something", qos=1, retain=True)
    assert watcher.recv_publish().payload == b"something"
    p.publish("ret/c", b"", qos=1, retain=True, mid=2)
    # the empty publish itself reaches existing subscribers, as a normal message
    pkt = watcher.recv_publish()
    assert pkt.payload == b"" and pkt.retain is False
    s = connected(raw, b.port, "s")
    s.subscribe([("ret/c", 1), ("ret/#", 1)])
    s.expect_nothing(0.7)  # nothing stored, and the empty message is not itself retained


def test_empty_retained_on_fresh_topic_not_stored(broker, raw):
    b = broker()
    p = connected(raw, b.port, "p")
    p.publish("ret/empty", b"", qos=0, retain=True)
    p.publish("ret/marker", b"m", qos=1, retain=True)
    s = connected(raw, b.port, "s")
    s.subscribe("ret/#")
    pkt = s.recv_publish()
    assert pkt.topic == "ret/marker"
    s.expect_nothing(0.5)


def test_resubscribe_resends_retained(broker, raw):
    b = broker()
    p = connected(raw, b.port, "p")
    p.publish("ret/s", b"again", qos=1, retain=True)
    s = connected(raw, b.port, "s")
    s.subscribe("ret/s", mid=1)
    assert s.recv_publish().payload == b"again"
    s.subscribe("ret/s", mid=2)  # 3.1.1 section 3.8.4: retained messages MUST be re-sent
    pkt = s.recv_publish()
    assert pkt.payload == b"again" and pkt.retain
    s.expect_nothing(0.5)


def test_retained_wildcard_subscription(broker, raw):
    b = broker()
    p = connected(raw, b.port, "p")
    topics = ["w/a", "w/b/c", "w/d", "other/x"]
    for i, t in enumerate(topics):
        p.publish(t, t.encode(), qos=1, retain=True, mid=i + 1)
    s = connected(raw, b.port, "s")
    s.subscribe([("w/#", 0)])
    got = sorted(s.recv_publish().topic for _ in range(3))
    assert got == ["w/a", "w/b/c", "w/d"]
    s.expect_nothing(0.5)
    s2 = connected(raw, b.port, "s2")
    s2.subscribe([("+/a", 0)])
    assert s2.recv_publish().topic == "w/a"
    s2.expect_nothing(0.3)


@pytest.mark.parametrize("stored_qos,sub_qos", [(0, 2), (2, 0), (1, 2), (2, 1), (2, 2)])
def test_retained_qos_is_minimum(broker, raw, stored_qos, sub_qos):
    b = broker()
    p = connected(raw, b.port, "p")
    p.publish("ret/q", b"q", qos=stored_qos, retain=True, mid=1)
    # A QoS 0 publish has no ack: a ping round trip shows the broker has handled it (packets of one
    # connection are handled in order) before the subscriber, on another connection, subscribes.
    assert p.is_open()
    s = connected(raw, b.port, "s")
    s.subscribe("ret/q", qos=sub_qos)
    pkt = s.recv_publish()
    assert pkt.retain and pkt.qos == min(stored_qos, sub_qos)


def test_retained_binary_and_large(broker, raw):
    b = broker()
    payload = bytes(range(256)) * 1024  # 256 KiB
    p = connected(raw, b.port, "p")
    p.publish("ret/big", payload, qos=1, retain=True)
    s = connected(raw, b.port, "s")
    s.subscribe("ret/big")
    assert s.recv_publish(timeout=10).payload == payload


def test_retained_paho(broker, paho):
    b = broker()
    p = paho(b.port, client_id="pp")
    p.publish("ret/paho", b"v1", qos=1, retain=True)
    s = paho(b.port, client_id="ps", protocol=3)
    s.subscribe("ret/#", 1)
    msg = s.get()
    assert (msg.topic, msg.payload, msg.retain) == ("ret/paho", b"v1", 1)


# Mosquitto 2 disconnects a client that publishes with the retain flag when retain_available is
# false (mosquitto.conf(5)); Midge does the same.
@pytest.mark.parametrize("qos", [0, 1])
def test_retain_available_false(broker, raw, qos):
    b = broker("retain_available false")
    s = connected(raw, b.port, "s")
    s.subscribe("nr/#", qos=1)
    p = connected(raw, b.port, "p")
    p.send(m.publish("nr/x", b"r", qos=qos, retain=True, mid=1))
    got = p.expect_closed(3)
    assert all(x.type != m.PUBACK for x in got)
    s.expect_nothing(0.5)  # not delivered
    # ordinary publishes still work, and nothing was retained
    p2 = connected(raw, b.port, "p2")
    p2.publish("nr/y", b"plain", qos=1)
    assert s.recv_publish().payload == b"plain"
    s2 = connected(raw, b.port, "s2")
    s2.subscribe("nr/#")
    s2.expect_nothing(0.5)
