"""Helpers shared by the test_12_v5_* files: MQTT 5 raw clients, checks of a server DISCONNECT,
collecting what arrives, and a check that the broker still serves a fresh MQTT 5 client."""
import socket
import time

import pytest

import mqttraw as m

# Midge deliberately differs from Mosquitto 2.0.11 here (each use says why in a comment).
midge_only = pytest.mark.midge_only


def connect5(raw, port, client_id="", expect_rc=0, **kw):
    """A RawClient connected with MQTT 5 (CONNECT properties in props=...); its CONNACK is kept
    in c.connack."""
    c = raw(port)
    c.connack = c.connect(client_id, expect_rc=expect_rc, proto=m.MQTT5, **kw)
    return c


def collect(c, timeout=0.5, count=None):
    """Packets received until nothing more arrives for `timeout` seconds (or `count` packets
    have arrived, or the server closed). Never acknowledges anything."""
    out = []
    try:
        while count is None or len(out) < count:
            out.append(c.recv(timeout))
    except (socket.timeout, m.Closed):
        pass
    return out


def publishes(c, n, timeout=3.0, ack=True):
    """The next n PUBLISH packets (acknowledged when ack), within timeout overall."""
    deadline = time.monotonic() + timeout
    return [c.recv_publish(max(0.05, deadline - time.monotonic()), ack=ack) for _ in range(n)]


def expect_disconnect(c, reason, timeout=3.0):
    """Asserts the server sends a DISCONNECT with `reason` and then closes the connection
    [MQTT-3.14.4-2]. Other packets may come first. The server's DISCONNECT never carries a Session
    Expiry Interval [MQTT-3.14.2-2]. Returns the DISCONNECT."""
    got = c.expect_closed(timeout)
    assert got and got[-1].type == m.DISCONNECT, \
        "expected DISCONNECT 0x%02x before the close, got %r" % (reason, got)
    d = got[-1]
    assert d.reason == reason, "DISCONNECT reason 0x%02x, expected 0x%02x (%r)" % (d.reason, reason, d)
    assert not d.has(m.SESSION_EXPIRY_INTERVAL), "server DISCONNECT with Session Expiry: %r" % d
    return d


def expect_closed_with_error(c, timeout=3.0):
    """Asserts the server closes the connection; a DISCONNECT sent before the close, if any, has
    a reason code of 0x80 or more and is the last packet. Returns the packets received."""
    got = c.expect_closed(timeout)
    discs = [p for p in got if p.type == m.DISCONNECT]
    if discs:
        assert got[-1].type == m.DISCONNECT and len(discs) == 1, "packets after DISCONNECT: %r" % got
        assert discs[0].reason >= 0x80, "DISCONNECT reason 0x%02x" % discs[0].reason
    return got


def assert_serving(raw, port):
    """A fresh MQTT 5 client can connect, subscribe, publish with properties and receive: the broker
    is alive and well."""
    c = connect5(raw, port, "healthy5")
    c.subscribe([("health/v5", 1)])
    c.publish("health/v5", b"ok", qos=1, mid=7, props=m.user_props(("k", "v")))
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.user_props) == ("health/v5", b"ok", [("k", "v")])
    c.disconnect()
