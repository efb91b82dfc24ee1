"""01 CONNECT / CONNACK: protocol versions, client ids, clean session, keepalive, takeover."""
import select
import socket
import time

import pytest

import mqttraw as m
from conftest import IS_MOSQUITTO


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_connect_accepted(broker, raw, proto):
    b = broker()
    c = raw(b.port)
    ack = c.connect("c-%d" % proto, proto=proto)
    assert ack.rc == 0 and ack.session_present is False
    assert ack.body == b"\x00\x00"
    assert c.is_open()


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_connect_paho(broker, paho, proto):
    b = broker()
    p = paho(b.port, client_id="paho-%d" % proto, protocol=proto)
    assert p.connack == (0, 0)
    assert p.subscribe("x/y", 1) == [1]
    p.publish("x/y", b"hello", qos=1)
    msg = p.get()
    assert (msg.topic, msg.payload, msg.qos) == ("x/y", b"hello", 1)


def test_unsupported_protocol_level(broker, raw):
    b = broker()
    c = raw(b.port)
    c.send(m.connect("lvl6", proto=6, proto_name="MQTT"))
    got = c.expect_closed(3)
    assert [(p.type, p.rc) for p in got] == [(m.CONNACK, 1)]
    # the broker still serves others
    raw(b.port).connect("after")


def test_wrong_protocol_name_closed(broker, raw):
    b = broker()
    c = raw(b.port)
    c.send(m.connect("badname", proto=4, proto_name="MQTX"))
    got = c.expect_closed(3)
    assert all(p.type == m.CONNACK and p.rc != 0 for p in got)


def test_zero_length_id_clean_session(broker, raw):
    b = broker()
    c = raw(b.port)
    ack = c.connect("", clean=True)
    assert ack.rc == 0
    # it is a working client: it can subscribe and receive
    assert c.subscribe("z/t", mid=3) == [0]
    c.send(m.publish("z/t", b"p"))
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload) == ("z/t", b"p")


def test_two_zero_length_ids_are_distinct(broker, raw):
    b = broker()
    c1 = raw(b.port)
    c1.connect("")
    c2 = raw(b.port)
    c2.connect("")
    # neither took the other over
    assert c1.is_open() and c2.is_open()


def test_zero_length_id_persistent_rejected(broker, raw):
    b = broker()
    c = raw(b.port)
    c.send(m.connect("", clean=False))
    got = c.expect_closed(3)
    assert [(p.type, p.rc) for p in got] == [(m.CONNACK, 2)]


def test_zero_length_id_mqtt31_rejected(broker, raw):
    # MQTT 3.1 requires a 1..23 character client id
    b = broker()
    c = raw(b.port)
    c.send(m.connect("", clean=True, proto=m.MQTT31))
    got = c.expect_closed(3)
    assert [(p.type, p.rc) for p in got] == [(m.CONNACK, 2)]


def test_allow_zero_length_clientid_false(broker, raw):
    b = broker("allow_zero_length_clientid false")
    c = raw(b.port)
    c.send(m.connect("", clean=True))
    got = c.expect_closed(3)
    assert [(p.type, p.rc) for p in got] == [(m.CONNACK, 2)]
    raw(b.port).connect("named")  # a named client is still fine


def test_username_password_accepted(broker, raw):
    b = broker()
    c = raw(b.port)
    ack = c.connect("withauth", username="user", password="secret")
    assert ack.rc == 0
    c2 = raw(b.port)
    assert c2.connect("useronly", username="user").rc == 0
    assert c.is_open() and c2.is_open()


def test_password_without_username_rejected(broker, raw):
    # 3.1.1 section 3.1.2.9: password flag without username flag is a protocol violation
    b = broker()
    c = raw(b.port)
    c.send(m.connect("pwonly", flags_extra=0x40) + m.u16(2) + b"pw")
    c.expect_closed(3)
    raw(b.port).connect("after")


def test_reserved_connect_flag_rejected(broker, raw):
    # 3.1.1 section 3.1.2.3: the reserved flag must be 0, else disconnect
    b = broker()
    c = raw(b.port)
    c.send(m.connect("resv", flags_extra=0x01))
    got = c.expect_closed(3)
    assert all(p.type == m.CONNACK and p.rc != 0 for p in got)


# Mosquitto 2.0.11 checks keepalives only every few seconds (a silent keepalive=1 client is
# closed after ~5.5 s); Midge uses a timer per client and must close within 1.5 s + slack.
KEEPALIVE_SLACK = 7.0 if IS_MOSQUITTO else 3.0


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_keepalive_timeout_closes(broker, raw, proto):
    b = broker()
    c = raw(b.port)
    c.connect("ka-silent", keepalive=1, proto=proto)
    t0 = time.monotonic()
    c.expect_closed(KEEPALIVE_SLACK + 1)
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed <= KEEPALIVE_SLACK, "closed after %.2fs, expected ~1.5s" % elapsed


def test_keepalive_counts_packets_not_bytes(broker, raw):
    """A client that dribbles the bytes of a packet it never completes sends no Control Packet: it is
    closed after 1.5 x keepalive all the same [MQTT-3.1.2-24 in 3.1.1, MQTT-3.1.2-22 in 5.0]."""
    b = broker()
    c = raw(b.port)
    c.connect("ka-dribbler", keepalive=1)
    pkt = m.publish("ka/t", b"x" * 200)
    t0 = time.monotonic()
    closed = False
    for i in range(len(pkt) - 1):        # never the last byte; one every 0.25 s
        try:
            c.sock.send(pkt[i:i + 1])
        except OSError:
            closed = True
            break
        r, _, _ = select.select([c.sock], [], [], 0.25)
        if r and c.sock.recv(1, socket.MSG_PEEK) == b"":
            closed = True
            break
        if time.monotonic() - t0 > KEEPALIVE_SLACK + 1:
            break
    elapsed = time.monotonic() - t0
    assert closed, "still open after %.1fs of dribbling" % elapsed


def test_keepalive_with_pings_stays(broker, raw):
    b = broker()
    c = raw(b.port)
    c.connect("ka-pinger", keepalive=1)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.5:
        c.send(m.pingreq())
        assert c.expect(m.PINGRESP, 2).flags == 0
        time.sleep(0.5)
    assert c.is_open()


def test_keepalive_zero_never_times_out(broker, raw):
    b = broker()
    c = raw(b.port)
    c.connect("ka-zero", keepalive=0)
    c.expect_nothing(3.0)
    assert c.is_open()


def test_pingreq_pingresp(broker, raw):
    b = broker()
    c = raw(b.port)
    c.connect("pinger")
    c.send(m.pingreq())
    p = c.expect(m.PINGRESP)
    assert p.first == 0xD0 and p.body == b""


def test_takeover_closes_first(broker, raw):
    b = broker()
    c1 = raw(b.port)
    c1.connect("same-id")
    c2 = raw(b.port)
    ack = c2.connect("same-id")
    assert ack.rc == 0
    c1.expect_closed(3)
    assert c2.is_open()


def test_takeover_persistent_session_present(broker, raw):
    b = broker()
    c1 = raw(b.port)
    c1.connect("same-p", clean=False)
    c1.subscribe("tk/#", qos=1)
    c2 = raw(b.port)
    ack = c2.connect("same-p", clean=False)
    assert ack.rc == 0 and ack.session_present is True
    c1.expect_closed(3)
    # the subscription moved to the new connection
    pub = raw(b.port)
    pub.connect("pub")
    pub.publish("tk/a", b"moved", qos=1)
    pkt = c2.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.qos) == ("tk/a", b"moved", 1)


def test_clean_disconnect_closes(broker, raw):
    b = broker()
    c = raw(b.port)
    c.connect("bye")
    c.send(m.disconnect())
    assert c.expect_closed(3) == []
