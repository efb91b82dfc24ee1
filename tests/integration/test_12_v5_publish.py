"""12 MQTT 5 PUBLISH: properties forwarded unaltered, message expiry, payload format validation,
the reason codes of PUBACK / PUBREC / PUBCOMP, limits (message size, retain, QoS), mixing MQTT 5
and 3.1.1 clients, and Topic Aliases in both directions."""
import time

import pytest

import mqttraw as m
from conftest import IS_MOSQUITTO
from v5util import (assert_serving, collect, connect5, expect_disconnect, midge_only,
                    publishes)

FULL_PROPS = [
    (m.PAYLOAD_FORMAT_INDICATOR, 1),
    (m.CONTENT_TYPE, "text/plain; charset=utf-8"),
    (m.RESPONSE_TOPIC, "reply/here"),
    (m.CORRELATION_DATA, b"\x00\xffid\x00"),
    (m.USER_PROPERTY, ("b", "2")),
    (m.USER_PROPERTY, ("a", "1")),
    (m.USER_PROPERTY, ("b", "2")),   # duplicates are kept
    (m.USER_PROPERTY, ("b", "3")),
    (m.USER_PROPERTY, ("ключ", "значение")),
]


def pub_sub(raw, port, filt="t/#", qos=2, sub_props=None):
    s = connect5(raw, port, "sub", props=sub_props or [])
    s.subscribe([(filt, qos)])
    p = connect5(raw, port, "pub")
    return p, s


def without(props, pid):
    return [(i, v) for i, v in props if i != pid]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_properties_forwarded_unaltered(broker, raw, qos):
    """Payload Format Indicator [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data
    [MQTT-3.3.2-16], Content Type [MQTT-3.3.2-20] reach the subscriber unaltered; User Properties
    unaltered, duplicates kept [MQTT-3.3.2-17], in order [MQTT-3.3.2-18]."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    p.publish("t/props", "héllo".encode(), qos=qos, mid=5, props=FULL_PROPS)
    pkt = s.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.qos) == ("t/props", "héllo".encode(), qos)
    for pid in (m.PAYLOAD_FORMAT_INDICATOR, m.CONTENT_TYPE, m.RESPONSE_TOPIC, m.CORRELATION_DATA):
        assert pkt.props_of(pid) == [v for i, v in FULL_PROPS if i == pid], pkt
    assert pkt.user_props == [v for i, v in FULL_PROPS if i == m.USER_PROPERTY]
    assert not pkt.has(m.TOPIC_ALIAS) and not pkt.has(m.SUBSCRIPTION_IDENTIFIER)


def test_empty_property_values_forwarded(broker, raw):
    """Empty Correlation Data, Content Type and User Property strings are present values and are
    forwarded as such [MQTT-3.3.2-16], [MQTT-3.3.2-20], [MQTT-3.3.2-17]."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    props = [(m.CORRELATION_DATA, b""), (m.CONTENT_TYPE, ""), (m.USER_PROPERTY, ("", ""))]
    p.publish("t/empty", b"x", qos=1, props=props)
    assert s.recv_publish().props == props


def test_message_expiry_forwarded_live(broker, raw):
    """A message delivered at once carries a Message Expiry Interval no greater than the one it
    was published with [MQTT-3.3.2-6]; a message without one carries none."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    p.publish("t/exp", b"a", qos=1, props=[(m.MESSAGE_EXPIRY_INTERVAL, 100)])
    p.publish("t/exp", b"b", qos=1, mid=2)
    a, bb = publishes(s, 2)
    assert 99 <= a.prop(m.MESSAGE_EXPIRY_INTERVAL) <= 100
    assert not bb.has(m.MESSAGE_EXPIRY_INTERVAL)


def test_message_expiry_decremented_while_queued(broker, raw):
    """A message queued for an offline session is delivered with the received interval minus the
    time it waited in the broker [MQTT-3.3.2-6]."""
    b = broker()
    s = connect5(raw, b.port, "offline", props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    s.subscribe([("exp/#", 1)])
    s.close()
    time.sleep(0.2)
    p = connect5(raw, b.port, "pub")
    p.publish("exp/q", b"waiting", qos=1, props=[(m.MESSAGE_EXPIRY_INTERVAL, 30)])
    time.sleep(2.2)
    s2 = connect5(raw, b.port, "offline", clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    pkt = s2.recv_publish()
    assert pkt.payload == b"waiting"
    assert 26 <= pkt.prop(m.MESSAGE_EXPIRY_INTERVAL) <= 28, pkt


def test_expired_message_not_delivered_to_offline_session(broker, raw):
    """A queued message whose Message Expiry Interval passes before delivery starts is deleted
    [MQTT-3.3.2-5]; the others are delivered."""
    b = broker()
    s = connect5(raw, b.port, "offline", props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    s.subscribe([("exp/#", 1)])
    s.close()
    time.sleep(0.2)
    p = connect5(raw, b.port, "pub")
    p.publish("exp/a", b"short", qos=1, mid=1, props=[(m.MESSAGE_EXPIRY_INTERVAL, 1)])
    p.publish("exp/b", b"long", qos=1, mid=2, props=[(m.MESSAGE_EXPIRY_INTERVAL, 100)])
    p.publish("exp/c", b"forever", qos=1, mid=3)
    p.publish("exp/d", b"short0", qos=0, props=[(m.MESSAGE_EXPIRY_INTERVAL, 1)])
    time.sleep(2.3)
    s2 = connect5(raw, b.port, "offline", clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    got = [pk.payload for pk in collect(s2, 0.7)]
    assert b"short" not in got and b"short0" not in got
    assert got[:2] == [b"long", b"forever"], got


def test_retained_message_expiry(broker, raw):
    """A retained message is sent on subscribe with its remaining interval [MQTT-3.3.2-6], and
    once its interval has passed it is discarded and no longer sent [MQTT-3.3.2-5]."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.publish("ret/short", b"s", qos=1, mid=1, retain=True, props=[(m.MESSAGE_EXPIRY_INTERVAL, 2)])
    p.publish("ret/long", b"l", qos=1, mid=2, retain=True, props=[(m.MESSAGE_EXPIRY_INTERVAL, 60)])
    s = connect5(raw, b.port, "early")
    s.subscribe([("ret/#", 1)])
    early = {pk.topic: pk for pk in publishes(s, 2)}
    assert early["ret/short"].prop(m.MESSAGE_EXPIRY_INTERVAL) <= 2
    assert early["ret/short"].retain and early["ret/long"].retain
    time.sleep(3.2)
    s2 = connect5(raw, b.port, "late")
    s2.subscribe([("ret/#", 1)])
    late = collect(s2, 0.7)
    assert [pk.topic for pk in late] == ["ret/long"], late
    assert 55 <= late[0].prop(m.MESSAGE_EXPIRY_INTERVAL) <= 57


def test_payload_format_valid_utf8_delivered(broker, raw):
    """Payload Format Indicator 1 with a well-formed UTF-8 payload is delivered with its indicator
    [MQTT-3.3.2-4]."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    payload = "ünïcödé €𝄞".encode()
    ack = p.publish("t/utf8", payload, qos=1, props=[(m.PAYLOAD_FORMAT_INDICATOR, 1)])
    assert ack.reason == 0
    pkt = s.recv_publish()
    assert pkt.payload == payload and pkt.prop(m.PAYLOAD_FORMAT_INDICATOR) == 1


# Mosquitto 2.0.11 does not validate the payload against the Payload Format Indicator: it
# acknowledges with 0x00 and delivers the ill-formed payload (validation is a MAY in 3.3.2.3.2).
@midge_only
@pytest.mark.parametrize("qos,ack_type", [(1, m.PUBACK), (2, m.PUBREC)], ids=["qos1", "qos2"])
def test_payload_format_invalid_acked_0x99(broker, raw, qos, ack_type):
    """Payload Format Indicator 1 with ill-formed UTF-8 at QoS 1/2: PUBACK / PUBREC 0x99 (Payload
    format invalid), the message is not delivered, the connection stays (section 3.3.2.3.2)."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    p.send(m.publish("t/bad", b"ok\xff\xfe", qos=qos, mid=9, props=[(m.PAYLOAD_FORMAT_INDICATOR, 1)]))
    ack = p.expect(ack_type)
    assert (ack.mid, ack.reason) == (9, m.PAYLOAD_FORMAT_INVALID)
    s.expect_nothing(0.5)
    assert p.is_open()


@midge_only
def test_payload_format_invalid_qos0_disconnect_0x99(broker, raw):
    """Payload Format Indicator 1 with ill-formed UTF-8 at QoS 0: DISCONNECT 0x99, not delivered
    (section 3.3.2.3.2)."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    p.send(m.publish("t/bad", b"\xc0\x80", props=[(m.PAYLOAD_FORMAT_INDICATOR, 1)]))
    expect_disconnect(p, m.PAYLOAD_FORMAT_INVALID)
    s.expect_nothing(0.5)


def test_payload_format_0_any_bytes(broker, raw):
    """Payload Format Indicator 0 (unspecified bytes): any payload is delivered."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    p.publish("t/bin", b"\xff\xfe\x00", qos=1, props=[(m.PAYLOAD_FORMAT_INDICATOR, 0)])
    pkt = s.recv_publish()
    assert pkt.payload == b"\xff\xfe\x00" and pkt.prop(m.PAYLOAD_FORMAT_INDICATOR) == 0


def test_no_matching_subscribers_puback_0x10(broker, raw):
    """QoS 1 to a topic no one subscribes to: PUBACK 0x10 (No matching subscribers); with a
    subscriber: 0x00."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    assert p.publish("nobody/here", b"x", qos=1, mid=3).reason == m.NO_MATCHING_SUBSCRIBERS
    s = connect5(raw, b.port, "sub")
    s.subscribe([("nobody/#", 1)])
    assert p.publish("nobody/here", b"x", qos=1, mid=4).reason == m.SUCCESS


# Mosquitto 2.0.11 answers PUBREC 0x00 when no one subscribes (it looks for subscribers only at
# PUBREL); 0x10 is allowed, not required.
@midge_only
def test_no_matching_subscribers_pubrec_0x10(broker, raw):
    """QoS 2 to a topic no one subscribes to: PUBREC 0x10; the flow still completes (PUBREL,
    PUBCOMP 0x00) [MQTT-4.3.3-11]."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.send(m.publish("nobody/here", b"x", qos=2, mid=3, props=[]))
    rec = p.expect(m.PUBREC)
    assert (rec.mid, rec.reason) == (3, m.NO_MATCHING_SUBSCRIBERS)
    p.send(m.pubrel(3))
    comp = p.expect(m.PUBCOMP)
    assert (comp.mid, comp.reason) == (3, 0)


@pytest.mark.parametrize("qos,ack_type", [(1, m.PUBACK), (2, m.PUBREC)], ids=["qos1", "qos2"])
def test_message_size_limit(broker, raw, qos, ack_type):
    """message_size_limit 10: an 11-byte payload gets PUBACK / PUBREC 0x97 (Quota exceeded: 0x95
    is not a reason code a PUBACK/PUBREC may carry [MQTT-3.4.2-1], [MQTT-3.5.2-1]; Mosquitto 2.0.11
    sends 0x95 anyway) and is not delivered; a 10-byte payload is delivered. The connection stays."""
    b = broker("message_size_limit 10")
    p, s = pub_sub(raw, b.port)
    p.send(m.publish("t/big", b"x" * 11, qos=qos, mid=6, props=[]))
    ack = p.expect(ack_type)
    assert (ack.mid, ack.reason) == (6, m.PACKET_TOO_LARGE if IS_MOSQUITTO else m.QUOTA_EXCEEDED)
    s.expect_nothing(0.5)
    p.publish("t/ok", b"y" * 10, qos=qos, mid=7)
    assert s.recv_publish().payload == b"y" * 10


def test_message_size_limit_qos0_dropped(broker, raw):
    """message_size_limit: an oversized QoS 0 message is dropped silently; the connection stays."""
    b = broker("message_size_limit 10")
    p, s = pub_sub(raw, b.port)
    p.send(m.publish("t/big", b"x" * 11, props=[]))
    s.expect_nothing(0.5)
    assert p.is_open()


@pytest.mark.parametrize("qos", [0, 1])
def test_retain_not_available_disconnect_0x9a(broker, raw, qos):
    """retain_available false: a PUBLISH with RETAIN 1 gets DISCONNECT 0x9A (Retain not
    supported) (section 3.2.2.3.5); nothing is retained."""
    b = broker("retain_available false")
    p = connect5(raw, b.port, "pub")
    assert p.connack.prop(m.RETAIN_AVAILABLE) == 0
    p.send(m.publish("t/r", b"x", qos=qos, retain=True, props=[]))
    expect_disconnect(p, m.RETAIN_NOT_SUPPORTED)
    s = connect5(raw, b.port, "sub")
    s.subscribe([("t/#", 1)])
    s.expect_nothing(0.5)


def test_retain_not_available_non_retained_ok(broker, raw):
    """retain_available false: PUBLISH with RETAIN 0 works as usual."""
    b = broker("retain_available false")
    p, s = pub_sub(raw, b.port)
    assert p.publish("t/nr", b"x", qos=1).reason == 0
    assert s.recv_publish().payload == b"x"


def test_retain_not_available_will_retain_refused(broker, raw):
    """retain_available false: a CONNECT with Will Retain 1 is refused with CONNACK 0x9A and the
    connection is closed [MQTT-3.2.2-13]."""
    b = broker("retain_available false")
    c = raw(b.port)
    c.send(m.connect("wr", proto=m.MQTT5, will=("w/t", b"x", 0, True)))
    got = c.expect_closed(3)
    assert len(got) == 1 and got[0].type == m.CONNACK and got[0].reason == m.RETAIN_NOT_SUPPORTED


def test_qos_above_maximum_disconnect_0x9b(broker, raw):
    """max_qos 1: a QoS 2 PUBLISH gets DISCONNECT 0x9B (QoS not supported) (section 3.3.1.2),
    and the message is not delivered."""
    b = broker("max_qos 1")
    p, s = pub_sub(raw, b.port)
    assert p.connack.prop(m.MAXIMUM_QOS) == 1
    p.send(m.publish("t/q2", b"x", qos=2, mid=1, props=[]))
    expect_disconnect(p, m.QOS_NOT_SUPPORTED)
    s.expect_nothing(0.5)


def test_qos_above_maximum_will_refused(broker, raw):
    """max_qos 1: a CONNECT with Will QoS 2 is refused, CONNACK 0x9B, and closed [MQTT-3.2.2-12]."""
    b = broker("max_qos 1")
    c = raw(b.port)
    c.send(m.connect("wq", proto=m.MQTT5, will=("w/t", b"x", 2, False)))
    got = c.expect_closed(3)
    assert len(got) == 1 and got[0].type == m.CONNACK and got[0].reason == m.QOS_NOT_SUPPORTED


# Mosquitto 2.0.11 answers a PUBREL for an unknown packet id with PUBCOMP 0x00.
@midge_only
def test_pubrel_unknown_packet_id_pubcomp_0x92(broker, raw):
    """PUBREL for a packet id with no QoS 2 flow: PUBCOMP with the same id [MQTT-4.3.3-11] and
    reason 0x92 (Packet Identifier not found); the connection stays."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.send(m.pubrel(77))
    comp = p.expect(m.PUBCOMP)
    assert (comp.mid, comp.reason) == (77, m.PACKET_ID_NOT_FOUND)
    assert p.is_open()


def test_pubrel_known_packet_id_pubcomp_0x00(broker, raw):
    """The normal QoS 2 flow in MQTT 5: PUBREC 0x00, PUBCOMP 0x00 with the same packet id
    [MQTT-4.3.3-8], [MQTT-4.3.3-11]."""
    b = broker()
    p, s = pub_sub(raw, b.port)
    p.send(m.publish("t/q2", b"x", qos=2, mid=300, props=[]))
    rec = p.expect(m.PUBREC)
    assert (rec.mid, rec.reason) == (300, 0)
    p.send(m.pubrel(300, reason=0, props=[]))
    comp = p.wait_for(m.PUBCOMP, 300)
    assert comp.reason == 0
    assert s.recv_publish().payload == b"x"


def test_v5_publisher_to_v311_subscriber(broker, raw):
    """A 3.1.1 subscriber gets an MQTT 5 publisher's message in the 3.1.1 layout: same topic and
    payload, no properties."""
    b = broker()
    s = raw(b.port)
    s.connect("old")
    s.subscribe("mix/#", qos=1)
    p = connect5(raw, b.port, "new")
    p.publish("mix/a", b"payload", qos=1, props=FULL_PROPS + [(m.MESSAGE_EXPIRY_INTERVAL, 60)])
    pkt = s.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.qos) == ("mix/a", b"payload", 1)
    assert pkt.body == m.mstr("mix/a") + m.u16(pkt.mid) + b"payload"


def test_v311_publisher_to_v5_subscriber(broker, raw):
    """An MQTT 5 subscriber gets a 3.1.1 publisher's message with no properties."""
    b = broker()
    s = connect5(raw, b.port, "new")
    s.subscribe([("mix/#", 1)])
    p = raw(b.port)
    p.connect("old")
    p.publish("mix/b", b"plain", qos=1)
    pkt = s.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.qos, pkt.props) == ("mix/b", b"plain", 1, [])


# ---------------------------------------------------------------- topic aliases, client to broker

def test_topic_alias_inbound(broker, raw):
    """Aliases 1..Topic Alias Maximum are accepted [MQTT-3.3.2-12]: a PUBLISH with a topic and an
    alias sets the mapping, a PUBLISH with an empty topic and the alias is delivered on the
    mapped topic; a new topic with the same alias replaces the mapping."""
    b = broker("max_topic_alias 3")
    s = connect5(raw, b.port, "sub")
    s.subscribe([("al/#", 1)])
    p = connect5(raw, b.port, "pub")
    assert p.connack.prop(m.TOPIC_ALIAS_MAXIMUM) == 3
    for alias in (1, 2, 3):
        p.publish("al/%d" % alias, b"set%d" % alias, qos=1, mid=alias, props=[(m.TOPIC_ALIAS, alias)])
    p.publish("", b"use3", qos=1, mid=4, props=[(m.TOPIC_ALIAS, 3)])
    p.publish("", b"use1", qos=0, props=[(m.TOPIC_ALIAS, 1)])
    p.publish("al/new", b"remap1", qos=1, mid=5, props=[(m.TOPIC_ALIAS, 1)])
    p.publish("", b"use1again", qos=2, mid=6, props=[(m.TOPIC_ALIAS, 1)])
    p.publish("", b"use2", qos=1, mid=7, props=[(m.TOPIC_ALIAS, 2)])
    got = [(pk.topic, pk.payload) for pk in publishes(s, 8)]
    assert got == [("al/1", b"set1"), ("al/2", b"set2"), ("al/3", b"set3"), ("al/3", b"use3"),
                   ("al/1", b"use1"), ("al/new", b"remap1"), ("al/new", b"use1again"),
                   ("al/2", b"use2")]
    assert p.is_open()


def test_topic_alias_not_forwarded(broker, raw):
    """The publisher's alias means nothing on the subscriber's connection: a subscriber that set no
    Topic Alias Maximum gets the full topic and no Topic Alias [MQTT-3.1.2-27]."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    s.subscribe([("al/#", 0)])
    p = connect5(raw, b.port, "pub")
    p.publish("al/x", b"1", props=[(m.TOPIC_ALIAS, 1)])
    p.publish("", b"2", props=[(m.TOPIC_ALIAS, 1)])
    for pk in publishes(s, 2):
        assert pk.topic == "al/x" and not pk.has(m.TOPIC_ALIAS), pk


def test_topic_alias_above_maximum_disconnect_0x94(broker, raw):
    """An alias greater than the Topic Alias Maximum of the CONNACK (10 by default)
    [MQTT-3.2.2-17]: DISCONNECT 0x94 (Topic Alias invalid); alias 10 itself works."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    s.subscribe([("al/#", 0)])
    p = connect5(raw, b.port, "pub")
    p.publish("al/ten", b"ok", props=[(m.TOPIC_ALIAS, 10)])
    assert s.recv_publish().payload == b"ok"
    p.send(m.publish("al/eleven", b"x", props=[(m.TOPIC_ALIAS, 11)]))
    expect_disconnect(p, m.TOPIC_ALIAS_INVALID)
    s.expect_nothing(0.5)


def test_topic_alias_when_maximum_0(broker, raw):
    """max_topic_alias 0: the CONNACK has no Topic Alias Maximum (so 0) and any alias is invalid
    [MQTT-3.2.2-18]: DISCONNECT 0x94."""
    b = broker("max_topic_alias 0")
    p = connect5(raw, b.port, "pub")
    assert p.connack.prop(m.TOPIC_ALIAS_MAXIMUM, 0) == 0
    p.send(m.publish("al/x", b"x", props=[(m.TOPIC_ALIAS, 1)]))
    expect_disconnect(p, m.TOPIC_ALIAS_INVALID)


# Mosquitto 2.0.11 answers alias 0 with DISCONNECT 0x81 (Malformed Packet); Midge with 0x94
# (Topic Alias invalid), the reason code the specification has for a bad alias.
@midge_only
def test_topic_alias_zero_disconnect_0x94(broker, raw):
    """Topic Alias 0 is not permitted [MQTT-3.3.2-8]: DISCONNECT 0x94."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.send(m.publish("al/zero", b"x", props=[(m.TOPIC_ALIAS, 0)]))
    expect_disconnect(p, m.TOPIC_ALIAS_INVALID)
    assert_serving(raw, b.port)


def test_unknown_topic_alias_disconnect_0x82(broker, raw):
    """An empty topic with an alias that has no mapping is a Protocol Error (section 3.3.2.3.4):
    DISCONNECT 0x82; nothing delivered."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    s.subscribe([("#", 0)])
    p = connect5(raw, b.port, "pub")
    p.send(m.publish("", b"x", props=[(m.TOPIC_ALIAS, 2)]))
    expect_disconnect(p, m.PROTOCOL_ERROR)
    s.expect_nothing(0.5)


def test_empty_topic_without_alias_disconnect_0x82(broker, raw):
    """A zero-length Topic Name without a Topic Alias is a Protocol Error (section 3.3.2.1):
    DISCONNECT 0x82."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.send(m.publish("", b"x", qos=1, mid=1, props=[]))
    expect_disconnect(p, m.PROTOCOL_ERROR)


def test_topic_alias_not_carried_to_new_connection(broker, raw):
    """Alias mappings last only for their Network Connection [MQTT-3.3.2-7]: after a reconnect
    (even resuming the session) an empty topic with the old alias is a Protocol Error, 0x82."""
    b = broker()
    p = connect5(raw, b.port, "pub", props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    p.publish("al/old", b"x", qos=1, props=[(m.TOPIC_ALIAS, 1)])
    p.disconnect()
    p2 = connect5(raw, b.port, "pub", clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    assert p2.connack.session_present is True
    p2.send(m.publish("", b"x", props=[(m.TOPIC_ALIAS, 1)]))
    expect_disconnect(p2, m.PROTOCOL_ERROR)


# ---------------------------------------------------------------- topic aliases, broker to client

def resolve_aliases(pkts, maximum):
    """Applies the receiver's side of Topic Aliases to PUBLISH packets, asserting every alias is in
    1..maximum [MQTT-3.3.2-11] and every empty topic has a known alias. Returns the topics."""
    mapping, topics = {}, []
    for pk in pkts:
        alias = pk.prop(m.TOPIC_ALIAS)
        if alias is not None:
            assert 1 <= alias <= maximum, "alias %d outside 1..%d: %r" % (alias, maximum, pk)
            if pk.topic:
                mapping[alias] = pk.topic
            assert alias in mapping, "empty topic with unmapped alias: %r" % pk
            topics.append(mapping[alias])
        else:
            assert pk.topic, "empty topic without alias: %r" % pk
            topics.append(pk.topic)
    return topics


@pytest.mark.parametrize("maximum", [1, 2, 5])
def test_outbound_aliases_are_valid(broker, raw, maximum):
    """A subscriber with Topic Alias Maximum N may get aliases; if it does, they are within 1..N
    [MQTT-3.1.2-26], [MQTT-3.3.2-11] and always resolve to the topic the message was published on
    [MQTT-3.3.2-3]."""
    b = broker()
    s = connect5(raw, b.port, "sub", props=[(m.TOPIC_ALIAS_MAXIMUM, maximum)])
    s.subscribe([("oa/#", 1)])
    p = connect5(raw, b.port, "pub")
    sent = []
    for rnd in range(3):
        for t in ("oa/one", "oa/two/long/topic/name", "oa/three"):
            p.publish(t, b"%s %d" % (t.encode(), rnd), qos=rnd % 2, mid=len(sent) + 1)
            sent.append(t)
    got = publishes(s, len(sent))
    assert resolve_aliases(got, maximum) == sent
    assert [pk.payload for pk in got] == [b"%s %d" % (t.encode(), i // 3) for i, t in enumerate(sent)]


@pytest.mark.parametrize("tam", [None, 0])
def test_no_outbound_aliases_without_maximum(broker, raw, tam):
    """A subscriber whose CONNECT has no Topic Alias Maximum, or 0, never gets a Topic Alias
    [MQTT-3.1.2-27]."""
    b = broker()
    props = [] if tam is None else [(m.TOPIC_ALIAS_MAXIMUM, tam)]
    s = connect5(raw, b.port, "sub", props=props)
    s.subscribe([("oa/#", 0)])
    p = connect5(raw, b.port, "pub")
    for i in range(4):
        p.publish("oa/same/topic", b"%d" % i)
    for pk in publishes(s, 4):
        assert pk.topic == "oa/same/topic" and not pk.has(m.TOPIC_ALIAS), pk


# Mosquitto 2.0.11 never sends Topic Aliases to clients (allowed: the sender decides).
@midge_only
def test_outbound_aliases_used(broker, raw):
    """Topic Alias Maximum 5: the first delivery of a topic carries the topic and a Topic Alias;
    later deliveries of that topic an empty topic and the same alias [MQTT-3.3.2-11]."""
    b = broker()
    s = connect5(raw, b.port, "sub", props=[(m.TOPIC_ALIAS_MAXIMUM, 5)])
    s.subscribe([("oa/#", 1)])
    p = connect5(raw, b.port, "pub")
    for i in range(3):
        p.publish("oa/first", b"f%d" % i, qos=1, mid=1)
        p.publish("oa/second", b"s%d" % i, qos=0)
    got = publishes(s, 6)
    first = [pk for pk in got if pk.payload.startswith(b"f")]
    second = [pk for pk in got if pk.payload.startswith(b"s")]
    for seq, topic in ((first, "oa/first"), (second, "oa/second")):
        alias = seq[0].prop(m.TOPIC_ALIAS)
        assert seq[0].topic == topic and alias is not None and 1 <= alias <= 5, seq[0]
        for pk in seq[1:]:
            assert pk.topic == "" and pk.prop(m.TOPIC_ALIAS) == alias, pk
    assert first[0].prop(m.TOPIC_ALIAS) != second[0].prop(m.TOPIC_ALIAS)


# Mosquitto 2.0.11 sends no topic aliases at all.
@midge_only
def test_outbound_aliases_bounded_by_max_topic_alias_broker(broker, raw):
    """max_topic_alias_broker 2: a subscriber taking 100 aliases gets aliases 1 and 2 for its first
    two topics and full topics without an alias after that; the broker's limit bounds what it keeps
    per connection."""
    b = broker("max_topic_alias_broker 2")
    s = connect5(raw, b.port, "aliased", props=[(m.TOPIC_ALIAS_MAXIMUM, 100)])
    s.subscribe([("ab/#", 0)])
    p = connect5(raw, b.port, "pub")
    for t in ("ab/1", "ab/2", "ab/3", "ab/1", "ab/3"):
        p.publish("%s" % t, b"x")
    got = [s.recv_publish() for _ in range(5)]
    aliases = [dict(pk.props).get(m.TOPIC_ALIAS) for pk in got]
    assert aliases == [1, 2, None, 1, None], got
    assert [pk.topic for pk in got] == ["ab/1", "ab/2", "ab/3", "", "ab/3"], got
