"""06 Sessions: clean session 0 keeps subscriptions and queues QoS 1/2 messages while offline,
session present flag, queue_qos0_messages, max_queued_messages, persistent_client_expiration,
clean session 1 discards."""
import socket
import time

import pytest

import mqttraw as m


def connected(raw, port, cid, **kw):
    c = raw(port)
    ack = c.connect(cid, **kw)
    c.ack = ack
    return c


def offline_subscriber(raw, port, cid, filt, qos, proto=m.MQTT311):
    s = connected(raw, port, cid, clean=False, proto=proto)
    assert s.ack.session_present is False
    s.subscribe(filt, qos=qos)
    s.send(m.disconnect())
    s.expect_closed(3)  # the broker has processed the DISCONNECT: the client is offline now
    return s


def drain(c, timeout=0.7):
    """Publishes received (acknowledged) until none arrives for `timeout`."""
    out = []
    while True:
        try:
            out.append(c.recv_publish(timeout))
        except socket.timeout:
            return out


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_offline_messages_queued_in_order(broker, raw, proto):
    b = broker()
    offline_subscriber(raw, b.port, "sess", "s/#", 2, proto)
    p = connected(raw, b.port, "p")
    for i in range(10):
        p.publish("s/%d" % i, b"msg%d" % i, qos=1 + i % 2, mid=i + 1)
    s = connected(raw, b.port, "sess", clean=False, proto=proto)
    if proto == m.MQTT311:
        assert s.ack.session_present is True
    got = [s.recv_publish() for _ in range(10)]
    assert [g.payload for g in got] == [b"msg%d" % i for i in range(10)]
    assert [g.qos for g in got] == [1 + i % 2 for i in range(10)]
    assert s.is_open()


def test_session_present_flag(broker, raw):
    b = broker()
    c = connected(raw, b.port, "sp", clean=False)
    assert c.ack.session_present is False  # first time: no session
    c.disconnect()
    c = connected(raw, b.port, "sp", clean=False)
    assert c.ack.session_present is True
    c.disconnect()
    c = connected(raw, b.port, "sp", clean=True)
    assert c.ack.session_present is False  # 3.1.1 section 3.2.2.2: clean session -> 0
    c.disconnect()
    c = connected(raw, b.port, "sp", clean=False)
    assert c.ack.session_present is False  # the clean session discarded the old one


def test_subscriptions_survive_reconnect(broker, raw):
    b = broker()
    offline_subscriber(raw, b.port, "keep", "k/+", 1)
    s = connected(raw, b.port, "keep", clean=False)
    p = connected(raw, b.port, "p")
    p.publish("k/1", b"live", qos=1)
    pkt = s.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.qos) == ("k/1", b"live", 1)


def test_socket_drop_keeps_session(broker, raw):
    b = broker()
    s = connected(raw, b.port, "drop", clean=False)
    s.subscribe("d", qos=1)
    s.close()  # no DISCONNECT
    p = connected(raw, b.port, "p")
    # the broker may not have noticed the close yet; a QoS 1 publish is queued either way
    p.publish("d", b"queued", qos=1)
    s = connected(raw, b.port, "drop", clean=False)
    assert s.ack.session_present is True
    assert s.recv_publish().payload == b"queued"


def test_clean_session_discards_subscriptions(broker, raw):
    b = broker()
    offline_subscriber(raw, b.port, "cs", "c/#", 1)
    p = connected(raw, b.port, "p")
    p.publish("c/1", b"queued", qos=1)
    s = connected(raw, b.port, "cs", clean=True)
    assert s.ack.session_present is False
    p.publish("c/2", b"after", qos=1, mid=2)
    s.expect_nothing(0.7)  # neither the queued message nor new ones: subscriptions are gone


def test_clean_session_not_kept_after_disconnect(broker, raw):
    b = broker()
    s = connected(raw, b.port, "cs1", clean=True)
    s.subscribe("c1", qos=1)
    s.disconnect()
    p = connected(raw, b.port, "p")
    p.publish("c1", b"lost", qos=1)
    s = connected(raw, b.port, "cs1", clean=False)
    assert s.ack.session_present is False
    s.expect_nothing(0.7)


def test_qos0_not_queued_offline(broker, raw):
    b = broker()
    offline_subscriber(raw, b.port, "q0", "z/#", 1)
    p = connected(raw, b.port, "p")
    p.publish("z/0", b"zero", qos=0)
    p.publish("z/1", b"one", qos=1, mid=2)
    s = connected(raw, b.port, "q0", clean=False)
    got = drain(s)
    assert [g.payload for g in got] == [b"one"]


def test_qos0_subscription_not_queued_offline(broker, raw):
    # a QoS 1 publish to a QoS 0 subscription is delivered at QoS 0, so it is not queued either
    b = broker()
    offline_subscriber(raw, b.port, "q0s", "z/#", 0)
    p = connected(raw, b.port, "p")
    p.publish("z/1", b"one", qos=1)
    s = connected(raw, b.port, "q0s", clean=False)
    assert drain(s) == []


def test_queue_qos0_messages(broker, raw):
    b = broker("queue_qos0_messages true")
    offline_subscriber(raw, b.port, "q0q", "z/#", 1)
    p = connected(raw, b.port, "p")
    p.publish("z/a", b"zero-a", qos=0)
    p.publish("z/b", b"one", qos=1, mid=2)
    p.publish("z/c", b"zero-c", qos=0)
    s = connected(raw, b.port, "q0q", clean=False)
    got = drain(s)
    assert [(g.payload, g.qos) for g in got] == [(b"zero-a", 0), (b"one", 1), (b"zero-c", 0)]


def test_max_queued_messages(broker, raw):
    b = broker("max_queued_messages 3")
    offline_subscriber(raw, b.port, "mq", "q/#", 1)
    p = connected(raw, b.port, "p")
    for i in range(8):
        p.publish("q/%d" % i, b"%d" % i, qos=1, mid=i + 1)
    s = connected(raw, b.port, "mq", clean=False)
    got = drain(s)
    assert [g.payload for g in got] == [b"0", b"1", b"2"]  # the first 3 kept, later ones dropped


def test_queue_resumes_after_drain(broker, raw):
    b = broker("max_queued_messages 3")
    offline_subscriber(raw, b.port, "mq2", "q/#", 1)
    p = connected(raw, b.port, "p")
    for i in range(5):
        p.publish("q/%d" % i, b"%d" % i, qos=1, mid=i + 1)
    s = connected(raw, b.port, "mq2", clean=False)
    assert len(drain(s)) == 3
    s.disconnect()
    for i in range(2):
        p.publish("q/x", b"again%d" % i, qos=1, mid=10 + i)
    s = connected(raw, b.port, "mq2", clean=False)
    assert [g.payload for g in drain(s)] == [b"again0", b"again1"]


def test_persistent_client_expiration_long_keeps_session(broker, raw):
    b = broker("persistent_client_expiration 1h")
    offline_subscriber(raw, b.port, "exp-long", "e", 1)
    p = connected(raw, b.port, "p")
    p.publish("e", b"kept", qos=1)
    s = connected(raw, b.port, "exp-long", clean=False)
    assert s.ack.session_present is True
    assert s.recv_publish().payload == b"kept"


# Mosquitto only accepts h/d/w/m/y units for persistent_client_expiration ("2s" is a config error);
# Midge also accepts seconds, which lets the expiry be tested quickly.
@pytest.mark.midge_only
def test_persistent_client_expiration_seconds(broker, raw):
    b = broker("persistent_client_expiration 2s")
    offline_subscriber(raw, b.port, "exp", "e", 1)
    time.sleep(3.5)  # the expiry itself is what is being tested: the session must age past 2 s
    p = connected(raw, b.port, "p")
    p.publish("e", b"after expiry", qos=1)
    s = connected(raw, b.port, "exp", clean=False)
    assert s.ack.session_present is False
    s.expect_nothing(0.7)


@pytest.mark.midge_only
def test_persistent_client_expiration_not_before(broker, raw):
    b = broker("persistent_client_expiration 5s")
    offline_subscriber(raw, b.port, "exp2", "e", 1)
    p = connected(raw, b.port, "p")
    p.publish("e", b"in time", qos=1)
    s = connected(raw, b.port, "exp2", clean=False)
    assert s.ack.session_present is True
    assert s.recv_publish().payload == b"in time"


def test_persistent_session_paho(broker, paho):
    b = broker()
    s = paho(b.port, client_id="paho-sess", clean_session=False)
    assert s.connack == (0, 0)
    s.subscribe("ps/#", 2)
    s.close()
    p = paho(b.port, client_id="paho-pub")
    for i in range(5):
        p.publish("ps/%d" % i, b"m%d" % i, qos=2)
    s = paho(b.port, client_id="paho-sess", clean_session=False)
    assert s.connack == (1, 0)
    assert [x.payload for x in s.get_n(5)] == [b"m%d" % i for i in range(5)]


def test_many_subscriptions_in_one_session(broker, raw):
    """3,000 filters in one session (indexed by the broker past a few): re-subscribing changes the QoS without a
    second subscription, unsubscribing removes exactly those, and a persistent session brings the rest back."""
    b = broker()
    s = raw(b.port)
    s.connect("many-subs", clean=False)
    n = 3000
    for first in range(0, n, 500):
        s.send(m.subscribe(1 + first // 500, [("f/%d/+" % i, 0) for i in range(first, first + 500)]))
        ack = s.expect(m.SUBACK)
        assert ack.body[2:] == bytes(500)
    s.subscribe([("f/%d/+" % i, 1) for i in range(0, 100)], mid=20)  # QoS 1 now, still one subscription each
    s.send(m.unsubscribe(21, ["f/%d/+" % i for i in range(1000, 3000)]))
    s.expect(m.UNSUBACK)
    p = raw(b.port)
    p.connect("p")
    for i in (5, 500, 999, 1000, 2999):
        p.publish("f/%d/x" % i, b"%d" % i, qos=1, mid=1 + i)
    got = [(pkt.topic, pkt.qos) for pkt in (s.recv_publish() for _ in range(3))]
    assert got == [("f/5/x", 1), ("f/500/x", 0), ("f/999/x", 0)]
    s.expect_nothing(0.5)
    s.close()
    s = raw(b.port)
    ack = s.connect("many-subs", clean=False)
    for i in (7, 998, 1500):
        p.publish("f/%d/y" % i, b"%d" % i, qos=1, mid=2 + i)
    got = [(pkt.topic, pkt.qos) for pkt in (s.recv_publish() for _ in range(2))]
    assert got == [("f/7/y", 1), ("f/998/y", 0)]
    s.expect_nothing(0.5)
