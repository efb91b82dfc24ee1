"""12 MQTT 5 bad input on raw sockets: malformed properties and Protocol Errors end with a
DISCONNECT carrying the right reason code and the close of that connection only; bad CONNECT
properties end the connection before it starts. After each, the broker serves a fresh client."""
import pytest

import mqttraw as m
from v5util import assert_serving, connect5, expect_closed_with_error, expect_disconnect, midge_only

SEI = m.SESSION_EXPIRY_INTERVAL


def pub_raw_props(prop_bytes, payload=b"x"):
    """A QoS 0 PUBLISH on "bad/t" whose properties are the given bytes (length prefixed)."""
    return m.publish("bad/t", payload, props=prop_bytes)


# (id, packet, reason code the broker must give, Mosquitto deviates?)
CASES = [
    # 2.2.2.2: an identifier not valid for the packet type makes it a Malformed Packet
    ("unknown_property_id", pub_raw_props(b"\x05\x01"), m.MALFORMED_PACKET, None),
    ("unknown_property_id_high", pub_raw_props(b"\x7f\x00\x00"), m.MALFORMED_PACKET, None),
    ("property_not_allowed_in_publish", m.publish("bad/t", b"x", props=[(SEI, 5)]),
     m.MALFORMED_PACKET, None),
    ("property_not_allowed_in_subscribe",
     m.subscribe(1, [("bad/#", 0)], props=[(m.CONTENT_TYPE, "x")]), m.MALFORMED_PACKET, None),
    # the properties run past the packet / a value runs past the Property Length
    ("property_length_past_packet", m.packet(m.PUBLISH, 0, m.mstr("bad/t") + b"\x05\x01\x01"),
     m.MALFORMED_PACKET, None),
    ("property_value_truncated", pub_raw_props(b"\x02\x00\x00", payload=b""), m.MALFORMED_PACKET,
     None),
    ("string_property_truncated", pub_raw_props(b"\x03\x00\x09ab", payload=b""),
     m.MALFORMED_PACKET, None),
    # a property that may appear once, twice: Protocol Error
    ("duplicate_content_type",
     m.publish("bad/t", b"x", props=[(m.CONTENT_TYPE, "a"), (m.CONTENT_TYPE, "a")]),
     m.PROTOCOL_ERROR,
     "Mosquitto 2.0.11 closes the connection without a DISCONNECT"),
    ("duplicate_message_expiry",
     m.publish("bad/t", b"x", props=[(m.MESSAGE_EXPIRY_INTERVAL, 5),
                                     (m.MESSAGE_EXPIRY_INTERVAL, 5)]),
     m.PROTOCOL_ERROR,
     "Mosquitto 2.0.11 closes the connection without a DISCONNECT"),
    # [MQTT-3.3.2-8]
    ("topic_alias_0", m.publish("bad/t", b"x", props=[(m.TOPIC_ALIAS, 0)]), m.TOPIC_ALIAS_INVALID,
     "Mosquitto 2.0.11 sends DISCONNECT 0x81 for Topic Alias 0"),
    # 3.8.2.1.2: Subscription Identifier 0 is a Protocol Error
    ("subscription_identifier_0",
     m.subscribe(1, [("bad/#", 0)], props=[(m.SUBSCRIPTION_IDENTIFIER, 0)]), m.PROTOCOL_ERROR,
     "Mosquitto 2.0.11 sends DISCONNECT 0x81 for Subscription Identifier 0"),
    # 3.8.3.1: Retain Handling 3 is a Protocol Error
    ("retain_handling_3", m.subscribe(1, [("bad/#", 0x30)], props=[]), m.PROTOCOL_ERROR,
     "Mosquitto 2.0.11 sends DISCONNECT 0x81 for Retain Handling 3"),
    # [MQTT-3.8.3-5]: reserved bits of the Subscription Options
    ("subscription_options_reserved_bits", m.subscribe(1, [("bad/#", 0x40)], props=[]),
     m.MALFORMED_PACKET, None),
    # 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3"
    ("subscription_qos_3", m.subscribe(1, [("bad/#", 0x03)], props=[]), m.PROTOCOL_ERROR,
     "Mosquitto 2.0.11 sends DISCONNECT 0x81 for Maximum QoS 3"),
    # [MQTT-3.3.1-4]: both QoS bits set is a Malformed Packet
    ("publish_qos_3", m.packet(m.PUBLISH, 0x06, m.mstr("bad/t") + m.u16(1) + b"\x00x"),
     m.MALFORMED_PACKET, None),
    # [MQTT-1.5.4-1]: ill-formed UTF-8 in a string property is a Malformed Packet
    ("content_type_bad_utf8", m.publish("bad/t", b"x", props=[(m.CONTENT_TYPE, b"\xff\xfe")]),
     m.MALFORMED_PACKET, "Mosquitto 2.0.11 closes the connection without a DISCONNECT"),
    ("user_property_bad_utf8",
     m.publish("bad/t", b"x", props=[(m.USER_PROPERTY, (b"k", b"\xed\xa0\x80"))]),
     m.MALFORMED_PACKET, "Mosquitto 2.0.11 closes the connection without a DISCONNECT"),
]


def params(strict):
    out = []
    for name, data, reason, deviation in CASES:
        marks = [midge_only] if (strict and deviation) else []
        out.append(pytest.param(data, reason, id=name, marks=marks))
    return out


def send_bad(raw, port, data):
    bystander = connect5(raw, port, "bystander")
    c = connect5(raw, port, "bad")
    c.send(data)
    return bystander, c


@pytest.mark.parametrize("data,reason", params(strict=True))
def test_bad_packet_disconnect_reason(broker, raw, data, reason):
    """The broker answers with DISCONNECT and the reason code for the error, then closes the
    connection [MQTT-4.13.1-1]; other clients are unaffected and the broker keeps serving.
    (Cases where Mosquitto 2.0.11 gives another answer are midge_only; see CASES.)"""
    b = broker()
    bystander, c = send_bad(raw, b.port, data)
    expect_disconnect(c, reason)
    assert bystander.is_open()
    assert_serving(raw, b.port)


@pytest.mark.parametrize("data,reason", params(strict=False))
def test_bad_packet_closes(broker, raw, data, reason):
    """Whatever the reason code, every one of these packets ends the connection (with a DISCONNECT
    of 0x80 or more, if any) [MQTT-4.13.1-1]; nothing is delivered; other clients are
    unaffected."""
    b = broker()
    watcher = connect5(raw, b.port, "watcher")
    watcher.subscribe([("bad/#", 0)])
    bystander, c = send_bad(raw, b.port, data)
    got = expect_closed_with_error(c)
    assert all(p.type not in (m.SUBACK, m.PUBLISH) for p in got), got
    watcher.expect_nothing(0.3)
    assert bystander.is_open()
    assert_serving(raw, b.port)


# (id, CONNECT properties, Will Properties, Mosquitto deviates?)
CONNECT_CASES = [
    ("receive_maximum_0", [(m.RECEIVE_MAXIMUM, 0)], None, None),
    ("maximum_packet_size_0", [(m.MAXIMUM_PACKET_SIZE, 0)], None, None),
    ("duplicate_topic_alias_maximum", [(m.TOPIC_ALIAS_MAXIMUM, 2), (m.TOPIC_ALIAS_MAXIMUM, 2)],
     None, None),
    ("duplicate_session_expiry", [(SEI, 1), (SEI, 1)], None, None),
    ("request_problem_information_2", [(m.REQUEST_PROBLEM_INFORMATION, 2)], None, None),
    ("request_response_information_2", [(m.REQUEST_RESPONSE_INFORMATION, 2)], None, None),
    ("unknown_property", b"\x05\x01", None, None),
    ("property_not_allowed", [(m.TOPIC_ALIAS, 1)], None, None),
    # 3.1.2.11.10: "It is a Protocol Error to include Authentication Data if there is no
    # Authentication Method"
    ("authentication_data_without_method", [(m.AUTHENTICATION_DATA, b"x")], None,
     "Mosquitto 2.0.11 accepts Authentication Data without an Authentication Method (CONNACK 0)"),
    ("will_property_not_allowed", [], [(m.TOPIC_ALIAS, 1)], None),
    ("will_property_duplicate", [], [(m.WILL_DELAY_INTERVAL, 1), (m.WILL_DELAY_INTERVAL, 1)],
     None),
]


@pytest.mark.parametrize("props,will_props", [
    pytest.param(p, w, id=n, marks=[midge_only] if dev else []) for n, p, w, dev in CONNECT_CASES])
def test_bad_connect_properties(broker, raw, props, will_props):
    """A CONNECT with invalid properties (a value the specification forbids, e.g. Receive
    Maximum 0 (3.1.2.11.3), a property given twice, one not allowed in CONNECT): the connection is
    closed [MQTT-3.1.4-1], either at once or after a CONNACK with a reason code of 0x80 or more
    [MQTT-3.2.2-7] and Session Present 0 [MQTT-3.2.2-6]; the session is not created."""
    b = broker()
    c = raw(b.port)
    will = ("will/bad", b"x", 0, False) if will_props else None
    if isinstance(props, bytes):
        props += m.encode_property(SEI, 60)
    elif not any(i == SEI for i, _ in props):
        props = props + [(SEI, 60)]
    c.send(m.connect("badconnect", proto=m.MQTT5, clean=False, props=props, will=will,
                     will_props=will_props))
    got = c.expect_closed(3)
    assert len(got) <= 1, got
    if got:
        ack = got[0]
        assert ack.type == m.CONNACK and ack.reason >= 0x80 and not ack.session_present, ack
    c2 = connect5(raw, b.port, "badconnect", clean=False)
    assert c2.connack.session_present is False
    assert_serving(raw, b.port)


def test_bad_client_leaves_no_subscription(broker, raw):
    """A subscriber that is disconnected for bad input leaves no subscription behind: messages to
    its topic go nowhere (PUBACK 0x10)."""
    b = broker()
    c = connect5(raw, b.port, "bad")
    c.subscribe([("left/#", 1)])
    c.send(m.publish("left/x", b"x", props=[(m.CONTENT_TYPE, "a"), (m.CONTENT_TYPE, "a")]))
    expect_closed_with_error(c)
    p = connect5(raw, b.port, "pub")
    assert p.publish("left/x", b"x", qos=1).reason == m.NO_MATCHING_SUBSCRIBERS
