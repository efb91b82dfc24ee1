"""12 MQTT 5 flow control and size limits: the subscriber's Receive Maximum, the broker's Receive
Maximum, the client's Maximum Packet Size and the broker's max_packet_size."""
import pytest

import mqttraw as m
from v5util import assert_serving, collect, connect5, expect_disconnect, midge_only, publishes


def queued_subscriber(raw, port, receive_maximum, n, qos=1):
    """A subscriber with Receive Maximum R whose session holds n messages published while it was
    away; returns the reconnected subscriber (nothing read yet) and the payloads sent."""
    props = [(m.RECEIVE_MAXIMUM, receive_maximum), (m.SESSION_EXPIRY_INTERVAL, 60)]
    s = connect5(raw, port, "slow", props=props)
    s.subscribe([("fc/#", qos)])
    s.disconnect()
    p = connect5(raw, port, "pub")
    sent = [b"m%d" % i for i in range(n)]
    for i, pl in enumerate(sent):
        p.publish("fc/x", pl, qos=qos, mid=i + 1)
    return connect5(raw, port, "slow", clean=False, props=props), sent


def ack(s, pk):
    s.send(m.puback(pk.mid) if pk.qos == 1 else m.pubrec(pk.mid))


@pytest.mark.parametrize("qos", [1, 2])
def test_subscriber_receive_maximum(broker, raw, qos):
    """Receive Maximum 2 and 5 messages queued: exactly 2 arrive while none is acknowledged
    [MQTT-3.3.4-9]; other packets are not held back meanwhile [MQTT-3.3.4-10]; once they are
    acknowledged the rest arrive, in order."""
    b = broker()
    s, sent = queued_subscriber(raw, b.port, 2, 5, qos)
    first = collect(s, 0.8)
    assert [pk.payload for pk in first] == sent[:2], first
    assert s.is_open()                                              # PINGRESP not delayed
    assert s.subscribe([("other/#", 0)], mid=100) == [0]             # nor SUBACK
    got = [pk.payload for pk in first]
    batch = first
    while len(got) < 5:
        for pk in batch:
            s.pending.append(pk)
            s.recv_publish()           # PUBACK, or PUBREC/PUBREL/PUBCOMP
        batch = collect(s, 0.6)
        assert batch, "nothing more after acknowledging, got %r" % got
        got += [pk.payload for pk in batch]
    assert got == sent


# Mosquitto 2.0.11 refills the window two at a time: after one PUBACK (or PUBCOMP) with two
# messages in flight it sends two more, three unacknowledged against a Receive Maximum of 2, which
# [MQTT-3.3.4-9] forbids.
@midge_only
@pytest.mark.parametrize("qos", [1, 2])
def test_subscriber_receive_maximum_sliding_window(broker, raw, qos):
    """Receive Maximum 2: each completed acknowledgement (PUBACK, or PUBCOMP for QoS 2 - PUBREC
    alone frees nothing) lets exactly one more message through [MQTT-3.3.4-9], [MQTT-4.9.0-2]."""
    b = broker()
    s, sent = queued_subscriber(raw, b.port, 2, 5, qos)
    inflight = collect(s, 0.6)
    assert [pk.payload for pk in inflight] == sent[:2]
    got = [pk.payload for pk in inflight]
    while len(got) < 5:
        oldest = inflight.pop(0)
        if qos == 2:
            s.send(m.pubrec(oldest.mid))
            rel = s.expect(m.PUBREL)                   # PUBREC frees no slot
            assert rel.mid == oldest.mid
            s.expect_nothing(0.4)
            s.send(m.pubcomp(oldest.mid))
        else:
            s.send(m.puback(oldest.mid))
        more = collect(s, 0.5)
        assert len(more) == 1, more
        inflight += more
        got += [pk.payload for pk in more]
    assert got == sent


def test_subscriber_receive_maximum_live(broker, raw):
    """Receive Maximum 1 with live traffic: messages published while one is in flight wait and
    arrive in order [MQTT-3.3.4-9], [MQTT-4.6.0-6]."""
    b = broker()
    s = connect5(raw, b.port, "one", props=[(m.RECEIVE_MAXIMUM, 1)])
    s.subscribe([("fc/#", 1)])
    p = connect5(raw, b.port, "pub")
    for i in range(4):
        p.publish("fc/x", b"%d" % i, qos=1, mid=i + 1)
    got = []
    for _ in range(4):
        pkts = collect(s, 0.4)
        assert len(pkts) == 1, pkts
        got.append(pkts[0].payload)
        s.send(m.puback(pkts[0].mid))
    assert got == [b"0", b"1", b"2", b"3"]


def test_broker_receive_maximum_counts_completed_flows(broker, raw):
    """max_inflight_messages 2 (CONNACK Receive Maximum 2): a client that completes its QoS 2 flows
    can keep publishing; only unanswered flows count [MQTT-3.3.4-7]."""
    b = broker("max_inflight_messages 2")
    s = connect5(raw, b.port, "sub")
    s.subscribe([("rm/#", 2)])
    p = connect5(raw, b.port, "pub")
    assert p.connack.prop(m.RECEIVE_MAXIMUM) == 2
    for rnd in range(3):
        for i in (1, 2):
            p.send(m.publish("rm/x", b"%d-%d" % (rnd, i), qos=2, mid=i, props=[]))
        for i in (1, 2):
            assert p.wait_for(m.PUBREC, i).reason == 0
        for i in (1, 2):
            p.send(m.pubrel(i))
            assert p.wait_for(m.PUBCOMP, i).reason == 0
    assert len(publishes(s, 6)) == 6
    assert p.is_open()


# Mosquitto 2.0.11 answers the third QoS 2 PUBLISH with PUBREC 0x97 (Quota exceeded) and keeps
# the connection; the specification has the receiver disconnect with 0x93 (section 3.3.4).
@midge_only
def test_broker_receive_maximum_exceeded_disconnect_0x93(broker, raw):
    """max_inflight_messages 2: a client sending 3 QoS 2 PUBLISHes without PUBREL exceeds the
    Receive Maximum it was given [MQTT-3.3.4-7]: DISCONNECT 0x93 (Receive Maximum exceeded)."""
    b = broker("max_inflight_messages 2")
    p = connect5(raw, b.port, "greedy")
    for i in (1, 2, 3):
        p.send(m.publish("rm/x", b"x", qos=2, mid=i, props=[]))
    d = expect_disconnect(p, m.RECEIVE_MAXIMUM_EXCEEDED)
    assert d is not None
    assert_serving(raw, b.port)


def test_client_maximum_packet_size(broker, raw):
    """A message too large for a subscriber's Maximum Packet Size is not sent to it
    [MQTT-3.1.2-24] but dropped as if delivered [MQTT-3.1.2-25]: its later messages still flow;
    another subscriber without a limit gets everything."""
    b = broker()
    small = connect5(raw, b.port, "small", props=[(m.MAXIMUM_PACKET_SIZE, 60)])
    small.subscribe([("mp/#", 1)])
    big = connect5(raw, b.port, "big")
    big.subscribe([("mp/#", 1)])
    p = connect5(raw, b.port, "pub")
    p.publish("mp/a", b"x" * 100, qos=1, mid=1)
    p.publish("mp/a", b"tiny", qos=1, mid=2)
    p.publish("mp/a", b"y" * 100, qos=0)
    p.publish("mp/a", b"tiny2", qos=0)
    assert [pk.payload for pk in publishes(big, 4)] == [b"x" * 100, b"tiny", b"y" * 100, b"tiny2"]
    got = collect(small, 0.7)
    assert [pk.payload for pk in got] == [b"tiny", b"tiny2"], got
    for pk in got:
        assert len(pk.body) + 2 <= 60


def test_client_maximum_packet_size_counts_properties(broker, raw):
    """The limit is on the whole packet, properties included [MQTT-3.1.2-24]: a small payload
    with large User Properties is not sent to a client whose Maximum Packet Size it exceeds."""
    b = broker()
    small = connect5(raw, b.port, "small", props=[(m.MAXIMUM_PACKET_SIZE, 80)])
    small.subscribe([("mp/#", 0)])
    p = connect5(raw, b.port, "pub")
    p.publish("mp/a", b"x", props=m.user_props(("k" * 40, "v" * 40)))
    p.publish("mp/a", b"fits")
    got = collect(small, 0.7)
    assert [pk.payload for pk in got] == [b"fits"], got


def test_broker_max_packet_size_v5(broker, raw):
    """max_packet_size 100 (CONNACK Maximum Packet Size 100): a larger packet from an MQTT 5
    client gets DISCONNECT 0x95 (Packet too large) (section 3.2.2.3.6) and is not delivered."""
    b = broker("max_packet_size 100")
    s = connect5(raw, b.port, "sub")
    s.subscribe([("big/#", 0)])
    p = connect5(raw, b.port, "pub")
    assert p.connack.prop(m.MAXIMUM_PACKET_SIZE) == 100
    p.publish("big/ok", b"x" * 50)
    assert s.recv_publish().payload == b"x" * 50
    p.send(m.publish("big/no", b"x" * 200, props=[]))
    expect_disconnect(p, m.PACKET_TOO_LARGE)
    s.expect_nothing(0.5)


def test_broker_max_packet_size_v311(broker, raw):
    """max_packet_size: a 3.1.1 client's oversized packet closes its connection (no DISCONNECT in
    3.1.1); the broker keeps serving."""
    b = broker("max_packet_size 100")
    p = raw(b.port)
    p.connect("old")
    p.send(m.publish("big/no", b"x" * 200))
    assert p.expect_closed(3) == []
    assert_serving(raw, b.port)


# Mosquitto 2.0.11 resends every unacknowledged message at once on resume, past the new Receive
# Maximum, which [MQTT-3.3.4-9] forbids.
@midge_only
def test_resume_respects_new_receive_maximum(broker, raw):
    """A persistent session with 6 unacknowledged QoS 1 messages resumes on a connection whose
    Receive Maximum is 2: only 2 are resent at once, with DUP and their original packet ids
    [MQTT-4.4.0-1], [MQTT-3.3.4-9]; each PUBACK lets the next one through, still with its own id."""
    b = broker()
    s = connect5(raw, b.port, "resumer", clean=True, props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    s.subscribe([("rm/#", 1)])
    p = connect5(raw, b.port, "pub")
    sent = [b"m%d" % i for i in range(6)]
    for i, payload in enumerate(sent):
        p.publish("rm/t", payload, qos=1, mid=i + 1)
    first = [s.recv_publish(ack=False) for _ in range(6)]
    ids = {pk.payload: pk.mid for pk in first}
    s.close()
    s = connect5(raw, b.port, "resumer", clean=False,
                 props=[(m.SESSION_EXPIRY_INTERVAL, 60), (m.RECEIVE_MAXIMUM, 2)])
    assert s.connack.session_present
    got = collect(s, 0.6)
    assert [pk.payload for pk in got] == sent[:2], got
    assert all(pk.dup and pk.mid == ids[pk.payload] for pk in got), got
    seen = list(got)
    while len(seen) < 6:
        s.send(m.puback(seen[len(seen) - 2].mid if len(seen) >= 2 else seen[0].mid))
        more = collect(s, 0.5)
        assert len(more) == 1, more
        assert more[0].dup and more[0].mid == ids[more[0].payload], more
        seen += more
    assert [pk.payload for pk in seen] == sent
