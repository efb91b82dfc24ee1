"""05 Will messages: published on keepalive timeout, socket close, protocol error and takeover;
not after a clean DISCONNECT; will QoS and retain honoured."""
import socket

import pytest

import mqttraw as m
from conftest import IS_MOSQUITTO

# Mosquitto 2.0.11 checks keepalives only every few seconds; Midge within 1.5 x keepalive.
KEEPALIVE_WAIT = 8.0 if IS_MOSQUITTO else 3.5


def watcher(raw, port, filt="will/#", qos=2):
    w = raw(port)
    w.connect("watcher")
    w.subscribe(filt, qos=qos)
    return w


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_will_on_socket_close(broker, raw, proto):
    b = broker()
    w = watcher(raw, b.port)
    c = raw(b.port)
    c.connect("dier", proto=proto, will=("will/close", b"gone", 0, False))
    c.close()
    pkt = w.recv_publish(3)
    assert (pkt.topic, pkt.payload, pkt.qos, pkt.retain) == ("will/close", b"gone", 0, False)


def test_will_on_keepalive_timeout(broker, raw):
    b = broker()
    w = watcher(raw, b.port)
    c = raw(b.port)
    c.connect("sleeper", keepalive=1, will=("will/ka", b"timeout", 1, False))
    pkt = w.recv_publish(KEEPALIVE_WAIT)
    assert (pkt.topic, pkt.payload, pkt.qos) == ("will/ka", b"timeout", 1)
    c.expect_closed(1)


def test_will_on_protocol_error(broker, raw):
    b = broker()
    w = watcher(raw, b.port)
    c = raw(b.port)
    c.connect("bad", will=("will/err", b"broken", 0, False))
    c.send(m.packet(m.PUBLISH, 0x06, m.mstr("x") + m.u16(1)))  # QoS 3
    c.expect_closed(3)
    pkt = w.recv_publish(3)
    assert (pkt.topic, pkt.payload) == ("will/err", b"broken")


# A second CONNECT is a protocol error and 3.1.1 section 3.1.2.5 says the will is then published.
# Mosquitto 2.0.11 closes the connection ("disconnected due to protocol error") but drops the
# will on this path; Midge publishes it like on any other protocol error.
@pytest.mark.midge_only
def test_will_on_second_connect(broker, raw):
    b = broker()
    w = watcher(raw, b.port)
    c = raw(b.port)
    c.connect("twice", will=("will/twice", b"second connect", 0, False))
    c.send(m.connect("twice"))
    c.expect_closed(3)
    assert w.recv_publish(3).payload == b"second connect"


def test_will_on_takeover(broker, raw):
    # 3.1.1 section 3.1.4: the old connection is closed without DISCONNECT, so its will is sent
    b = broker()
    w = watcher(raw, b.port)
    c1 = raw(b.port)
    c1.connect("tk", will=("will/tk", b"taken over", 1, False))
    c2 = raw(b.port)
    c2.connect("tk")
    c1.expect_closed(3)
    pkt = w.recv_publish(3)
    assert (pkt.topic, pkt.payload, pkt.qos) == ("will/tk", b"taken over", 1)
    w.expect_nothing(0.5)


def test_no_will_after_disconnect(broker, raw):
    b = broker()
    w = watcher(raw, b.port, filt="#")
    c = raw(b.port)
    c.connect("polite", will=("will/polite", b"should not appear", 1, True))
    c.send(m.disconnect())
    c.expect_closed(3)
    w.expect_nothing(1.0)
    # and nothing was retained
    s = raw(b.port)
    s.connect("late")
    s.subscribe("will/#")
    s.expect_nothing(0.5)


@pytest.mark.parametrize("will_qos", [0, 1, 2])
def test_will_qos(broker, raw, will_qos):
    b = broker()
    w = watcher(raw, b.port, qos=2)
    c = raw(b.port)
    c.connect("wq", will=("will/q", b"q", will_qos, False))
    c.close()
    pkt = w.recv_publish(3)
    assert pkt.qos == will_qos and pkt.payload == b"q"


def test_will_qos_downgraded_to_subscription(broker, raw):
    b = broker()
    w = watcher(raw, b.port, qos=0)
    c = raw(b.port)
    c.connect("wq", will=("will/q", b"q", 2, False))
    c.close()
    assert w.recv_publish(3).qos == 0


def test_will_retain(broker, raw):
    b = broker()
    w = watcher(raw, b.port, qos=1)
    c = raw(b.port)
    c.connect("wr", will=("will/retained", b"last words", 1, True))
    c.close()
    live = w.recv_publish(3)
    assert live.payload == b"last words" and live.retain is False  # existing subscriber: retain 0
    late = raw(b.port)
    late.connect("late")
    late.subscribe("will/retained", qos=1)
    pkt = late.recv_publish(3)
    assert (pkt.payload, pkt.retain, pkt.qos) == (b"last words", True, 1)


def test_will_not_retained_without_flag(broker, raw):
    b = broker()
    w = watcher(raw, b.port)
    c = raw(b.port)
    c.connect("wn", will=("will/plain", b"x", 0, False))
    c.close()
    w.recv_publish(3)
    late = raw(b.port)
    late.connect("late")
    late.subscribe("will/#")
    late.expect_nothing(0.5)


def test_will_paho(broker, paho, raw):
    b = broker()
    w = watcher(raw, b.port)
    c = raw(b.port)
    c.connect("pw", proto=m.MQTT31, will=("will/31", b"v31", 2, False))
    c.close()
    pkt = w.recv_publish(3)
    assert (pkt.topic, pkt.payload, pkt.qos) == ("will/31", b"v31", 2)
    s = paho(b.port, client_id="ps")
    s.subscribe("will/#", 1)
    d = paho(b.port, client_id="pd", will=("will/paho", b"paho will", 1, False))
    d.c.socket().shutdown(socket.SHUT_RDWR)  # drop the TCP connection under paho, no DISCONNECT
    msg = s.get(5)
    assert (msg.topic, msg.payload) == ("will/paho", b"paho will")


def test_will_topic_with_wildcard_rejected(broker, raw):
    b = broker()
    c = raw(b.port)
    c.send(m.connect("wild", will=("will/#", b"x", 0, False)))
    got = c.expect_closed(3)
    assert all(p.type == m.CONNACK and p.rc != 0 for p in got)
    raw(b.port).connect("ok")
