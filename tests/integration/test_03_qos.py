"""03 QoS 0/1/2 in both directions: acknowledgement flows, packet ids, QoS downgrade/upgrade,
redelivery with DUP, exactly-once, inflight window and ordering."""
import pytest

import mqttraw as m


def connected(raw, port, cid, **kw):
    c = raw(port)
    c.connect(cid, **kw)
    return c


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_qos1_puback_bytes(broker, raw, proto):
    b = broker()
    c = connected(raw, b.port, "q1", proto=proto)
    c.send(m.publish("q/1", b"x", qos=1, mid=0x1234))
    ack = c.recv()
    assert ack.first == 0x40 and ack.body == b"\x12\x34"


@pytest.mark.parametrize("proto", [m.MQTT31, m.MQTT311])
def test_qos2_publisher_flow_bytes(broker, raw, proto):
    b = broker()
    c = connected(raw, b.port, "q2", proto=proto)
    c.send(m.publish("q/2", b"x", qos=2, mid=0xBEEF))
    rec = c.recv()
    assert rec.first == 0x50 and rec.body == b"\xbe\xef"
    c.send(m.pubrel(0xBEEF))
    comp = c.recv()
    assert comp.first == 0x70 and comp.body == b"\xbe\xef"


def test_qos0_publish_gets_no_ack(broker, raw):
    b = broker()
    c = connected(raw, b.port, "q0")
    c.send(m.publish("q/0", b"x", qos=0))
    c.expect_nothing(0.5)


def test_qos1_to_subscriber_has_packet_id(broker, raw):
    b = broker()
    s = connected(raw, b.port, "s")
    s.subscribe("t", qos=1)
    p = connected(raw, b.port, "p")
    p.publish("t", b"a", qos=1, mid=5)
    p.publish("t", b"b", qos=1, mid=6)
    p1 = s.recv_publish()
    p2 = s.recv_publish()
    assert (p1.qos, p1.payload, p2.qos, p2.payload) == (1, b"a", 1, b"b")
    assert p1.mid and p2.mid and p1.mid != p2.mid
    assert not p1.dup and not p1.retain


def test_qos2_to_subscriber_flow(broker, raw):
    b = broker()
    s = connected(raw, b.port, "s")
    s.subscribe("t", qos=2)
    p = connected(raw, b.port, "p")
    p.publish("t", b"exactly", qos=2, mid=9)
    pkt = s.expect(m.PUBLISH)
    assert pkt.qos == 2 and pkt.mid and pkt.payload == b"exactly"
    s.send(m.pubrec(pkt.mid))
    rel = s.expect(m.PUBREL)
    assert rel.first == 0x62 and rel.mid == pkt.mid
    s.send(m.pubcomp(pkt.mid))
    s.expect_nothing(0.5)


@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_outgoing_qos_is_minimum(broker, raw, pub_qos, sub_qos):
    b = broker()
    s = connected(raw, b.port, "s")
    assert s.subscribe("mq", qos=sub_qos) == [sub_qos]
    p = connected(raw, b.port, "p")
    p.publish("mq", b"m", qos=pub_qos, mid=3)
    pkt = s.recv_publish()
    assert pkt.payload == b"m" and pkt.qos == min(pub_qos, sub_qos)
    assert (pkt.mid is None) == (pkt.qos == 0)


def test_upgrade_outgoing_qos(broker, raw):
    b = broker("upgrade_outgoing_qos true")
    s = connected(raw, b.port, "s")
    assert s.subscribe([("up/2", 2), ("up/1", 1)]) == [2, 1]
    p = connected(raw, b.port, "p")
    p.publish("up/2", b"a", qos=0)
    p.publish("up/1", b"b", qos=0)
    p.publish("up/2", b"c", qos=1, mid=2)
    got = [s.recv_publish() for _ in range(3)]
    assert [(g.payload, g.qos) for g in got] == [(b"a", 2), (b"b", 1), (b"c", 2)]


def test_qos1_redelivered_with_dup_on_reconnect(broker, raw):
    b = broker()
    s = connected(raw, b.port, "dup-s", clean=False)
    s.subscribe("d/#", qos=1)
    p = connected(raw, b.port, "p")
    p.publish("d/1", b"first", qos=1, mid=1)
    p.publish("d/2", b"second", qos=1, mid=2)
    first = s.recv_publish(ack=False)
    second = s.recv_publish(ack=False)
    assert not first.dup and not second.dup
    s.close()  # no PUBACK, no DISCONNECT
    s2 = connected(raw, b.port, "dup-s", clean=False)
    r1 = s2.expect(m.PUBLISH)
    r2 = s2.expect(m.PUBLISH)
    assert (r1.payload, r1.mid, r1.dup, r1.qos) == (b"first", first.mid, True, 1)
    assert (r2.payload, r2.mid, r2.dup, r2.qos) == (b"second", second.mid, True, 1)
    s2.send(m.puback(r1.mid) + m.puback(r2.mid))
    s2.close()
    # acknowledged now: a third session sees nothing more
    s3 = connected(raw, b.port, "dup-s", clean=False)
    s3.expect_nothing(0.7)


def test_qos2_pubrel_resent_on_reconnect(broker, raw):
    b = broker()
    s = connected(raw, b.port, "q2r", clean=False)
    s.subscribe("r", qos=2)
    p = connected(raw, b.port, "p")
    p.publish("r", b"once", qos=2, mid=4)
    pkt = s.expect(m.PUBLISH)
    s.send(m.pubrec(pkt.mid))
    s.expect(m.PUBREL)
    s.close()  # disconnect before PUBCOMP
    s2 = connected(raw, b.port, "q2r", clean=False)
    rel = s2.expect(m.PUBREL)
    assert rel.mid == pkt.mid  # the message itself is not sent again
    s2.send(m.pubcomp(rel.mid))
    s2.expect_nothing(0.7)


def test_qos2_unreceived_publish_resent_with_dup(broker, raw):
    b = broker()
    s = connected(raw, b.port, "q2d", clean=False)
    s.subscribe("r", qos=2)
    p = connected(raw, b.port, "p")
    p.publish("r", b"again", qos=2, mid=4)
    pkt = s.expect(m.PUBLISH)
    s.close()  # neither PUBREC nor DISCONNECT
    s2 = connected(raw, b.port, "q2d", clean=False)
    again = s2.expect(m.PUBLISH)
    assert (again.payload, again.mid, again.dup, again.qos) == (b"again", pkt.mid, True, 2)
    s2.send(m.pubrec(again.mid))
    assert s2.expect(m.PUBREL).mid == again.mid
    s2.send(m.pubcomp(again.mid))


def test_qos2_duplicate_publish_delivered_once(broker, raw):
    b = broker()
    s = connected(raw, b.port, "s")
    s.subscribe("x2", qos=2)
    p = connected(raw, b.port, "p")
    p.send(m.publish("x2", b"only-once", qos=2, mid=21))
    assert p.expect(m.PUBREC).mid == 21
    # the publisher did not see the PUBREC (as far as it knows) and resends with DUP
    p.send(m.publish("x2", b"only-once", qos=2, mid=21, dup=True))
    assert p.expect(m.PUBREC).mid == 21
    p.send(m.pubrel(21))
    assert p.expect(m.PUBCOMP).mid == 21
    got = s.recv_publish()
    assert got.payload == b"only-once"
    s.expect_nothing(0.7)


def test_qos2_exactly_once_across_publisher_reconnect(broker, raw):
    b = broker()
    s = connected(raw, b.port, "s")
    s.subscribe("x2", qos=2)
    p = connected(raw, b.port, "p2", clean=False)
    p.send(m.publish("x2", b"survives", qos=2, mid=8))
    p.expect(m.PUBREC)
    p.close()
    p2 = connected(raw, b.port, "p2", clean=False)
    p2.send(m.publish("x2", b"survives", qos=2, mid=8, dup=True))
    assert p2.expect(m.PUBREC).mid == 8
    p2.send(m.pubrel(8))
    assert p2.expect(m.PUBCOMP).mid == 8
    assert s.recv_publish().payload == b"survives"
    s.expect_nothing(0.7)


def test_pubrel_unknown_id_gets_pubcomp(broker, raw):
    b = broker()
    c = connected(raw, b.port, "c")
    c.send(m.pubrel(999))
    comp = c.expect(m.PUBCOMP)
    assert comp.mid == 999
    assert c.is_open()


def test_puback_unknown_id_ignored(broker, raw):
    b = broker()
    c = connected(raw, b.port, "c")
    c.send(m.puback(4242))
    assert c.is_open()


def test_inflight_window(broker, raw):
    b = broker("max_inflight_messages 2")
    s = connected(raw, b.port, "slow")
    s.subscribe("w", qos=1)
    p = connected(raw, b.port, "p")
    for i in range(6):
        p.publish("w", b"m%d" % i, qos=1, mid=i + 1)
    a = s.recv_publish(ack=False)
    c = s.recv_publish(ack=False)
    assert (a.payload, c.payload) == (b"m0", b"m1")
    s.expect_nothing(0.7)  # window full
    s.send(m.puback(a.mid) + m.puback(c.mid))
    rest = [s.recv_publish(ack=True).payload for _ in range(4)]
    assert rest == [b"m2", b"m3", b"m4", b"m5"]
    s.expect_nothing(0.5)


# Mosquitto 2.0.11 opens the window by two for every PUBACK (its send quota is incremented twice,
# cf. eclipse-mosquitto/mosquitto#2301), so after one ack it sends two more; Midge keeps the
# window at exactly max_inflight_messages.
@pytest.mark.midge_only
def test_inflight_window_slides_by_one(broker, raw):
    b = broker("max_inflight_messages 2")
    s = connected(raw, b.port, "slow")
    s.subscribe("w", qos=1)
    p = connected(raw, b.port, "p")
    for i in range(6):
        p.publish("w", b"m%d" % i, qos=1, mid=i + 1)
    a = s.recv_publish(ack=False)
    c = s.recv_publish(ack=False)
    s.expect_nothing(0.5)
    s.send(m.puback(a.mid))
    d = s.recv_publish(ack=False)
    assert d.payload == b"m2"
    s.expect_nothing(0.5)
    s.send(m.puback(c.mid))
    e = s.recv_publish(ack=False)
    assert e.payload == b"m3"
    s.expect_nothing(0.5)
    s.send(m.puback(d.mid) + m.puback(e.mid))
    assert [s.recv_publish().payload for _ in range(2)] == [b"m4", b"m5"]


def test_inflight_window_qos2(broker, raw):
    b = broker("max_inflight_messages 1")
    s = connected(raw, b.port, "slow2")
    s.subscribe("w", qos=2)
    p = connected(raw, b.port, "p")
    for i in range(3):
        p.publish("w", b"m%d" % i, qos=2, mid=i + 1)
    first = s.expect(m.PUBLISH)
    s.expect_nothing(0.5)
    s.send(m.pubrec(first.mid))
    s.expect(m.PUBREL)
    s.send(m.pubcomp(first.mid))
    nxt = [s.recv_publish().payload for _ in range(2)]
    assert [first.payload] + nxt == [b"m0", b"m1", b"m2"]


def test_qos1_order_preserved(broker, raw):
    b = broker()
    s = connected(raw, b.port, "s")
    s.subscribe("ord", qos=1)
    p = connected(raw, b.port, "p")
    n = 200
    p.send(b"".join(m.publish("ord", b"%d" % i, qos=1, mid=i + 1) for i in range(n)))
    acks = [p.expect(m.PUBACK).mid for _ in range(n)]
    assert acks == list(range(1, n + 1))
    got = [int(s.recv_publish().payload) for _ in range(n)]
    assert got == list(range(n))


def test_packet_ids_unique_in_flight(broker, raw):
    b = broker()
    s = connected(raw, b.port, "s")
    s.subscribe("ids", qos=2)
    p = connected(raw, b.port, "p")
    for i in range(10):
        p.publish("ids", b"%d" % i, qos=1, mid=i + 1)
    pkts = [s.recv_publish(ack=False) for _ in range(10)]
    mids = [x.mid for x in pkts]
    assert len(set(mids)) == 10 and all(1 <= x <= 65535 for x in mids)
    for x in pkts:
        s.send(m.puback(x.mid))
    s.expect_nothing(0.5)  # all acknowledged: nothing is resent


@pytest.mark.parametrize("proto", [3, 4])
def test_paho_qos2_roundtrip(broker, paho, proto):
    b = broker()
    sub = paho(b.port, client_id="ps", protocol=proto)
    assert sub.subscribe("pq/#", 2) == [2]
    pub = paho(b.port, client_id="pp", protocol=proto)
    for q in (0, 1, 2):
        pub.publish("pq/%d" % q, b"payload-%d" % q, qos=q)
    msgs = sub.get_n(3)
    assert sorted((x.topic, x.payload, x.qos) for x in msgs) == [
        ("pq/0", b"payload-0", 0), ("pq/1", b"payload-1", 1), ("pq/2", b"payload-2", 2)]
