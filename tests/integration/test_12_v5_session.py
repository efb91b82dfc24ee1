"""12 MQTT 5 sessions and wills: Clean Start, Session Expiry Interval (set at CONNECT, changed at
DISCONNECT), Will Properties, Will Delay Interval, DISCONNECT with or without the will."""
import time

import pytest

import mqttraw as m
from v5util import collect, connect5, expect_disconnect, midge_only

SEI = m.SESSION_EXPIRY_INTERVAL


def subscribed(raw, port, cid, expiry, filt="se/#"):
    c = connect5(raw, port, cid, props=[] if expiry is None else [(SEI, expiry)])
    c.subscribe([(filt, 1)])
    return c


def resume(raw, port, cid, expiry=60):
    return connect5(raw, port, cid, clean=False, props=[(SEI, expiry)])


# ---------------------------------------------------------------- sessions

def test_session_expiry_absent_means_0(broker, raw):
    """No Session Expiry Interval: the session ends with the connection; a later Clean Start 0
    finds none (Session Present 0) [MQTT-3.2.2-3]."""
    b = broker()
    c = subscribed(raw, b.port, "s0", None)
    c.close()
    time.sleep(0.3)
    assert resume(raw, b.port, "s0").connack.session_present is False


def test_session_kept_until_expiry(broker, raw):
    """Session Expiry Interval 2: the session (subscription and queued messages) is stored after
    the connection closes [MQTT-3.1.2-23] and resumed with Clean Start 0 [MQTT-3.1.2-5]; once
    the interval has passed it is discarded [MQTT-4.1.0-2]."""
    b = broker()
    c = subscribed(raw, b.port, "s2", 2)
    c.close()
    p = connect5(raw, b.port, "pub")
    p.publish("se/a", b"queued", qos=1)
    c = resume(raw, b.port, "s2", 2)
    assert c.connack.session_present is True
    assert c.recv_publish().payload == b"queued"
    c.close()
    time.sleep(3.2)
    c = resume(raw, b.port, "s2", 2)
    assert c.connack.session_present is False
    p.publish("se/a", b"after expiry", qos=1, mid=2)
    c.expect_nothing(0.5)


def test_session_expiry_max_never_expires(broker, raw):
    """Session Expiry Interval 0xFFFFFFFF: the session does not expire (section 3.1.2.11.2)."""
    b = broker()
    c = subscribed(raw, b.port, "forever", 0xFFFFFFFF)
    c.close()
    time.sleep(1.5)
    c = resume(raw, b.port, "forever")
    assert c.connack.session_present is True


def test_clean_start_discards_session(broker, raw):
    """Clean Start 1 discards an existing session [MQTT-3.1.2-4], Session Present 0
    [MQTT-3.2.2-2]: its subscriptions and queued messages are gone."""
    b = broker()
    c = subscribed(raw, b.port, "cs", 60)
    c.close()
    p = connect5(raw, b.port, "pub")
    p.publish("se/a", b"queued", qos=1)
    c = connect5(raw, b.port, "cs", clean=True, props=[(SEI, 60)])
    assert c.connack.session_present is False
    p.publish("se/a", b"new", qos=1, mid=2)
    c.expect_nothing(0.5)


def test_clean_start_0_without_session(broker, raw):
    """Clean Start 0 and no stored session: a new one is created [MQTT-3.1.2-6], Session Present 0
    [MQTT-3.2.2-3]."""
    b = broker()
    assert resume(raw, b.port, "fresh").connack.session_present is False


def test_session_expiry_set_to_0_at_disconnect(broker, raw):
    """CONNECT with 60, DISCONNECT with Session Expiry Interval 0: the session ends at once."""
    b = broker()
    c = subscribed(raw, b.port, "sd", 60)
    c.disconnect(0, [(SEI, 0)])
    time.sleep(0.3)
    assert resume(raw, b.port, "sd").connack.session_present is False


def test_session_expiry_shortened_at_disconnect(broker, raw):
    """CONNECT with 60, DISCONNECT with 1: the session ends about 1 s later."""
    b = broker()
    c = subscribed(raw, b.port, "sd", 60)
    c.disconnect(0, [(SEI, 1)])
    time.sleep(2.5)
    assert resume(raw, b.port, "sd").connack.session_present is False


def test_session_expiry_lengthened_at_disconnect(broker, raw):
    """CONNECT with 1, DISCONNECT with 60: the session outlives the first interval."""
    b = broker()
    c = subscribed(raw, b.port, "sd", 1)
    c.disconnect(0, [(SEI, 60)])
    time.sleep(2.2)
    assert resume(raw, b.port, "sd").connack.session_present is True


def test_disconnect_expiry_after_zero_is_protocol_error(broker, raw):
    """CONNECT with Session Expiry 0 then DISCONNECT with a non-zero one is a Protocol Error
    (section 3.14.2.2.2): the broker sends DISCONNECT 0x82, without a Session Expiry Interval of
    its own [MQTT-3.14.2-2], and closes; no session is kept."""
    b = broker()
    c = subscribed(raw, b.port, "bad", 0)
    c.send(m.disconnect(0, [(SEI, 60)]))
    expect_disconnect(c, m.PROTOCOL_ERROR)
    time.sleep(0.2)
    assert resume(raw, b.port, "bad").connack.session_present is False


# ---------------------------------------------------------------- wills

def watcher(raw, port, filt="will/#"):
    w = connect5(raw, port, "watcher")
    w.subscribe([(filt, 2)])
    return w


WILL_PROPS = [
    (m.PAYLOAD_FORMAT_INDICATOR, 1),
    (m.MESSAGE_EXPIRY_INTERVAL, 300),
    (m.CONTENT_TYPE, "application/json"),
    (m.RESPONSE_TOPIC, "will/reply"),
    (m.CORRELATION_DATA, b"\x01\x02"),
    (m.USER_PROPERTY, ("z", "last")),
    (m.USER_PROPERTY, ("a", "first")),
    (m.USER_PROPERTY, ("z", "last")),
]


def test_will_properties_delivered(broker, raw):
    """The Will Properties travel with the will: Payload Format Indicator, Content Type, Response
    Topic, Correlation Data, User Properties in order [MQTT-3.1.3-10]; the Message Expiry
    Interval no greater than set."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "dier", will=("will/props", b'{"gone": true}', 1, False),
                 will_props=WILL_PROPS)
    c.close()
    pk = w.recv_publish(3)
    assert (pk.topic, pk.payload, pk.qos) == ("will/props", b'{"gone": true}', 1)
    for pid in (m.PAYLOAD_FORMAT_INDICATOR, m.CONTENT_TYPE, m.RESPONSE_TOPIC, m.CORRELATION_DATA,
                m.USER_PROPERTY):
        assert pk.props_of(pid) == [v for i, v in WILL_PROPS if i == pid], pk
    assert 298 <= pk.prop(m.MESSAGE_EXPIRY_INTERVAL) <= 300
    assert not pk.has(m.WILL_DELAY_INTERVAL)


def test_will_delay_interval(broker, raw):
    """Will Delay Interval 2: the will is published about 2 s after an unclean close, not before
    (section 3.1.3.2.2, [MQTT-3.1.2-8])."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "late", props=[(SEI, 10)], will=("will/delay", b"x", 1, False),
                 will_props=[(m.WILL_DELAY_INTERVAL, 2)])
    c.close()
    t0 = time.monotonic()
    w.expect_nothing(1.3)
    pk = w.recv_publish(3)
    assert pk.payload == b"x"
    assert 1.3 <= time.monotonic() - t0 <= 3.5


def test_will_delay_cancelled_by_reconnect(broker, raw):
    """A new connection to the session before the Will Delay Interval has passed: the will is not
    sent [MQTT-3.1.3-9]."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "back", props=[(SEI, 10)], will=("will/delay", b"x", 1, False),
                 will_props=[(m.WILL_DELAY_INTERVAL, 2)])
    c.close()
    time.sleep(0.5)
    c2 = resume(raw, b.port, "back", 10)
    assert c2.connack.session_present is True
    w.expect_nothing(2.5)
    c2.disconnect()
    w.expect_nothing(0.5)


def test_will_sent_at_session_expiry_before_delay(broker, raw):
    """Session Expiry 1 and Will Delay 10: the will is sent when the session ends, about 1 s
    after the close [MQTT-3.1.2-8]."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "short", props=[(SEI, 1)], will=("will/sess", b"ended", 1, False),
                 will_props=[(m.WILL_DELAY_INTERVAL, 10)])
    c.close()
    t0 = time.monotonic()
    pk = w.recv_publish(4)
    assert pk.payload == b"ended" and time.monotonic() - t0 <= 3.0


# Mosquitto 2.0.11 waits the whole Will Delay Interval although the session (expiry 0) ended
# with the connection.
@midge_only
def test_will_delay_with_session_expiry_0(broker, raw):
    """Session Expiry 0 and Will Delay 5: the session ends with the connection, so the will is
    published at once [MQTT-3.1.2-8]."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "nosess", will=("will/now", b"now", 1, False),
                 will_props=[(m.WILL_DELAY_INTERVAL, 5)])
    c.close()
    assert w.recv_publish(1.5).payload == b"now"


def test_disconnect_with_will_message(broker, raw):
    """DISCONNECT with reason 0x04 (Disconnect with Will Message): the will is published
    (section 3.14.2.1)."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "asks", will=("will/asked", b"as requested", 1, False))
    c.disconnect(m.DISCONNECT_WITH_WILL)
    pk = w.recv_publish(3)
    assert (pk.topic, pk.payload) == ("will/asked", b"as requested")


def test_normal_disconnect_discards_will(broker, raw):
    """DISCONNECT 0x00: the will is discarded, not published [MQTT-3.14.4-3], [MQTT-3.1.2-10],
    also with a Will Delay Interval."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "polite", will=("will/polite", b"no", 1, False))
    c.disconnect(0, [])
    d = connect5(raw, b.port, "polite2", props=[(SEI, 5)], will=("will/polite", b"no", 1, False),
                 will_props=[(m.WILL_DELAY_INTERVAL, 1)])
    d.disconnect()
    w.expect_nothing(2.0)


# Mosquitto 2.0.11 discards the will on any client DISCONNECT but 0x04, although only 0x00 may
# delete it [MQTT-3.1.2-8].
@midge_only
@pytest.mark.parametrize("reason", [0x80, 0x83])
def test_disconnect_with_error_reason_publishes_will(broker, raw, reason):
    """A client DISCONNECT with a reason other than 0x00: the will is not deleted and is
    published [MQTT-3.1.2-8], [MQTT-3.14.4-3]."""
    b = broker()
    w = watcher(raw, b.port)
    c = connect5(raw, b.port, "failing", will=("will/err", b"error", 0, False))
    c.disconnect(reason)
    assert w.recv_publish(3).payload == b"error"


def test_will_on_takeover_v5(broker, raw):
    """Session takeover by a new connection with Clean Start 1: the old connection's will is
    published."""
    b = broker()
    w = watcher(raw, b.port)
    connect5(raw, b.port, "tk", will=("will/tk", b"taken", 1, False))
    connect5(raw, b.port, "tk")
    assert w.recv_publish(3).payload == b"taken"
    assert collect(w, 0.3) == []
