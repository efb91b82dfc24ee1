"""12 MQTT 5 CONNECT / CONNACK: the properties the broker announces and how they follow the
configuration, assigned client identifiers, Response Information, server redirection, enhanced
authentication refused, Request Problem Information, and the reasons the broker gives in a
DISCONNECT of its own (takeover, keepalive, shutdown, protocol errors)."""
import time

import pytest

import mqttraw as m
from conftest import IS_MOSQUITTO, free_port, port_listening, wait_for
from v5util import (assert_serving, connect5, expect_closed_with_error,
                    expect_disconnect, midge_only)


def test_connack_defaults(broker, raw):
    """CONNACK of an MQTT 5 connection with the default configuration: reason 0x00 and Session
    Present 0 [MQTT-3.2.2-2]; Receive Maximum 20 and Topic Alias Maximum 10; no Maximum QoS (QoS 2
    supported [MQTT-3.2.2-9]), Retain Available, Maximum Packet Size, Server Keep Alive,
    Response Information or Assigned Client Identifier; wildcard, subscription identifier and
    shared subscriptions supported (absent or 1); no Authentication Method [MQTT-4.12.0-6]."""
    b = broker()
    c = connect5(raw, b.port, "defaults")
    ack = c.connack
    assert (ack.reason, ack.session_present) == (0, False)
    assert ack.parse_error is None, ack
    assert ack.prop(m.RECEIVE_MAXIMUM) == 20
    assert ack.prop(m.TOPIC_ALIAS_MAXIMUM) == 10
    for pid in (m.MAXIMUM_QOS, m.RETAIN_AVAILABLE, m.MAXIMUM_PACKET_SIZE, m.SERVER_KEEP_ALIVE,
                m.RESPONSE_INFORMATION, m.ASSIGNED_CLIENT_IDENTIFIER, m.AUTHENTICATION_METHOD,
                m.SESSION_EXPIRY_INTERVAL):
        assert not ack.has(pid), "unexpected %s in %r" % (m.PROPERTY_NAMES[pid], ack)
    for pid in (m.WILDCARD_SUBSCRIPTION_AVAILABLE, m.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
                m.SHARED_SUBSCRIPTION_AVAILABLE):
        assert ack.prop(pid, 1) == 1, ack
    # every property at most once
    ids = [i for i, _ in ack.props if i != m.USER_PROPERTY]
    assert len(ids) == len(set(ids)), ack
    assert c.is_open()


def test_connack_follows_configuration(broker, raw):
    """max_inflight_messages -> Receive Maximum; max_qos 1 -> Maximum QoS 1 [MQTT-3.2.2-9];
    retain_available false -> Retain Available 0; max_packet_size -> Maximum Packet Size;
    max_topic_alias -> Topic Alias Maximum."""
    b = broker("max_inflight_messages 5\nmax_qos 1\nretain_available false\n"
               "max_packet_size 1000\nmax_topic_alias 3")
    ack = connect5(raw, b.port, "configured").connack
    assert ack.reason == 0
    assert ack.prop(m.RECEIVE_MAXIMUM) == 5
    assert ack.prop(m.MAXIMUM_QOS) == 1
    assert ack.prop(m.RETAIN_AVAILABLE) == 0
    assert ack.prop(m.MAXIMUM_PACKET_SIZE) == 1000
    assert ack.prop(m.TOPIC_ALIAS_MAXIMUM) == 3


def test_connack_max_qos_0(broker, raw):
    """max_qos 0 -> Maximum QoS 0 [MQTT-3.2.2-9]."""
    b = broker("max_qos 0")
    assert connect5(raw, b.port, "q0").connack.prop(m.MAXIMUM_QOS) == 0


def test_v311_connack_has_no_properties(broker, raw):
    """A 3.1.1 client gets its 2-byte CONNACK whatever MQTT 5 limits are configured."""
    b = broker("max_inflight_messages 5\nmax_qos 1\nretain_available false\n"
               "max_packet_size 1000\nmax_topic_alias 3\nmax_keepalive 30")
    c = raw(b.port)
    ack = c.connect("old", keepalive=20)   # within max_keepalive: 3.x clients asking more are refused
    assert ack.first == 0x20 and ack.body == b"\x00\x00"


@pytest.mark.parametrize("keepalive,expected", [(60, 30), (0, 30), (10, None), (30, None)])
def test_server_keep_alive(broker, raw, keepalive, expected):
    """max_keepalive 30: a client asking for more than 30 s, or for no keepalive (0), gets Server
    Keep Alive 30, which it must then use [MQTT-3.2.2-21]; a client asking for 30 s or less gets no
    Server Keep Alive and its own value stands [MQTT-3.2.2-22]."""
    b = broker("max_keepalive 30")
    ack = connect5(raw, b.port, "ka", keepalive=keepalive).connack
    assert ack.reason == 0
    assert ack.prop(m.SERVER_KEEP_ALIVE) == expected, ack


@pytest.mark.parametrize("clean", [True, False])
def test_assigned_client_identifier(broker, raw, clean):
    """An empty Client Identifier gets a unique Assigned Client Identifier in the CONNACK, with
    Clean Start 1 or 0 [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.2.2-16]."""
    b = broker()
    ids = set()
    for _ in range(3):
        ack = connect5(raw, b.port, "", clean=clean).connack
        assert ack.reason == 0 and ack.session_present is False
        aid = ack.prop(m.ASSIGNED_CLIENT_IDENTIFIER)
        assert aid, ack
        ids.add(aid)
    assert len(ids) == 3


def test_assigned_client_identifier_names_the_session(broker, raw):
    """The broker processes the CONNECT as if the client had sent the assigned identifier
    [MQTT-3.1.3-7]: reconnecting with it resumes the session."""
    b = broker()
    c = connect5(raw, b.port, "", clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    aid = c.connack.prop(m.ASSIGNED_CLIENT_IDENTIFIER)
    c.subscribe([("assigned/#", 1)])
    c.close()
    time.sleep(0.2)
    p = connect5(raw, b.port, "pub")
    p.publish("assigned/x", b"kept", qos=1)
    c2 = connect5(raw, b.port, aid, clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    assert c2.connack.session_present is True
    assert not c2.connack.has(m.ASSIGNED_CLIENT_IDENTIFIER)
    assert c2.recv_publish().payload == b"kept"


@pytest.mark.parametrize("rri", [None, 0, 1])
def test_no_response_information_by_default(broker, raw, rri):
    """Without a configured response information, the CONNACK never carries Response
    Information; with Request Response Information 0 it must not [MQTT-3.1.2-28]."""
    b = broker()
    props = [] if rri is None else [(m.REQUEST_RESPONSE_INFORMATION, rri)]
    ack = connect5(raw, b.port, "rri", props=props).connack
    assert ack.reason == 0 and not ack.has(m.RESPONSE_INFORMATION)


# `response_information` is Midge's own option (Mosquitto has none).
@midge_only
@pytest.mark.parametrize("rri,expected", [(1, "replies/"), (0, None), (None, None)])
def test_response_information_configured(broker, raw, rri, expected):
    """response_information TEXT: sent as Response Information only to a client that set Request
    Response Information 1; never with 0 or without it [MQTT-3.1.2-28]."""
    b = broker("response_information replies/")
    props = [] if rri is None else [(m.REQUEST_RESPONSE_INFORMATION, rri)]
    ack = connect5(raw, b.port, "rri", props=props).connack
    assert ack.reason == 0 and ack.prop(m.RESPONSE_INFORMATION) == expected, ack


# `server_reference` is Midge's own listener option (Mosquitto has none).
@midge_only
def test_server_reference_v5(broker, raw):
    """server_reference HOST on the listener: an MQTT 5 client gets CONNACK 0x9C (Use another
    server) with Server Reference HOST (section 4.11), Session Present 0 [MQTT-3.2.2-6], and the
    connection is closed [MQTT-3.2.2-7]."""
    b = broker("server_reference other.example.com:1884")
    c = raw(b.port)
    c.send(m.connect("redirected", proto=m.MQTT5))
    got = c.expect_closed(3)
    assert len(got) == 1 and got[0].type == m.CONNACK, got
    ack = got[0]
    assert (ack.reason, ack.session_present) == (m.USE_ANOTHER_SERVER, False)
    assert ack.prop(m.SERVER_REFERENCE) == "other.example.com:1884"


@midge_only
def test_server_reference_is_per_listener(broker, raw):
    """server_reference applies to its listener only: a second listener without it accepts the
    same MQTT 5 client normally."""
    other = free_port()
    b = broker("server_reference other.example.com:1884\nlistener %d 127.0.0.1" % other)
    wait_for(lambda: port_listening(other), 5, what="second listener")
    c = raw(other)
    ack = c.connect("here", proto=m.MQTT5)
    assert ack.reason == 0 and not ack.has(m.SERVER_REFERENCE)
    r = raw(b.port)
    r.send(m.connect("there", proto=m.MQTT5))
    assert r.expect(m.CONNACK).reason == m.USE_ANOTHER_SERVER


@midge_only
def test_server_reference_v311(broker, raw):
    """server_reference HOST: a 3.1.1 client gets CONNACK 3 (Server unavailable) and is closed."""
    b = broker("server_reference other.example.com:1884")
    c = raw(b.port)
    c.send(m.connect("redirected"))
    got = c.expect_closed(3)
    assert len(got) == 1 and got[0].first == 0x20 and got[0].body == b"\x00\x03", got


def test_authentication_method_refused(broker, raw):
    """No authentication method is configured: a CONNECT with an Authentication Method gets
    CONNACK 0x8C (Bad authentication method) and the connection is closed [MQTT-4.12.0-1],
    [MQTT-3.2.2-7]; no AUTH packet is sent."""
    b = broker()
    c = raw(b.port)
    c.send(m.connect("scram", proto=m.MQTT5, props=[(m.AUTHENTICATION_METHOD, "SCRAM-SHA-1"),
                                                    (m.AUTHENTICATION_DATA, b"client-first")]))
    got = c.expect_closed(3)
    assert len(got) == 1 and got[0].type == m.CONNACK, got
    assert (got[0].reason, got[0].session_present) == (m.BAD_AUTHENTICATION_METHOD, False)
    assert_serving(raw, b.port)


def test_connect_user_properties_accepted(broker, raw):
    """User Properties (repeated keys included) and the other optional CONNECT properties are
    accepted."""
    b = broker()
    props = m.user_props(("app", "test"), ("app", "again"), ("", "")) + [
        (m.SESSION_EXPIRY_INTERVAL, 0), (m.RECEIVE_MAXIMUM, 100), (m.MAXIMUM_PACKET_SIZE, 100000),
        (m.TOPIC_ALIAS_MAXIMUM, 0), (m.REQUEST_RESPONSE_INFORMATION, 0),
        (m.REQUEST_PROBLEM_INFORMATION, 1)]
    c = connect5(raw, b.port, "userprops", props=props)
    assert c.connack.reason == 0
    c.subscribe([("up/t", 1)])
    c.publish("up/t", b"x", qos=1)
    assert c.recv_publish().payload == b"x"


# ---------------------------------------------------------------- Request Problem Information

def test_no_reason_string_when_problem_information_0(broker, raw):
    """Request Problem Information 0: no Reason String or User Property on any packet but
    PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29]: here a PUBACK 0x10, a PUBACK 0x97 and an
    UNSUBACK 0x11."""
    b = broker("message_size_limit 10")
    c = connect5(raw, b.port, "quiet", props=[(m.REQUEST_PROBLEM_INFORMATION, 0)])
    ack = c.publish("nobody/listens", b"x", qos=1, mid=1)
    assert ack.reason == m.NO_MATCHING_SUBSCRIBERS
    big = c.publish("nobody/listens", b"x" * 11, qos=1, mid=2)
    assert big.reason == (m.PACKET_TOO_LARGE if IS_MOSQUITTO else m.QUOTA_EXCEEDED)
    un = c.unsubscribe("never/subscribed", mid=3)
    assert un.reasons == [m.NO_SUBSCRIPTION_EXISTED]
    for p in (ack, big, un):
        assert not p.has(m.REASON_STRING) and not p.has(m.USER_PROPERTY), p


# Mosquitto 2.0.11 closes the connection (DISCONNECT 0x81) on an invalid topic filter instead of
# answering SUBACK 0x8F, so it has no SUBACK failure to check here.
@midge_only
def test_no_reason_string_in_suback_when_problem_information_0(broker, raw):
    """Request Problem Information 0: a SUBACK with a failure carries no Reason String
    [MQTT-3.1.2-29]."""
    b = broker()
    c = connect5(raw, b.port, "quiet", props=[(m.REQUEST_PROBLEM_INFORMATION, 0)])
    assert c.subscribe([("a/#/b", 0)]) == [m.TOPIC_FILTER_INVALID]
    assert not c.last_suback.has(m.REASON_STRING) and not c.last_suback.has(m.USER_PROPERTY)


def test_reason_string_is_utf8_when_problem_information_default(broker, raw):
    """Without Request Problem Information 0, error acknowledgements may carry a Reason String:
    whatever comes must be well-formed and at most one Reason String."""
    b = broker()
    c = connect5(raw, b.port, "talkative")
    ack = c.publish("nobody/listens", b"x", qos=1, mid=1)
    un = c.unsubscribe("never/subscribed", mid=2)
    for p in (ack, un):
        assert p.parse_error is None and len(p.props_of(m.REASON_STRING)) <= 1, p


# ---------------------------------------------------------------- the broker's DISCONNECTs

def test_takeover_closes_first_connection(broker, raw):
    """A second connection with the same Client Identifier: the first one is closed
    [MQTT-3.1.4-3], the second works."""
    b = broker()
    c1 = connect5(raw, b.port, "twin")
    c2 = connect5(raw, b.port, "twin")
    expect_closed_with_error(c1)
    assert c2.is_open()


# Mosquitto 2.0.11 closes the old connection without sending any DISCONNECT.
@midge_only
def test_takeover_disconnect_0x8e(broker, raw):
    """The first connection gets DISCONNECT 0x8E (Session taken over) before the close
    [MQTT-3.1.4-3]."""
    b = broker()
    c1 = connect5(raw, b.port, "twin")
    connect5(raw, b.port, "twin")
    expect_disconnect(c1, m.SESSION_TAKEN_OVER)


# Mosquitto 2.0.11 closes the connection without a DISCONNECT, and only some seconds after
# 1.5 x keepalive.
@midge_only
def test_keepalive_timeout_disconnect_0x8d(broker, raw):
    """Keepalive 1 and silence: within 1.5 x keepalive (plus the broker's 1 s timer) the broker
    sends DISCONNECT 0x8D (Keep Alive timeout) and closes [MQTT-3.1.2-22]."""
    b = broker()
    c = connect5(raw, b.port, "sleepy", keepalive=1)
    t0 = time.monotonic()
    expect_disconnect(c, m.KEEP_ALIVE_TIMEOUT, timeout=4)
    assert time.monotonic() - t0 >= 1.0


# Mosquitto 2.0.11 closes every connection at shutdown without a DISCONNECT.
@midge_only
def test_shutdown_disconnect_0x8b(broker, raw):
    """SIGTERM: MQTT 5 clients get DISCONNECT 0x8B (Server shutting down); 3.1.1 clients are just
    closed; the broker exits 0."""
    b = broker()
    c5 = connect5(raw, b.port, "five")
    c4 = raw(b.port)
    c4.connect("four")
    b.stop()
    expect_disconnect(c5, m.SERVER_SHUTTING_DOWN, timeout=1)
    assert c4.expect_closed(1) == []


def test_second_connect_closes(broker, raw):
    """A second CONNECT is a Protocol Error and the connection is closed [MQTT-3.1.0-2]."""
    b = broker()
    c = connect5(raw, b.port, "twice")
    c.send(m.connect("twice", proto=m.MQTT5))
    got = expect_closed_with_error(c)
    assert all(p.type != m.CONNACK for p in got), got  # never a second CONNACK [MQTT-3.2.0-2]
    assert_serving(raw, b.port)


# Mosquitto 2.0.11 closes the connection without a DISCONNECT.
@midge_only
def test_second_connect_disconnect_0x82(broker, raw):
    """A second CONNECT: DISCONNECT 0x82 (Protocol Error) then close [MQTT-3.1.0-2],
    [MQTT-4.13.1-1]."""
    b = broker()
    c = connect5(raw, b.port, "twice")
    c.send(m.connect("twice", proto=m.MQTT5))
    expect_disconnect(c, m.PROTOCOL_ERROR)


def test_auth_without_method_closes(broker, raw):
    """An AUTH packet on a connection whose CONNECT had no Authentication Method is a Protocol
    Error [MQTT-4.12.0-7]: the connection is closed."""
    b = broker()
    c = connect5(raw, b.port, "noauth")
    c.send(m.auth(m.CONTINUE_AUTHENTICATION, [(m.AUTHENTICATION_METHOD, "SCRAM-SHA-1")]))
    expect_closed_with_error(c)
    assert_serving(raw, b.port)


# Mosquitto 2.0.11 closes the connection without a DISCONNECT.
@midge_only
def test_auth_without_method_disconnect_0x82(broker, raw):
    """AUTH without an Authentication Method in CONNECT: DISCONNECT 0x82 then close
    [MQTT-4.12.0-7]."""
    b = broker()
    c = connect5(raw, b.port, "noauth")
    c.send(m.auth(m.CONTINUE_AUTHENTICATION, [(m.AUTHENTICATION_METHOD, "SCRAM-SHA-1")]))
    expect_disconnect(c, m.PROTOCOL_ERROR)


def test_malformed_packet_disconnect_0x81(broker, raw):
    """A malformed packet (PUBLISH whose Property Length runs past the packet): DISCONNECT 0x81
    (Malformed Packet) then close [MQTT-4.13.1-1]."""
    b = broker()
    c = connect5(raw, b.port, "garbled")
    c.send(m.packet(m.PUBLISH, 0, m.mstr("a/b") + b"\x05\x01\x01"))
    expect_disconnect(c, m.MALFORMED_PACKET)
    assert_serving(raw, b.port)


def test_client_disconnect_reason_and_properties_accepted(broker, raw):
    """A client DISCONNECT with a reason code, a Reason String and User Properties is accepted:
    the broker just closes, with no DISCONNECT of its own."""
    b = broker()
    c = connect5(raw, b.port, "leaving")
    c.send(m.disconnect(0, [(m.REASON_STRING, "bye"), (m.USER_PROPERTY, ("k", "v"))]))
    assert c.expect_closed(3) == []
    assert_serving(raw, b.port)
