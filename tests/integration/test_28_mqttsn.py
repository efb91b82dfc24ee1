"""28 MQTT-SN gateway: `protocol mqttsn` on UDP, end to end with MQTT clients (mosquitto_pub/sub, paho) on the other
side, spoken to by hand-made datagrams (snraw.py, written from the MQTT-SN 1.2 specification)."""
import os
import socket
import time

import pytest

from netutil import free_udp_port, udp_bound
from snraw import (ACCEPTED, CONGESTION, CONNACK, DISCONNECT, GWINFO, INVALID_TOPIC_ID, NORMAL, NOT_SUPPORTED,
                   PINGRESP, PREDEFINED, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, REGACK, REGISTER, SHORT, SUBACK,
                   UNSUBACK, WILLMSGRESP, WILLTOPICREQ, WILLTOPICRESP, ADVERTISE, SNClient, Msg, ack, connect,
                   disconnect, frame, pingreq, publish, puback, register, regack, short_id, subscribe, willtopic)
import snraw
from conftest import SANITIZE, rss_kb

pytestmark = pytest.mark.midge_only  # Mosquitto has no MQTT-SN gateway


class SN:
    """A broker with an MQTT-SN listener on a free UDP port (and its usual TCP one)."""

    def __init__(self, broker, tmp_path, conf="", predefined=None, sn_opts=""):
        self.port = free_udp_port()
        text = ""
        if predefined is not None:
            path = str(tmp_path / "predefined.txt")
            with open(path, "w") as f:
                f.write(predefined)
            sn_opts += "\nmqttsn_predefined_file %s" % path
        text += "%s\nlistener %d 127.0.0.1\nprotocol mqttsn\nmqttsn_retry_interval 1\n%s\n" % (conf, self.port, sn_opts)
        self.b = broker(text)
        deadline = time.monotonic() + 5
        while not udp_bound(self.port):
            assert time.monotonic() < deadline, "MQTT-SN port not bound"
            time.sleep(0.02)
        self.clients = []

    def client(self, **kw):
        c = SNClient(self.port, **kw)
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            c.close()


@pytest.fixture
def sn(broker, tmp_path):
    made = []

    def make(conf="", predefined=None, sn_opts=""):
        s = SN(broker, tmp_path, conf, predefined, sn_opts)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def wait_sys(paho, port, topic, pred, timeout=8.0):
    """Subscribes to a $SYS topic (sys_interval 1) until its value satisfies pred; returns it."""
    c = paho(port)  # connected by the fixture (a second connect() made paho drop the first connection)
    c.subscribe(topic)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            m = c.get(timeout=max(0.1, deadline - time.monotonic()))
        except AssertionError:
            break
        seen.append(m.payload)
        if pred(m.payload.decode()):
            c.close()
            return m.payload.decode()
    c.close()
    raise AssertionError("%s never satisfied the condition; saw %r" % (topic, seen[-5:]))


# ---------------------------------------------------------------- connect, publish, subscribe

def test_connect_register_publish_reaches_mqtt_subscriber(sn, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "sn/#", 3, qos=2)
    c = s.client()
    assert c.connect("sensor-1") == ACCEPTED
    r = c.register("sn/temp")
    assert r.rc == ACCEPTED and r.topic_id != 0
    assert c.register("sn/temp").topic_id == r.topic_id  # one id per name
    c.publish(r.topic_id, b"q0", qos=0)
    assert c.publish(r.topic_id, b"q1", qos=1).rc == ACCEPTED
    assert c.publish(r.topic_id, b"q2", qos=2).msg_id  # PUBREC, PUBREL, PUBCOMP
    rc, msgs = sub.wait()
    assert rc == 0
    assert [(m[0], m[1], m[4]) for m in msgs] == [("sn/temp", 0, b"q0"), ("sn/temp", 1, b"q1"),
                                                  ("sn/temp", 2, b"q2")]
    assert "New client connected from 127.0.0.1" in s.b.log() and "as sensor-1" in s.b.log()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqtt_publish_reaches_sn_subscriber(sn, paho, qos):
    s = sn()
    c = s.client()
    assert c.connect("sub-%d" % qos) == ACCEPTED
    sa = c.subscribe("room/light", qos=qos)
    assert sa.rc == ACCEPTED and sa.qos == qos and sa.topic_id != 0  # a plain name gets its id in SUBACK
    p = paho(s.b.port)
    p.publish("room/light", b"on", qos=qos)
    name, payload, m = c.receive()
    assert (name, payload, m.qos, m.topic_type, m.topic_id) == ("room/light", b"on", qos, NORMAL, sa.topic_id)
    if qos:
        assert m.msg_id != 0
    c.quiet(0.3)  # exactly once


def test_wildcard_subscription_gets_register_before_publish(sn, paho):
    s = sn()
    c = s.client()
    c.connect("wild")
    sa = c.subscribe("house/+/temp", qos=1)
    assert sa.rc == ACCEPTED and sa.topic_id == 0  # wildcards: no id in SUBACK
    p = paho(s.b.port)
    p.publish("house/kitchen/temp", b"21", qos=1)
    reg = c.expect(REGISTER)
    assert reg.topic == "house/kitchen/temp" and reg.topic_id != 0
    c.quiet(0.3)  # the PUBLISH waits for REGACK
    c.send(regack(reg.topic_id, reg.msg_id))
    m = c.expect(PUBLISH)
    assert (m.topic_id, m.payload, m.qos) == (reg.topic_id, b"21", 1)
    c.send(puback(m.topic_id, m.msg_id))
    # The same topic again: the id is known, no second REGISTER.
    p.publish("house/kitchen/temp", b"22", qos=0)
    m = c.expect(PUBLISH)
    assert (m.topic_id, m.payload) == (reg.topic_id, b"22")
    # Another topic: another REGISTER with another id.
    p.publish("house/hall/temp", b"19", qos=0)
    name, payload, m = c.receive()
    assert (name, payload) == ("house/hall/temp", b"19") and m.topic_id != reg.topic_id


def test_register_refused_by_client_drops_that_message_only(sn, paho):
    s = sn()
    c = s.client()
    c.connect("refuser")
    c.subscribe("r/#", qos=1)
    p = paho(s.b.port)
    p.publish("r/a", b"1", qos=1)
    p.publish("r/b", b"2", qos=1)
    reg = c.expect(REGISTER)
    assert reg.topic == "r/a"
    c.send(regack(reg.topic_id, reg.msg_id, rc=CONGESTION))
    name, payload, m = c.receive()
    assert (name, payload) == ("r/b", b"2")  # the next one still comes
    c.quiet(1.5)  # and the refused one is not resent (Tretry is 1 s)


def test_register_refused_for_qos2_completes_the_broker_side(sn, paho):
    s = sn()
    c = s.client()
    c.connect("refuser2")
    c.subscribe("q2r/#", qos=2)
    p = paho(s.b.port)
    p.publish("q2r/a", b"1", qos=2)
    reg = c.expect(REGISTER)
    c.send(regack(reg.topic_id, reg.msg_id, rc=NOT_SUPPORTED))
    c.quiet(1.5)  # no PUBLISH, and no PUBREL for a message the client never had
    # The broker's exchange ended (its window is free): the next message comes, over the whole QoS 2 flow.
    p.publish("q2r/b", b"2", qos=2)
    name, payload, m = c.receive()
    assert (name, payload, m.qos) == ("q2r/b", b"2", 2)
    c.quiet(1.5)


def test_puback_refusals_from_the_client(sn, paho):
    s = sn()
    c = s.client()
    c.connect("picky")
    c.subscribe("pk/t", qos=1)
    p = paho(s.b.port)
    p.publish("pk/t", b"one", qos=1)
    m = c.expect(PUBLISH)  # (its REGISTER answered on the way)
    # "Invalid topic id": the gateway registers the topic again, then sends the message again.
    c.send(puback(m.topic_id, m.msg_id, rc=INVALID_TOPIC_ID))
    reg = c.expect(REGISTER)
    assert reg.topic == "pk/t"
    c.send(regack(reg.topic_id, reg.msg_id))
    again = c.expect(PUBLISH)
    assert (again.msg_id, again.payload, again.topic_id) == (m.msg_id, b"one", reg.topic_id)
    # "Congestion": sent again after Tretry.
    c.send(puback(again.topic_id, again.msg_id, rc=CONGESTION))
    third = c.expect(PUBLISH, timeout=5)
    assert (third.msg_id, third.payload, third.dup) == (m.msg_id, b"one", True)
    c.send(puback(third.topic_id, third.msg_id))
    c.quiet(1.5)


def test_predefined_topics_both_ways(sn, paho, mosq_sub):
    s = sn(predefined="# id topic\n1 sensors/temp\n7 sensors/room 2/humidity\n")
    sub = mosq_sub(s.b.port, "sensors/#", 1, qos=1)
    c = s.client()
    c.connect("pre")
    assert c.publish(7, b"55", qos=1, topic_type=PREDEFINED).rc == ACCEPTED
    rc, msgs = sub.wait()
    assert msgs[0][0] == "sensors/room 2/humidity" and msgs[0][4] == b"55"
    sa = c.subscribe(1, qos=1, topic_type=PREDEFINED)
    assert sa.rc == ACCEPTED and sa.topic_id == 1
    p = paho(s.b.port)
    p.publish("sensors/temp", b"20.5", qos=1)
    m = c.expect(PUBLISH)
    assert (m.topic_type, m.topic_id, m.payload) == (PREDEFINED, 1, b"20.5")
    c.send(puback(1, m.msg_id))
    # An id the file does not have: refused, in PUBACK and SUBACK.
    assert c.publish(99, b"x", qos=1, topic_type=PREDEFINED).rc == INVALID_TOPIC_ID
    assert c.subscribe(99, qos=1, topic_type=PREDEFINED).rc == INVALID_TOPIC_ID


def test_short_topics_both_ways(sn, paho, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "ab", 1, qos=1)
    c = s.client()
    c.connect("short")
    assert c.publish(short_id("ab"), b"short!", qos=1, topic_type=SHORT).rc == ACCEPTED
    assert sub.wait()[1][0][0::4] == ("ab", b"short!")
    sa = c.subscribe("xy", qos=0, topic_type=SHORT)
    assert sa.rc == ACCEPTED and sa.topic_id == 0
    p = paho(s.b.port)
    p.publish("xy", b"2ch")
    m = c.expect(PUBLISH)
    assert (m.topic_type, m.topic_id, m.payload) == (SHORT, short_id("xy"), b"2ch")
    # A wildcard subscription matching a two-character topic gets it as a short name too (no REGISTER).
    c.subscribe("+", qos=0)
    p.publish("zz", b"z")
    m = c.expect(PUBLISH)
    assert (m.topic_type, m.topic_id) == (SHORT, short_id("zz"))


def test_qos_minus1_from_unconnected_sender(sn, mosq_sub):
    s = sn(predefined="3 field/rain\n")
    sub = mosq_sub(s.b.port, "field/rain", 1)
    sub2 = mosq_sub(s.b.port, "fr", 1)
    c = s.client()  # never connects
    c.send(publish(3, b"2mm", qos=-1, topic_type=PREDEFINED))
    c.send(publish(short_id("fr"), b"short -1", qos=-1, topic_type=SHORT))
    assert sub.wait()[1][0][4] == b"2mm"
    assert sub2.wait()[1][0][4] == b"short -1"
    c.quiet(0.3)  # QoS -1 is never answered
    # A normal topic id means nothing without a connection: dropped.
    c.send(publish(1, b"x", qos=-1, topic_type=NORMAL))
    c.quiet(0.3)


def test_invalid_topic_id_and_unsupported(sn):
    s = sn(conf="max_qos 1")
    c = s.client()
    c.connect("bad")
    assert c.publish(4242, b"x", qos=1).rc == INVALID_TOPIC_ID  # never registered
    r = c.register("ok/topic")
    mid = c.msg_id()
    c.send(publish(r.topic_id, b"x", qos=2, msg_id=mid))
    m = c.expect(PUBACK)
    assert (m.msg_id, m.rc) == (mid, NOT_SUPPORTED)  # above max_qos: refused, not disconnected
    assert c.register("bad/+/name").rc == NOT_SUPPORTED
    assert c.publish(r.topic_id, b"still connected", qos=1).rc == ACCEPTED


def test_retained_delivered_on_subscribe(sn, paho):
    s = sn()
    p = paho(s.b.port)
    p.publish("ret/a", b"kept", qos=1, retain=True)
    c = s.client()
    c.connect("ret")
    sa = c.subscribe("ret/a", qos=1)
    m = c.expect(PUBLISH)
    assert (m.topic_id, m.payload, m.retain) == (sa.topic_id, b"kept", True)
    c.send(puback(m.topic_id, m.msg_id))
    # And a retained message published from MQTT-SN is kept for MQTT subscribers.
    r = c.register("ret/b")
    c.publish(r.topic_id, b"from sn", qos=1, retain=True)
    q = paho(s.b.port)
    q.subscribe("ret/b")
    m = q.get()
    assert m.payload == b"from sn" and m.retain


def test_unsubscribe(sn, paho):
    s = sn()
    c = s.client()
    c.connect("unsub")
    c.subscribe("u/t", qos=0)
    mid = c.msg_id()
    c.send(snraw.unsubscribe("u/t", mid))
    assert c.expect(UNSUBACK).msg_id == mid
    p = paho(s.b.port)
    p.publish("u/t", b"gone", qos=1)
    c.quiet(0.5)


def test_qos2_from_sn_is_exactly_once(sn, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "once", 2, qos=2, wait=5)
    c = s.client()
    c.connect("q2")
    r = c.register("once")
    c.send(publish(r.topic_id, b"one", qos=2, msg_id=77))
    assert c.expect(PUBREC).msg_id == 77
    c.send(publish(r.topic_id, b"one", qos=2, msg_id=77, dup=True))  # our PUBREC "lost": sent again
    assert c.expect(PUBREC).msg_id == 77
    c.send(ack(PUBREL, 77))
    assert c.expect(PUBCOMP).msg_id == 77
    c.publish(r.topic_id, b"two", qos=0)
    rc, msgs = sub.wait()
    # Each exactly once; mosquitto_sub hands a QoS 2 message over only when its PUBREL comes, so the QoS 0 one
    # may be printed first.
    assert sorted(m[4] for m in msgs) == [b"one", b"two"]


def test_ping_and_disconnect(sn):
    s = sn()
    c = s.client()
    c.connect("pinger")
    c.send(pingreq())
    c.expect(PINGRESP)
    c.send(disconnect())
    assert c.expect(DISCONNECT).duration is None
    # Gone: anything but a CONNECT is told so.
    c.send(pingreq())
    c.expect(DISCONNECT)


def test_reconnect_from_same_address_keeps_persistent_session(sn, paho):
    s = sn()
    c = s.client()
    c.connect("persist", clean=False)
    c.subscribe("p/t", qos=1)
    c.send(disconnect())
    c.expect(DISCONNECT)
    p = paho(s.b.port)
    p.publish("p/t", b"while away", qos=1)
    assert c.connect("persist", clean=False) == ACCEPTED
    name, payload, m = c.receive()
    assert (name, payload) == ("p/t", b"while away")


def test_sn_clients_count_in_sys(sn, paho):
    s = sn(conf="sys_interval 1")
    c = s.client()
    c.connect("counted")
    wait_sys(paho, s.b.port, "$SYS/broker/mqttsn/%d/clients" % s.port, lambda v: v == "1")
    # The MQTT side's client count includes it (plus the $SYS reader itself).
    wait_sys(paho, s.b.port, "$SYS/broker/clients/connected", lambda v: int(v) >= 2)


# ---------------------------------------------------------------- will, keepalive, sleep, retries

def test_will_flow_and_will_on_keepalive_timeout(sn, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "wills/#", 1, qos=1)
    c = s.client()
    assert c.connect("dying", duration=1, will=("wills/dying", b"gone", 1, False)) == ACCEPTED
    # Silent past 1.5 x the duration: the will goes out.
    rc, msgs = sub.wait(timeout=15)
    assert msgs and msgs[0][0] == "wills/dying" and msgs[0][4] == b"gone" and msgs[0][1] == 1
    assert "exceeded timeout" in s.b.log()


def test_will_not_published_after_disconnect(sn, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "wills/#", 1, wait=3)
    c = s.client()
    c.connect("polite", duration=1, will=("wills/polite", b"x", 0, False))
    c.send(disconnect())
    c.expect(DISCONNECT)
    rc, msgs = sub.wait()
    assert msgs == []


def test_will_updates(sn, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "wills/#", 1, qos=1)
    c = s.client()
    c.connect("updater", duration=1, will=("wills/old", b"old", 0, False))
    c.send(frame(snraw.WILLTOPICUPD, bytes([snraw.flags(qos=1)]) + b"wills/new"))
    assert c.expect(WILLTOPICRESP).rc == ACCEPTED
    c.send(frame(snraw.WILLMSGUPD, b"new message"))
    assert c.expect(WILLMSGRESP).rc == ACCEPTED
    c.send(frame(snraw.WILLTOPICUPD, bytes([snraw.flags(qos=0)]) + b"bad/+"))
    assert c.expect(WILLTOPICRESP).rc == NOT_SUPPORTED
    rc, msgs = sub.wait(timeout=15)
    assert [(m[0], m[1], m[4]) for m in msgs] == [("wills/new", 1, b"new message")]


def test_will_removed_by_empty_willtopicupd(sn, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "wills/#", 1, wait=5)
    c = s.client()
    c.connect("nowill", duration=1, will=("wills/nowill", b"x", 0, False))
    c.send(frame(snraw.WILLTOPICUPD))
    assert c.expect(WILLTOPICRESP).rc == ACCEPTED
    c.send(frame(snraw.WILLMSGUPD, b"no topic to go with"))
    assert c.expect(WILLMSGRESP).rc == NOT_SUPPORTED
    rc, msgs = sub.wait()
    assert msgs == []


def test_sleeping_client_gets_what_was_published_while_asleep(sn, paho):
    s = sn()
    c = s.client()
    c.connect("sleeper", duration=30)
    sa = c.subscribe("s/#", qos=1)
    assert sa.rc == ACCEPTED
    c.send(disconnect(duration=10))
    m = c.expect(DISCONNECT)
    p = paho(s.b.port)
    for i in range(5):
        p.publish("s/%d" % (i % 2), b"m%d" % i, qos=1 if i % 2 else 0)
    c.quiet(0.5)  # asleep: nothing is sent
    c.send(pingreq("sleeper"))
    got = []
    while True:
        m = c.recv(3)
        assert m is not None, "no PINGRESP after %r" % got
        if m.type == PINGRESP:
            break
        if m.type == REGISTER:
            c.topics[m.topic_id] = m.topic
            c.send(regack(m.topic_id, m.msg_id))
            continue
        assert m.type == PUBLISH, m
        got.append((c.topics[m.topic_id], m.payload))
        if m.qos == 1:
            c.send(puback(m.topic_id, m.msg_id))
    assert got == [("s/%d" % (i % 2), b"m%d" % i) for i in range(5)]
    # Asleep again: published now waits for the next wake-up; a plain PINGREQ only says the client is alive.
    p.publish("s/0", b"later", qos=1)
    c.send(pingreq())
    c.expect(PINGRESP)
    c.quiet(0.5)
    c.send(pingreq("sleeper"))
    name, payload, m = c.receive()
    assert (name, payload) == ("s/0", b"later")
    c.expect(PINGRESP)


def test_oversleeping_client_is_lost_and_its_will_published(sn, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "wills/#", 1)
    c = s.client()
    c.connect("oversleeper", duration=60, will=("wills/oversleeper", b"lost", 0, False))
    c.send(disconnect(duration=1))
    c.expect(DISCONNECT)
    rc, msgs = sub.wait(timeout=15)
    assert msgs and msgs[0][4] == b"lost"


def test_sleeping_client_back_with_connect(sn, paho):
    s = sn()
    c = s.client()
    c.connect("napper", clean=False, will=("wills/napper", b"x", 0, False))
    c.subscribe("n/t", qos=1)
    c.send(disconnect(duration=20))
    c.expect(DISCONNECT)
    p = paho(s.b.port)
    p.subscribe("wills/#")
    p.publish("n/t", b"queued", qos=1)
    assert c.connect("napper", clean=False) == ACCEPTED  # awake for good, session kept
    name, payload, m = c.receive()
    assert (name, payload) == ("n/t", b"queued")
    p.expect_none(0.5)  # coming back is no reason for the will


def test_retransmission_when_client_drops_a_datagram(sn, paho):
    s = sn()
    c = s.client()
    c.connect("lossy")
    sa = c.subscribe("l/t", qos=1)
    p = paho(s.b.port)
    p.publish("l/t", b"again", qos=1)
    first = c.expect(PUBLISH)
    assert not first.dup
    # Ignore it: Tretry (1 s here) later it comes again with DUP set.
    t0 = time.monotonic()
    second = c.expect(PUBLISH, timeout=5)
    assert time.monotonic() - t0 >= 0.5
    assert second.dup and second.msg_id == first.msg_id and second.payload == b"again"
    c.send(puback(sa.topic_id, second.msg_id))
    c.quiet(1.5)  # answered: no more copies


def test_register_and_pubrel_are_retried(sn, paho):
    s = sn()
    c = s.client()
    c.connect("lossy2")
    c.subscribe("rr/#", qos=2)
    p = paho(s.b.port)
    p.publish("rr/x", b"2", qos=2)
    r1 = c.expect(REGISTER)
    r2 = c.expect(REGISTER, timeout=5)  # REGACK "lost"
    assert (r2.topic_id, r2.msg_id, r2.topic) == (r1.topic_id, r1.msg_id, "rr/x")
    c.send(regack(r2.topic_id, r2.msg_id))
    m = c.expect(PUBLISH)
    c.send(ack(PUBREC, m.msg_id))
    rel1 = c.expect(PUBREL)
    rel2 = c.expect(PUBREL, timeout=5)  # PUBCOMP "lost"
    assert rel1.msg_id == rel2.msg_id == m.msg_id
    c.send(ack(PUBCOMP, m.msg_id))
    c.quiet(1.5)


def test_client_lost_after_retries_will_published(sn, paho, mosq_sub):
    s = sn(sn_opts="mqttsn_retries 2")
    sub = mosq_sub(s.b.port, "wills/#", 1)
    c = s.client()
    c.connect("deaf", will=("wills/deaf", b"deaf", 0, False))
    c.subscribe("d/t", qos=1)
    p = paho(s.b.port)
    p.publish("d/t", b"hello?", qos=1)
    reg = c.expect(REGISTER)  # the first message to a client verifies its address
    c.send(regack(reg.topic_id, reg.msg_id))
    copies = 0
    while True:
        m = c.recv(4)
        if m is None or m.type != PUBLISH:
            break
        copies += 1
    assert copies == 3  # sent, then Nretry = 2 retries
    assert m is not None and m.type == DISCONNECT  # then the gateway gives up on it
    rc, msgs = sub.wait()
    assert msgs and msgs[0][4] == b"deaf"
    assert "lost: no PUBACK after 2 retries" in s.b.log()


# ---------------------------------------------------------------- gateway discovery, forwarders, IPv6

def test_searchgw_answered_with_gwinfo(sn):
    s = sn(sn_opts="mqttsn_gateway_id 42")
    c = s.client()
    c.send(frame(snraw.SEARCHGW, b"\x01"))
    m = c.expect(GWINFO)
    assert m.gw_id == 42 and len(m.raw) == 3


def test_advertise_sent_periodically(sn):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    try:
        s = sn(sn_opts="mqttsn_gateway_id 9\nmqttsn_advertise_interval 1\nmqttsn_advertise_address 127.0.0.1:%d"
               % listener.getsockname()[1])
        seen = []
        for _ in range(2):
            raw, addr = listener.recvfrom(100)
            m = Msg(raw)
            assert m.type == ADVERTISE and m.gw_id == 9 and m.duration == 1
            assert addr[1] == s.port  # from the gateway's own port
            seen.append(time.monotonic())
        assert seen[1] - seen[0] >= 0.5
    finally:
        listener.close()


def test_forwarder_encapsulation(sn, paho, mosq_sub):
    s = sn()
    sub = mosq_sub(s.b.port, "fwd/#", 1, qos=1)
    # Two wireless nodes behind one forwarder (one UDP address): two clients.
    a = s.client(node=b"\x00\x13\xa2\x00\x40\x0a\x0b\x0c")
    a.sock.close()
    b = s.client(node=b"\x00\x13\xa2\x00\x40\x0a\x0b\x0d")
    a.sock = b.sock  # the same source address for both
    assert a.connect("node-a") == ACCEPTED
    r = a.register("fwd/a")
    assert a.publish(r.topic_id, b"via forwarder", qos=1).rc == ACCEPTED
    assert sub.wait()[1][0][4] == b"via forwarder"
    assert b.connect("node-b") == ACCEPTED
    sb = b.subscribe("fwd/b", qos=1)
    p = paho(s.b.port)
    p.publish("fwd/b", b"to node b", qos=1)
    name, payload, m = b.receive()  # replies come back in an envelope with node b's id (checked in recv)
    assert (name, payload, m.topic_id) == ("fwd/b", b"to node b", sb.topic_id)
    assert "/0013a200400a0b0c" in s.b.log() or "node-a" in s.b.log()


def test_ipv6(broker, tmp_path, paho):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    port = free_udp_port()
    b = broker("listener %d ::1\nprotocol mqttsn\n" % port)
    deadline = time.monotonic() + 5
    while not udp_bound(port):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    c = SNClient(port, host="::1", family=socket.AF_INET6)
    try:
        assert c.connect("v6") == ACCEPTED
        c.subscribe("six", qos=1)
        p = paho(b.port)
        p.publish("six", b"over ipv6", qos=1)
        assert c.receive()[:2] == ("six", b"over ipv6")
    finally:
        c.close()


# ---------------------------------------------------------------- identity, ACLs, the store

def test_listener_identity_and_acl(sn, tmp_path, mosq_sub):
    acl = tmp_path / "acl"
    acl.write_text("topic read #\n\nuser sensor\ntopic write sensors/#\ntopic read cmd/#\n")
    s = sn(conf="per_listener_settings false\nacl_file %s" % acl, sn_opts="mqttsn_username sensor")
    sub = mosq_sub(s.b.port, "#", 1, wait=5)
    c = s.client()
    assert c.connect("acl-1") == ACCEPTED
    ok = c.register("sensors/t")
    no = c.register("other/t")
    c.publish(no.topic_id, b"denied", qos=1)  # 3.1.1 rules: acknowledged and dropped
    c.publish(ok.topic_id, b"allowed", qos=1)
    rc, msgs = sub.wait()
    assert [(m[0], m[4]) for m in msgs] == [("sensors/t", b"allowed")]
    assert c.subscribe("cmd/x", qos=0).rc == ACCEPTED
    assert c.subscribe("secret/x", qos=0).rc == NOT_SUPPORTED  # SUBACK 0x80 in MQTT-SN words


def test_anonymous_refused_without_identity(sn):
    s = sn(conf="allow_anonymous false")
    c = s.client()
    assert c.connect("anon") == NOT_SUPPORTED


def test_durable_session_survives_restart(broker, tmp_path, paho):
    port = free_udp_port()
    data = tmp_path / "data"
    b = broker("persistence true\npersistence_location %s/\nlistener %d 127.0.0.1\nprotocol mqttsn\n" % (data, port))
    c = SNClient(port)
    try:
        for _ in range(100):
            if udp_bound(port):
                break
            time.sleep(0.02)
        c.connect("durable-sn", clean=False)
        c.subscribe("dur/#", qos=1)
        c.send(disconnect())
        c.expect(DISCONNECT)
        p = paho(b.port)
        for i in range(3):
            p.publish("dur/%d" % i, b"kept %d" % i, qos=1)
        p.close()
        b.restart()
        for _ in range(100):
            if udp_bound(port):
                break
            time.sleep(0.02)
        assert c.connect("durable-sn", clean=False) == ACCEPTED
        got = [c.receive()[:2] for _ in range(3)]
        assert got == [("dur/%d" % i, b"kept %d" % i) for i in range(3)]
    finally:
        c.close()


# ---------------------------------------------------------------- bad input

BAD = {
    "empty": b"",
    "length byte 0": b"\x00\x16",
    "length longer than datagram": b"\x09\x16abc",
    "length shorter than datagram": b"\x02\x16abc",
    "three-octet form with short length": b"\x01\x00\x03\x16",
    "three-octet form past datagram": b"\x01\x01\x00\x16abc",
    "three-octet form cut": b"\x01\x00",
    "unknown type": b"\x02\x03",
    "unknown type 0x11": b"\x04\x11ab",
    "connect truncated": b"\x04\x04\x04\x01",
    "publish truncated": b"\x05\x0c\x00\x00\x01",
    "regack truncated": b"\x05\x0b\x00\x01\x00",
    "short name of three": b"\x08\x12\x02\x00\x01abc",
    "nested envelope": bytes([4, 0xFE, 0, 1, 4, 0xFE, 0, 2, 2, 0x16]),
    "envelope around garbage": bytes([4, 0xFE, 0, 1, 9, 0x16]),
}


def test_malformed_datagrams_dropped_and_counted(sn, paho):
    s = sn(conf="sys_interval 1")
    c = s.client()
    for name, dgram in BAD.items():
        c.sock.sendto(dgram, c.addr)
    c.quiet(0.5)  # nothing answers garbage
    # Still serving, and counted.
    assert c.connect("after-garbage") == ACCEPTED
    mal = wait_sys(paho, s.b.port, "$SYS/broker/mqttsn/%d/malformed" % s.port, lambda v: int(v) >= 12)
    unk = wait_sys(paho, s.b.port, "$SYS/broker/mqttsn/%d/unknown" % s.port, lambda v: int(v) >= 2)
    assert int(mal) + int(unk) >= len(BAD) - 1


def test_connected_client_survives_garbage(sn, paho):
    s = sn()
    c = s.client()
    c.connect("robust")
    sa = c.subscribe("g/t", qos=0)
    for dgram in BAD.values():
        c.sock.sendto(dgram, c.addr)
    # Types a client never sends, from a connected client: ignored too.
    for t in (CONNACK, snraw.WILLTOPICREQ, snraw.SUBACK, snraw.PINGRESP, GWINFO, ADVERTISE):
        c.send(frame(t, b"\x00\x00\x00\x00\x00"[:{CONNACK: 1, GWINFO: 1, ADVERTISE: 3}.get(t, 0) or 0]))
    # Well formed but meaningless: a SUBSCRIBE to an empty name is refused, not a reason to drop the client.
    c.send(b"\x05\x12\x00\x00\x09")
    m = c.expect(SUBACK)
    assert (m.msg_id, m.rc) == (9, INVALID_TOPIC_ID)
    p = paho(s.b.port)
    p.publish("g/t", b"fine", qos=1)  # QoS 1: paho resends it should its connection drop (seen once under load)
    m = c.expect(PUBLISH)
    assert (m.topic_id, m.payload) == (sa.topic_id, b"fine")


def test_no_amplification_to_unconnected_senders(sn):
    s = sn(predefined="1 a/b\n")
    requests = [
        connect("x" * 1, clean=True, will=True),
        connect("amp", 60, True, False).replace(b"\x04\x01", b"\x04\x02", 1),  # bad protocol id
        frame(snraw.SEARCHGW, b"\x00"),
        publish(1, b"", qos=0),
        publish(1, b"", qos=1, msg_id=1),
        subscribe("a/#", 1, qos=1),
        register("a/b", 1),
        pingreq(),
        pingreq("someone"),
        frame(snraw.WILLTOPICUPD),
        ack(PUBREL, 1),
        disconnect(),
        disconnect(5),
        publish(1, b"", qos=-1, topic_type=PREDEFINED),
    ]
    for req in requests:
        c = s.client()
        c.send(req)
        while True:
            m = c.recv(0.3)
            if m is None:
                break
            assert len(m.raw) <= len(req), "%r answered with %r" % (req, m)
        c.close()


def test_connect_flood_is_bounded(sn, paho):
    s = sn(sn_opts="max_connections 20")
    # Half-open CONNECTs (will flag, never completed) from one prefix: a handful kept, the rest refused.
    socks = []
    refused = 0
    for i in range(200):
        c = SNClient(s.port)
        socks.append(c)
        c.send(connect("half-%d" % i, will=True))
        m = c.recv(2)
        assert m is not None
        if m.type == CONNACK:
            assert m.rc == CONGESTION
            refused += 1
        else:
            assert m.type == WILLTOPICREQ
    assert refused >= 150
    for c in socks:
        c.close()
    # Completed CONNECTs: up to max_connections, then congestion.
    rcs = []
    clients = []
    for i in range(25):
        c = s.client()
        clients.append(c)
        rcs.append(c.connect("full-%d" % i))
    assert rcs[:20] == [ACCEPTED] * 20 and rcs[20:] == [CONGESTION] * 5
    # One leaves, another gets in.
    clients[0].send(disconnect())
    clients[0].expect(DISCONNECT)
    assert s.client().connect("late") == ACCEPTED


def test_connect_flood_memory_stays_flat(sn):
    s = sn()
    # From many source ports of one host: half-open CONNECTs beyond 16 per /24 are refused, and completed ones
    # are bounded by max_connections (test_half_open_memory_bounded_in_bytes floods from many prefixes).
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(50)]
    try:
        before = rss_kb(s.b.pid)
        for r in range(40):
            for i, snd in enumerate(senders):
                snd.sendto(connect("flood-%d-%d" % (r, i), will=True), ("127.0.0.1", s.port))
            time.sleep(0.01)
        time.sleep(0.5)
        check_growth(rss_kb(s.b.pid) - before, 8 * 1024, "2000 half-open CONNECTs")
    finally:
        for snd in senders:
            snd.close()
    c = s.client()
    assert c.connect("after-flood") == ACCEPTED


def test_forged_connect_gets_no_session_messages(sn, paho):
    # A persistent session with queued messages on a short topic (no REGISTER needed), and a retained message
    # on a plain name: a CONNECT (and SUBSCRIBE) from a forged address must not turn them on that address.
    s = sn()
    owner = s.client()
    owner.connect("victim", clean=False)
    owner.subscribe("am", qos=1, topic_type=SHORT)
    owner.send(disconnect())
    owner.expect(DISCONNECT)
    p = paho(s.b.port)
    for i in range(10):
        p.publish("am", b"x" * 1400, qos=1)
    p.publish("big/retained", b"y" * 1400, qos=1, retain=True)
    forged = s.client()
    sent = connect("victim", clean=False)
    forged.send(sent)
    sub = subscribe("big/retained", 1, qos=1)
    forged.send(sub)
    got = []
    while True:
        m = forged.recv(2.5)
        if m is None:
            break
        got.append(m)
    assert not any(m.type == PUBLISH for m in got), got
    assert sum(len(m.raw) for m in got) < 150, got  # CONNACK, SUBACK, REGISTERs and their retries
    # The real client, answering the REGISTER (only it can: it received the message id), gets everything.
    assert owner.connect("victim", clean=False) == ACCEPTED
    for _ in range(10):
        assert owner.receive()[1] == b"x" * 1400


def test_connect_without_keepalive_refused(sn):
    s = sn()
    c = s.client()
    assert c.connect("forever", duration=0) == NOT_SUPPORTED  # UDP never says a client has gone
    assert c.connect("x" * 65) == NOT_SUPPORTED  # client ids up to 64 octets
    assert c.connect("x" * 64) == ACCEPTED


def check_growth(grown_kb, limit_kb, unbounded):
    """RSS growth within limit_kb (what unbounded state would have taken is far more). Under AddressSanitizer its
    quarantine keeps freed memory, so growth says nothing there: the run still checks the flow and leaks."""
    if not SANITIZE:
        assert grown_kb < limit_kb, "RSS grew %d kB (unbounded: %s)" % (grown_kb, unbounded)


def test_half_open_memory_bounded_in_bytes(sn):
    s = sn()
    before = rss_kb(s.b.pid)
    socks = []
    try:
        # 64 addresses (127.0.N.1, distinct /24s), 16 each: every half-open CONNECT with a 20 KB will topic.
        for n in range(1, 65):
            for _ in range(16):
                sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sk.bind(("127.0.%d.1" % n, 0))
                socks.append(sk)
                sk.sendto(connect("h%d" % len(socks), will=True), ("127.0.0.1", s.port))
                sk.sendto(willtopic("t/" + "w" * 20000), ("127.0.0.1", s.port))
        time.sleep(1.0)
        check_growth(rss_kb(s.b.pid) - before, 10 * 1024, "1024 x 20 KB, 20 MB")
    finally:
        for sk in socks:
            sk.close()
    assert s.client().connect("still-in") == ACCEPTED


def test_topic_registry_bounded_in_bytes(sn):
    s = sn()
    c = s.client()
    c.connect("hoarder")
    before = rss_kb(s.b.pid)
    for i in range(300):
        mid = c.msg_id()
        c.send(register("r%d/" % i + "n" * 40000, mid))
        m = c.expect(REGACK)
        assert m.msg_id == mid
    check_growth(rss_kb(s.b.pid) - before, 6 * 1024, "300 x 40 KB, 12 MB")
    # The oldest names were forgotten: their ids are invalid now.
    assert c.publish(1, b"x", qos=1).rc == INVALID_TOPIC_ID


def test_taken_over_by_an_mqtt_client(sn, paho):
    s = sn()
    c = s.client()
    c.connect("shared-id", clean=False)
    c.subscribe("to/t", qos=1)
    p = paho(s.b.port, client_id="shared-id", clean_session=False)
    c.expect(DISCONNECT)  # the gateway says the connection is gone
    p.publish("to/t", b"for the mqtt one", qos=1)
    assert p.get().payload == b"for the mqtt one"  # the session (and its subscription) moved
    c.send(pingreq())
    c.expect(DISCONNECT)


def test_unknown_sender_told_to_connect(sn):
    s = sn()
    c = s.client()
    c.send(publish(1, b"x", qos=1, msg_id=5))
    m = c.expect(DISCONNECT)
    assert len(m.raw) == 2


# ---------------------------------------------------------------- configuration

def test_config_errors(tmp_path):
    from conftest import run_config_check
    cases = [
        ("listener 1884\nmqttsn_gateway_id 3\n", "mqttsn_* options need `protocol mqttsn`"),
        ("listener 1884\nprotocol mqttsn\nmqttsn_gateway_id 300\n", "invalid value '300' for 'mqttsn_gateway_id'"),
        ("listener 1884\nprotocol mqttsn\nmqttsn_retry_interval 0\n", "invalid value '0' for 'mqttsn_retry_interval'"),
        ("listener 1884\nprotocol mqttsn\ncertfile /x\nkeyfile /y\n", "MQTT-SN 1.2 has no DTLS"),
        ("listener 1884\nprotocol mqttsn\nprotocol websockets\n", "one protocol"),
        ("listener 1884\nprotocol carrier-pigeon\n", "expected mqtt, websockets or mqttsn"),
    ]
    for text, msg in cases:
        r = run_config_check(tmp_path, text)
        out = r.stdout + r.stderr
        assert r.returncode != 0 and msg in out, (text, out)
    # The same port for TCP and UDP is two listeners, not a duplicate.
    r = run_config_check(tmp_path, "listener 1884\nlistener 1884\nprotocol mqttsn\n")
    assert r.returncode == 0, r


def test_bad_predefined_file_refused_at_start(broker, tmp_path):
    from conftest import run_expect_failure
    bad = tmp_path / "pre.txt"
    bad.write_text("1 a/b\nnot a line\n")
    conf = "listener %d\nprotocol mqttsn\nmqttsn_predefined_file %s\n" % (free_udp_port(), bad)
    rc, out = run_expect_failure(tmp_path, conf)
    assert rc != 0 and "pre.txt: line 2: expected a topic id" in out, out
    from conftest import run_config_check
    r = run_config_check(tmp_path, conf)
    assert r.returncode != 0 and "pre.txt: line 2" in r.stdout + r.stderr


# ---------------------------------------------------------------- midge-sn-pub and midge-sn-sub

import subprocess  # noqa: E402
import threading  # noqa: E402

from conftest import broker_bin, mosquitto_pub  # noqa: E402,F811


def tool(name):
    return os.path.join(os.path.dirname(broker_bin()), name)


class SnSub:
    """midge-sn-sub -d running: knows when its SUBACKs came, collects its output lines."""

    def __init__(self, args, subacks=1):
        self.proc = subprocess.Popen([tool("midge-sn-sub"), "-d"] + args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.out = []
        self.err = []
        self.subacks = subacks
        self.ready = threading.Event()
        self.asleep = threading.Event()
        self.t1 = threading.Thread(target=self._read_err, daemon=True)
        self.t2 = threading.Thread(target=self._read_out, daemon=True)
        self.t1.start()
        self.t2.start()

    def _read_err(self):
        for line in self.proc.stderr:
            line = line.decode(errors="replace")
            self.err.append(line)
            if "Received SUBACK" in line:
                self.subacks -= 1
                if self.subacks == 0:
                    self.ready.set()
            if "Received DISCONNECT" in line and self.ready.is_set():
                self.asleep.set()

    def _read_out(self):
        for line in self.proc.stdout:
            self.out.append(line.decode(errors="replace").rstrip("\n"))

    def wait(self, timeout=20):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("midge-sn-sub did not exit: %s" % "".join(self.err[-20:]))
        self.t1.join(5)
        self.t2.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def sn_sub():
    made = []

    def make(args, subacks=1):
        s = SnSub(args, subacks)
        made.append(s)
        assert s.ready.wait(10), "midge-sn-sub not subscribed: %s" % "".join(s.err[-20:])
        return s

    yield make
    for s in made:
        s.kill()


def sn_pub(port, args):
    return subprocess.run([tool("midge-sn-pub"), "-p", str(port)] + args, capture_output=True, timeout=30)


@pytest.mark.parametrize("qos", [-1, 0, 1, 2])
def test_sn_pub_to_mosquitto_sub(sn, mosq_sub, tmp_path, qos):
    s = sn(predefined="5 tool/pre\n")
    sub = mosq_sub(s.b.port, "tool/#", 1, qos=max(qos, 0))
    topic = ["-T", "5"] if qos == -1 else ["-t", "tool/q%d" % qos]
    r = sn_pub(s.port, topic + ["-q", str(qos), "-m", "from sn-pub"])
    assert r.returncode == 0, r.stderr
    rc, msgs = sub.wait()
    assert msgs and msgs[0][0] == ("tool/pre" if qos == -1 else "tool/q%d" % qos) and msgs[0][4] == b"from sn-pub"
    assert msgs[0][1] == max(qos, 0)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_pub_to_sn_sub(sn, sn_sub, qos):
    s = sn()
    sub = sn_sub(["-p", str(s.port), "-t", "tool/#", "-q", str(qos), "-v", "-C", "2", "-W", "15"])
    for i in range(2):
        r = mosquitto_pub(s.b.port, "tool/t%d" % i, "hello %d" % i, qos=qos)
        assert r.returncode == 0
    assert sub.wait() == 0
    assert sub.out == ["tool/t0 hello 0", "tool/t1 hello 1"]
    assert any("Received REGISTER" in line for line in sub.err)  # wildcard: the gateway registered the topics


def test_sn_tools_short_and_predefined(sn, sn_sub, tmp_path):
    pre = "5 tool/pre\n"
    s = sn(predefined=pre)
    pf = tmp_path / "client-pre.txt"
    pf.write_text(pre)
    sub = sn_sub(["-p", str(s.port), "-t", "ab", "-T", "5", "--predefined-file", str(pf), "-v", "-C", "3",
                  "-W", "15"], subacks=2)
    assert mosquitto_pub(s.b.port, "ab", "short").returncode == 0
    assert mosquitto_pub(s.b.port, "tool/pre", "predefined").returncode == 0
    assert sn_pub(s.port, ["-t", "ab", "-m", "short from sn", "-q", "1"]).returncode == 0
    assert sub.wait() == 0
    assert sub.out == ["ab short", "tool/pre predefined", "ab short from sn"]


def test_sn_sub_sleep_mode(sn, sn_sub):
    s = sn()
    sub = sn_sub(["-p", str(s.port), "-t", "sleepy/t", "-q", "1", "-e", "1", "-C", "3", "-W", "20", "-v"])
    assert sub.asleep.wait(10), "midge-sn-sub never slept: %s" % "".join(sub.err[-20:])
    for i in range(3):
        assert mosquitto_pub(s.b.port, "sleepy/t", "zz %d" % i, qos=1).returncode == 0
    assert sub.wait() == 0
    assert sub.out == ["sleepy/t zz %d" % i for i in range(3)]
    assert any("PINGREQ" in line and "sleep" not in line for line in sub.err)


def test_sn_pub_errors(sn):
    s = sn()
    r = sn_pub(s.port, ["-t", "long/name", "-q", "-1", "-m", "x"])
    assert r.returncode != 0 and b"QoS -1 needs" in r.stderr
    dead = free_udp_port()
    r = subprocess.run([tool("midge-sn-pub"), "-p", str(dead), "-h", "127.0.0.1", "-t", "a/b", "-m", "x",
                        "--retry", "1", "--retries", "1"], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"Error:" in r.stderr
