"""04 Retained messages: store, replace, clear, retain flag on delivery, re-send on re-subscribe,
wildcards, QoS, retain_available false."""
import time

import pytest

import mqttraw as m
from conftest import wait_for


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


# -------------------------------------------------- many retained messages on one subscribe

def fill_retained(raw, port, n, prefix="many"):
    """Retains n messages on prefix/<i // 100>/<i % 100>, pipelined, then waits for a QoS 1 PUBACK behind them."""
    p = connected(raw, port, "filler")
    p.send(b"".join(m.publish("%s/%d/%d" % (prefix, i // 100, i % 100), b"v%d" % i, retain=True)
                    for i in range(n)))
    p.publish("%s-done" % prefix, b"x", qos=1)
    return p


def read_all(c, n, timeout=30.0):
    """Reads PUBLISH packets (acknowledging QoS 1) until n arrived; returns their topics."""
    topics = []
    deadline = time.monotonic() + timeout
    while len(topics) < n and time.monotonic() < deadline:
        pkt = c.recv(max(0.1, deadline - time.monotonic()))
        if pkt.type != m.PUBLISH:
            continue
        if pkt.qos == 1:
            c.send(m.puback(pkt.mid))
        assert pkt.retain
        topics.append(pkt.topic)
    return topics


@pytest.mark.parametrize("qos", [0, 1])
def test_many_retained_all_delivered_within_limits(broker, raw, qos):
    """A wildcard over more retained messages than the output cap (QoS 0) or the queue limit (QoS 1) holds at
    once gets every one of them, exactly once: they are sent as the subscriber takes them, not dropped."""
    n = 20000
    b = broker("max_output_bytes 16384\nmax_queued_messages 50\nmax_inflight_messages 10\n")
    fill_retained(raw, b.port, n)
    s = connected(raw, b.port, "s")
    s.subscribe("many/#", qos=qos)
    topics = read_all(s, n)
    assert len(topics) == n and len(set(topics)) == n
    s.expect_nothing(0.3)
    assert "dropped" not in b.log()
    # Live messages still flow to the same subscriber after the retained ones.
    p = connected(raw, b.port, "p")
    p.publish("many/live", b"now", qos=1)
    pkt = s.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.retain) == ("many/live", b"now", False)


def test_many_retained_other_clients_keep_going(broker, raw):
    """While a slow subscriber takes 30,000 retained messages, a client on the same broker (one worker, so the
    same loop) still gets its messages through."""
    n = 30000
    b = broker("threads 1\n")
    fill_retained(raw, b.port, n)
    slow = connected(raw, b.port, "slow")
    slow.subscribe("many/#", qos=1)
    other = connected(raw, b.port, "other")
    other.subscribe("chat", qos=1)
    p = connected(raw, b.port, "p")
    for i in range(20):
        p.publish("chat", b"%d" % i, qos=1)
        assert other.recv_publish(timeout=5).payload == b"%d" % i
    topics = read_all(slow, n)
    assert len(topics) == n and len(set(topics)) == n


def test_many_retained_subscriber_leaves_midway(broker, raw):
    """A subscriber that unsubscribes, or goes away, in the middle of a long retained send ends it cleanly; the
    broker (under ASan, too) keeps serving and clearing retained messages meanwhile works."""
    n = 20000
    b = broker("max_output_bytes 16384\n")
    p = fill_retained(raw, b.port, n)
    s1 = connected(raw, b.port, "s1")
    s1.subscribe("many/#", qos=1)
    got = read_all(s1, 100)
    assert len(got) == 100
    # Clears while the walk is on: put off and done once it ends.
    p.send(b"".join(m.publish("many/%d/%d" % (i // 100, i % 100), b"", retain=True) for i in range(0, n, 2)))
    s1.close()
    s2 = connected(raw, b.port, "s2")
    s2.subscribe("many/#", qos=0)
    read_all(s2, 50)
    s2.send(m.unsubscribe(2, ["many/#"]))
    s2.wait_for(m.UNSUBACK, 2)  # behind retained messages still on their way
    s2.close()
    s3 = connected(raw, b.port, "s3")
    s3.subscribe("many/#", qos=0)
    topics = read_all(s3, n // 2, timeout=30)
    assert len(topics) == n // 2 and len(set(topics)) == n // 2
    assert all(int(t.split("/")[2]) % 2 == 1 for t in topics)
    s3.expect_nothing(0.3)


def test_many_retained_sends_per_client_bounded(broker, raw):
    """A SUBSCRIBE repeated for one filter replaces the send in progress (all of them are sent again, as MQTT
    asks, but not piled up); more than 16 sends at once for one client are refused past the 16th, logged."""
    b = broker("max_output_bytes 1024\n")
    fill_retained(raw, b.port, 2000)  # many/<0..19>/<0..99>
    s = connected(raw, b.port, "s")
    s.send(b"".join(m.subscribe(1 + i, [("many/#", 0)]) for i in range(30)))
    topics = read_all(s, 2000)
    assert len(set(topics)) == 2000
    s.drain(0.5)
    assert "sends in progress" not in b.log()
    s.close()
    s = connected(raw, b.port, "s2")
    s.send(b"".join(m.subscribe(1 + a, [("many/%d/#" % a, 0)]) for a in range(20)))
    wait_for(lambda: "has 17 retained-message sends in progress" in b.log(), 5, what="the 17th send refused")
    topics = s.drain(1.0)
    assert len(topics) < 2000 and len(set(topics)) == len(topics)
