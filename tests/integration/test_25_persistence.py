"""25 Durable storage (issue 7): the persistence options; what survives a restart after SIGTERM and after
kill -9 (retained messages, persistent sessions with their subscriptions and options, queued and in-flight
QoS 1/2 messages both ways, session expiry, wills of clients a crash cut off); the durable mode's promise
(what was acknowledged survives kill -9); an offline queue larger than the memory window; group mode.
The store file itself (corrupt, foreign, newer, full) is test_27; kill -9 under load is test_26."""
import os
import time

import pytest

import mqttraw as m
from conftest import free_port, run_config_check
from persistutil import (barrier, db_files, payloads, persistent_broker, offline, publish_pipelined,
                         receive_all, receive_n, restart, store_conf, v5, v311, wait_log)

# Mosquitto persists differently (a snapshot every autosave_interval) and has none of the persistence_*
# options Midge adds.
pytestmark = pytest.mark.midge_only

HOW = ["stop", "kill"]


# ---------------------------------------------------------------- configuration

def test_test_config_accepts_persistence_options(tmp_path):
    loc = tmp_path / "cfgstore"
    text = ("listener %d 127.0.0.1\n" % free_port() + store_conf(str(loc), file="other.db")
            + "retained_persistence false\npersistence_sync group\npersistence_group_interval 200\n"
            "persistence_max_size 1048576\npersistence_corrupt move_aside\nautosave_interval 1800\n"
            "autosave_on_changes false\n")
    r = run_config_check(tmp_path, text)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_config_check(tmp_path, "persistence true\npersistence_sync durable\n"
                         "persistence_corrupt refuse\npersistence_max_size 0\n")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("line,word", [("persistence_sync fast", "persistence_sync"),
                                       ("persistence_corrupt delete", "persistence_corrupt"),
                                       ("persistence_group_interval 0", "persistence_group_interval"),
                                       ("persistence maybe", "persistence")])
def test_test_config_rejects_bad_persistence_values(tmp_path, line, word):
    r = run_config_check(tmp_path, "persistence true\n" + line + "\n")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert word in out and "%s:2" % r.conf_path in out, out


@pytest.mark.parametrize("conf", ["", "persistence false\npersistence_location %(loc)s/\n"],
                         ids=["absent", "false"])
def test_no_store_without_persistence(broker, raw, tmp_path, conf):
    """persistence absent or false: no store file anywhere, and nothing survives a restart."""
    loc = tmp_path / "nostore"
    b = broker(conf=conf % {"loc": loc})
    c = v311(raw, b.port, "np-sub")
    c.subscribe("np/#", qos=1)
    offline(b, c)
    p = v311(raw, b.port, "np-pub", clean=True)
    p.publish("np/r", b"retained", qos=1, retain=True)
    offline(b, p)
    b.stop()
    assert db_files(str(tmp_path)) == []
    b.start()
    assert db_files(str(tmp_path)) == []
    c = v311(raw, b.port, "np-sub")
    assert c.connack.session_present is False
    c.subscribe("np/#", qos=1)
    c.expect_nothing(0.3)


def test_location_created_and_file_named(broker, raw, tmp_path):
    """A missing persistence_location is made; the store is persistence_file inside it."""
    loc = tmp_path / "made-by-midge"
    assert not loc.exists()
    b = persistent_broker(broker, tmp_path, name="made-by-midge", file="other.db")
    assert loc.is_dir()
    assert os.path.isfile(b.store_path)
    assert not os.path.exists(str(loc / "midge.db"))
    assert "Created persistence_location" in b.log()
    p = v311(raw, b.port, "loc-pub", clean=True)
    p.publish("loc/r", b"kept", qos=1, retain=True)
    offline(b, p)
    restart(b, "stop")
    c = v311(raw, b.port, "loc-sub", clean=True)
    c.subscribe("loc/r", qos=1)
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.retain) == ("loc/r", b"kept", True)


def test_store_default_file_name(broker, raw, tmp_path):
    """The store is midge.db by default; Mosquitto's autosave options are accepted (and do nothing)."""
    b = persistent_broker(broker, tmp_path, extra="autosave_interval 1\nautosave_on_changes true")
    assert b.store_path.endswith("/midge.db") and os.path.isfile(b.store_path)
    assert "Store %s opened (persistence_sync durable)" % b.store_path in b.log()


# ---------------------------------------------------------------- retained messages

@pytest.mark.parametrize("how", HOW)
def test_retained_set_replaced_cleared_survive(broker, raw, tmp_path, how):
    b = persistent_broker(broker, tmp_path)
    p = v311(raw, b.port, "ret-pub", clean=True)
    p.publish("ret/a", b"a1", qos=1, retain=True, mid=1)
    p.publish("ret/b", b"b1", qos=1, retain=True, mid=2)
    p.publish("ret/b", b"b2", qos=2, retain=True, mid=3)          # replaced
    p.publish("ret/c", b"c1", qos=1, retain=True, mid=4)
    p.publish("ret/c", b"", qos=1, retain=True, mid=5)            # cleared
    p.publish("ret/d", b"not retained", qos=1, retain=False, mid=6)
    offline(b, p)
    restart(b, how)
    c = v311(raw, b.port, "ret-sub", clean=True)
    c.subscribe("ret/#", qos=2)
    got = sorted(receive_n(c, 2), key=lambda p: p.topic)
    assert [(g.topic, g.payload, g.retain) for g in got] == [("ret/a", b"a1", True),
                                                            ("ret/b", b"b2", True)]
    assert got[0].qos == 1 and got[1].qos == 2
    # and they are still retained (not consumed) after a second restart
    offline(b, c)
    restart(b, how)
    c = v311(raw, b.port, "ret-sub2", clean=True)
    c.subscribe("ret/#", qos=0)
    assert sorted(payloads(receive_n(c, 2))) == [b"a1", b"b2"]


@pytest.mark.parametrize("how", HOW)
def test_retained_v5_properties_survive(broker, raw, tmp_path, how):
    b = persistent_broker(broker, tmp_path)
    props = [(m.PAYLOAD_FORMAT_INDICATOR, 1), (m.CONTENT_TYPE, "application/json"),
             (m.RESPONSE_TOPIC, "reply/here"), (m.CORRELATION_DATA, b"\x00corr\xff")] + \
        m.user_props(("room", "kitchen"), ("unit", "C"), ("room", "second"))
    p = v5(raw, b.port, "ret5-pub", clean=True, expiry=None)
    ack = p.publish("ret5/t", b'{"t": 21.5}', qos=1, retain=True, props=props)
    assert ack.reason in (m.SUCCESS, m.NO_MATCHING_SUBSCRIBERS)
    offline(b, p)
    restart(b, how)
    c = v5(raw, b.port, "ret5-sub", clean=True, expiry=None)
    c.subscribe([("ret5/#", 1)], props=[(m.SUBSCRIPTION_IDENTIFIER, 9)])
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.retain, pkt.qos) == ("ret5/t", b'{"t": 21.5}', True, 1)
    assert pkt.prop(m.PAYLOAD_FORMAT_INDICATOR) == 1
    assert pkt.prop(m.CONTENT_TYPE) == "application/json"
    assert pkt.prop(m.RESPONSE_TOPIC) == "reply/here"
    assert pkt.prop(m.CORRELATION_DATA) == b"\x00corr\xff"
    assert pkt.user_props == [("room", "kitchen"), ("unit", "C"), ("room", "second")]
    assert pkt.props_of(m.SUBSCRIPTION_IDENTIFIER) == [9]
    assert not pkt.has(m.MESSAGE_EXPIRY_INTERVAL)


@pytest.mark.parametrize("how", HOW)
def test_retained_expiry_counts_across_restart(broker, raw, tmp_path, how):
    """A retained message with Message Expiry Interval 3 comes back after the restart with what is left
    of it, and is gone once it expired (also after a further restart)."""
    b = persistent_broker(broker, tmp_path)
    p = v5(raw, b.port, "rexp-pub", clean=True, expiry=None)
    t0 = time.monotonic()
    p.publish("rexp/short", b"short", qos=1, retain=True, mid=1,
              props=[(m.MESSAGE_EXPIRY_INTERVAL, 3)])
    p.publish("rexp/long", b"long", qos=1, retain=True, mid=2,
              props=[(m.MESSAGE_EXPIRY_INTERVAL, 600)])
    offline(b, p)
    time.sleep(1.1)
    restart(b, how)
    c = v5(raw, b.port, "rexp-sub", clean=True, expiry=None)
    c.subscribe([("rexp/#", 1)])
    got = {g.topic: g for g in receive_n(c, 2)}
    elapsed = time.monotonic() - t0
    assert set(got) == {"rexp/short", "rexp/long"}
    left = got["rexp/short"].prop(m.MESSAGE_EXPIRY_INTERVAL)
    # 1.1 s or more have passed: at most 2 s are left, and at least what the elapsed time allows
    assert left is not None and int(3 - elapsed) <= left <= 2, "remaining expiry %r after %.1fs of 3" % (
        left, elapsed)
    assert 590 <= got["rexp/long"].prop(m.MESSAGE_EXPIRY_INTERVAL) <= 599
    offline(b, c)
    time.sleep(max(0.0, t0 + 3.3 - time.monotonic()))
    c = v5(raw, b.port, "rexp-sub2", clean=True, expiry=None)
    c.subscribe([("rexp/#", 1)])
    assert [g.topic for g in receive_n(c, 1)] == ["rexp/long"]
    offline(b, c)
    restart(b, how)
    c = v5(raw, b.port, "rexp-sub3", clean=True, expiry=None)
    c.subscribe([("rexp/#", 1)])
    assert [g.topic for g in receive_n(c, 1)] == ["rexp/long"]


def test_retained_persistence_false_keeps_sessions_only(broker, raw, tmp_path):
    b = persistent_broker(broker, tmp_path, extra="retained_persistence false")
    s = v311(raw, b.port, "rp-sub")
    s.subscribe("rp/q", qos=1)
    offline(b, s)
    p = v311(raw, b.port, "rp-pub", clean=True)
    p.publish("rp/r", b"retained", qos=1, retain=True, mid=1)
    p.publish("rp/q", b"queued", qos=1, mid=2)
    offline(b, p)
    restart(b, "stop")
    s = v311(raw, b.port, "rp-sub")
    assert s.connack.session_present is True
    assert s.recv_publish().payload == b"queued"
    c = v311(raw, b.port, "rp-new", clean=True)
    c.subscribe("rp/r", qos=1)
    c.expect_nothing(0.3)


# ---------------------------------------------------------------- sessions and subscriptions

@pytest.mark.parametrize("how", HOW)
def test_session_present_after_restart(broker, raw, tmp_path, how):
    """Persistent sessions (3.1.1 clean session 0, MQTT 5 Session Expiry Interval > 0) come back with
    Session Present 1, connected or not when midge went down; clean ones do not."""
    b = persistent_broker(broker, tmp_path)
    online = v311(raw, b.port, "sp-311-online")
    online.subscribe("sp/a", qos=1)
    off = v311(raw, b.port, "sp-311-off")
    off.subscribe("sp/b", qos=1)
    offline(b, off)
    online5 = v5(raw, b.port, "sp-5-online", expiry=600)
    online5.subscribe([("sp/c", 1)])
    off5 = v5(raw, b.port, "sp-5-off", expiry=0xFFFFFFFF)
    off5.subscribe([("sp/d", 1)])
    offline(b, off5)
    clean = v311(raw, b.port, "sp-clean", clean=True)
    clean.subscribe("sp/e", qos=1)
    clean5 = v5(raw, b.port, "sp-clean5", clean=True, expiry=None)
    clean5.subscribe([("sp/f", 1)])
    time.sleep(0.2)
    barrier(raw, b.port)
    restart(b, how)
    assert v311(raw, b.port, "sp-311-online").connack.session_present is True
    assert v311(raw, b.port, "sp-311-off").connack.session_present is True
    assert v5(raw, b.port, "sp-5-online").connack.session_present is True
    assert v5(raw, b.port, "sp-5-off").connack.session_present is True
    assert v311(raw, b.port, "sp-clean").connack.session_present is False
    assert v5(raw, b.port, "sp-clean5").connack.session_present is False


@pytest.mark.parametrize("how", HOW)
def test_clean_start_discards_stored_session(broker, raw, tmp_path, how):
    """A session resumed with clean session 1 ends, in the store too: it does not come back."""
    b = persistent_broker(broker, tmp_path)
    c = v311(raw, b.port, "cs")
    c.subscribe("cs/t", qos=1)
    offline(b, c)
    c = v311(raw, b.port, "cs", clean=True)
    assert c.connack.session_present is False
    c.subscribe("cs/other", qos=1)
    offline(b, c)
    barrier(raw, b.port)
    restart(b, how)
    c = v311(raw, b.port, "cs")
    assert c.connack.session_present is False
    p = v311(raw, b.port, "cs-pub", clean=True)
    p.publish("cs/t", b"x", qos=1)
    p.publish("cs/other", b"y", qos=1, mid=2)
    c.expect_nothing(0.3)


@pytest.mark.parametrize("how", HOW)
def test_v311_subscriptions_keep_delivering(broker, raw, tmp_path, how):
    """Subscriptions come back with their QoS, without subscribing again; an unsubscribed filter
    does not."""
    b = persistent_broker(broker, tmp_path)
    c = v311(raw, b.port, "subs311")
    assert c.subscribe([("s311/q0", 0), ("s311/q1", 1), ("s311/q2/+", 2), ("s311/gone", 1)]) == [0, 1, 2, 1]
    c.unsubscribe("s311/gone", mid=2)
    restart(b, how)
    c = v311(raw, b.port, "subs311")
    assert c.connack.session_present is True
    p = v311(raw, b.port, "subs311-pub", clean=True)
    p.publish("s311/q0", b"zero", qos=2, mid=1)
    p.publish("s311/q1", b"one", qos=2, mid=2)
    p.publish("s311/q2/x", b"two", qos=2, mid=3)
    p.publish("s311/gone", b"gone", qos=2, mid=4)
    got = receive_n(c, 3)
    assert [(g.topic, g.payload, g.qos) for g in got] == [("s311/q0", b"zero", 0), ("s311/q1", b"one", 1),
                                                         ("s311/q2/x", b"two", 2)]


@pytest.mark.parametrize("how", HOW)
def test_v5_subscription_options_survive(broker, raw, tmp_path, how):
    """No Local, Retain As Published, Subscription Identifiers and the granted QoS come back."""
    b = persistent_broker(broker, tmp_path)
    c = v5(raw, b.port, "subs5")
    c.subscribe([("o/nl", m.sub_options(qos=1, no_local=True))], mid=1,
                props=[(m.SUBSCRIPTION_IDENTIFIER, 7)])
    c.subscribe([("o/rap", m.sub_options(qos=1, retain_as_published=True))], mid=2,
                props=[(m.SUBSCRIPTION_IDENTIFIER, 268435455)])
    c.subscribe([("o/plain", m.sub_options(qos=2))], mid=3)
    c.subscribe([("o/q0", m.sub_options(qos=0))], mid=4, props=[(m.SUBSCRIPTION_IDENTIFIER, 3)])
    offline(b, c)
    restart(b, how)
    c = v5(raw, b.port, "subs5")
    assert c.connack.session_present is True
    # No Local: its own message does not come back ...
    c.publish("o/nl", b"own", qos=1, mid=10)
    c.expect_nothing(0.4)
    p = v5(raw, b.port, "subs5-pub", clean=True, expiry=None)
    # ... but another client's does, with its identifier
    p.publish("o/nl", b"other", qos=1, mid=1)
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.qos, pkt.retain) == ("o/nl", b"other", 1, False)
    assert pkt.props_of(m.SUBSCRIPTION_IDENTIFIER) == [7]
    # Retain As Published: a live retained message keeps its RETAIN flag
    p.publish("o/rap", b"rap", qos=1, retain=True, mid=2)
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.retain) == ("o/rap", b"rap", True)
    assert pkt.props_of(m.SUBSCRIPTION_IDENTIFIER) == [268435455]
    # without it, RETAIN is cleared on a live message; no identifier was given
    p.publish("o/plain", b"plain", qos=2, retain=True, mid=3)
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.retain, pkt.qos) == ("o/plain", b"plain", False, 2)
    assert not pkt.has(m.SUBSCRIPTION_IDENTIFIER)
    # granted QoS 0 caps a QoS 2 message
    p.publish("o/q0", b"q0", qos=2, mid=4)
    pkt = c.recv_publish()
    assert (pkt.topic, pkt.payload, pkt.qos) == ("o/q0", b"q0", 0)
    assert pkt.props_of(m.SUBSCRIPTION_IDENTIFIER) == [3]
    c.expect_nothing(0.3)


@pytest.mark.parametrize("how", HOW)
def test_shared_subscription_survives(broker, raw, tmp_path, how):
    """$share/g/t members come back as members: each message goes to exactly one of them."""
    b = persistent_broker(broker, tmp_path)
    for cid in ("sh-1", "sh-2"):
        c = v5(raw, b.port, cid)
        c.subscribe([("$share/g/sh/t", m.sub_options(qos=1))], props=[(m.SUBSCRIPTION_IDENTIFIER, 5)])
        offline(b, c)
    other = v311(raw, b.port, "sh-311")
    other.subscribe("$share/h/sh/#", qos=1)
    offline(b, other)
    restart(b, how)
    members = [v5(raw, b.port, cid) for cid in ("sh-1", "sh-2")]
    assert all(c.connack.session_present for c in members)
    other = v311(raw, b.port, "sh-311")
    assert other.connack.session_present is True
    p = v311(raw, b.port, "sh-pub", clean=True)
    sent = [b"m%d" % i for i in range(10)]
    publish_pipelined(p, "sh/t", sent, qos=1)
    got = [receive_all(c, quiet=0.4) for c in members]
    assert sorted(payloads(got[0] + got[1])) == sorted(sent)
    for g in got[0] + got[1]:
        assert g.props_of(m.SUBSCRIPTION_IDENTIFIER) == [5] and g.qos == 1
    # the other group gets every message once, in order
    assert payloads(receive_n(other, 10)) == sent


# ---------------------------------------------------------------- outgoing QoS 1 / 2 messages

@pytest.mark.parametrize("how", HOW)
def test_queued_messages_delivered_in_order(broker, raw, tmp_path, how):
    """QoS 1 and 2 messages queued for an offline session are delivered after the restart, in order, at
    the QoS of the subscription, once: acknowledged ones do not come back after another restart."""
    b = persistent_broker(broker, tmp_path)
    s = v311(raw, b.port, "q-sub")
    s.subscribe([("q/2", 2), ("q/1", 1)])
    offline(b, s)
    p = v311(raw, b.port, "q-pub", clean=True)
    sent = []
    for i in range(12):
        topic, qos = ("q/2", 2) if i % 3 == 0 else ("q/1", 1 + (i % 2))
        p.publish(topic, b"msg-%02d" % i, qos=qos, mid=i + 1)
        sent.append((topic, b"msg-%02d" % i, min(qos, 2 if topic == "q/2" else 1)))
    offline(b, p)
    restart(b, how)
    s = v311(raw, b.port, "q-sub")
    assert s.connack.session_present is True
    got = receive_n(s, 12)
    assert [(g.topic, g.payload, g.qos) for g in got] == sent
    assert not any(g.dup for g in got)
    offline(b, s)
    barrier(raw, b.port)
    restart(b, how)
    s = v311(raw, b.port, "q-sub")
    assert s.connack.session_present is True
    s.expect_nothing(0.3)


@pytest.mark.parametrize("how", HOW)
def test_queued_v5_properties_and_expiry(broker, raw, tmp_path, how):
    """A queued MQTT 5 message keeps its properties and the subscription identifier; its Message Expiry
    Interval counts across the restart, and an expired one is not delivered."""
    b = persistent_broker(broker, tmp_path)
    s = v5(raw, b.port, "qp-sub")
    s.subscribe([("qp/#", m.sub_options(qos=2))], props=[(m.SUBSCRIPTION_IDENTIFIER, 42)])
    offline(b, s)
    p = v5(raw, b.port, "qp-pub", clean=True, expiry=None)
    t0 = time.monotonic()
    p.publish("qp/short", b"short", qos=1, mid=1, props=[(m.MESSAGE_EXPIRY_INTERVAL, 2)])
    p.publish("qp/long", b"long", qos=2, mid=2,
              props=[(m.MESSAGE_EXPIRY_INTERVAL, 60), (m.CONTENT_TYPE, "text/plain"),
                     (m.RESPONSE_TOPIC, "qp/reply"), (m.CORRELATION_DATA, b"id-1")]
              + m.user_props(("a", "1"), ("b", "2")))
    offline(b, p)
    restart(b, how)
    time.sleep(max(0.0, t0 + 2.4 - time.monotonic()))
    s = v5(raw, b.port, "qp-sub")
    assert s.connack.session_present is True
    got = receive_n(s, 1)
    assert [(g.topic, g.payload, g.qos) for g in got] == [("qp/long", b"long", 2)]
    g = got[0]
    assert 50 <= g.prop(m.MESSAGE_EXPIRY_INTERVAL) <= 58
    assert g.prop(m.CONTENT_TYPE) == "text/plain"
    assert g.prop(m.RESPONSE_TOPIC) == "qp/reply"
    assert g.prop(m.CORRELATION_DATA) == b"id-1"
    assert g.user_props == [("a", "1"), ("b", "2")]
    assert g.props_of(m.SUBSCRIPTION_IDENTIFIER) == [42]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("proto", [m.MQTT311, m.MQTT5])
def test_unacked_qos1_resent_with_dup(broker, raw, tmp_path, how, proto):
    """A QoS 1 message the subscriber received but did not PUBACK before the restart is sent again with
    DUP=1 and the same packet id when it comes back; once acknowledged it is gone for good."""
    b = persistent_broker(broker, tmp_path)
    conn = (lambda: v311(raw, b.port, "dup1")) if proto == m.MQTT311 else (lambda: v5(raw, b.port, "dup1"))
    s = conn()
    s.subscribe([("dup1/t", 1)])
    p = v311(raw, b.port, "dup1-pub", clean=True)
    p.publish("dup1/t", b"unacked", qos=1)
    first = s.recv_publish(ack=False)
    assert (first.payload, first.qos, first.dup) == (b"unacked", 1, False)
    restart(b, how)
    s = conn()
    assert s.connack.session_present is True
    again = s.recv_publish(ack=False)
    assert (again.topic, again.payload, again.qos, again.dup, again.mid) == \
        ("dup1/t", b"unacked", 1, True, first.mid)
    s.send(m.puback(again.mid))
    s.expect_nothing(0.3)
    offline(b, s)
    barrier(raw, b.port)
    restart(b, how)
    s = conn()
    assert s.connack.session_present is True
    s.expect_nothing(0.3)


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("proto", [m.MQTT311, m.MQTT5])
def test_qos2_after_pubrec_continues_with_pubrel(broker, raw, tmp_path, how, proto):
    """An outgoing QoS 2 message whose PUBREC the subscriber sent (and the broker answered with PUBREL)
    continues with PUBREL after the restart, not with a new PUBLISH."""
    b = persistent_broker(broker, tmp_path)
    conn = (lambda: v311(raw, b.port, "rel2")) if proto == m.MQTT311 else (lambda: v5(raw, b.port, "rel2"))
    s = conn()
    s.subscribe([("rel2/t", 2)])
    p = v311(raw, b.port, "rel2-pub", clean=True)
    p.publish("rel2/t", b"exactly once", qos=2)
    pub = s.recv_publish(ack=False)
    assert (pub.payload, pub.qos) == (b"exactly once", 2)
    s.send(m.pubrec(pub.mid))
    rel = s.wait_for(m.PUBREL, pub.mid)
    assert rel.flags == 2
    restart(b, how)
    s = conn()
    assert s.connack.session_present is True
    pkt = s.recv()
    assert (pkt.type, pkt.mid) == (m.PUBREL, pub.mid), "expected PUBREL %d, got %r" % (pub.mid, pkt)
    assert pkt.flags == 2
    s.send(m.pubcomp(pub.mid))
    s.expect_nothing(0.3)
    offline(b, s)
    barrier(raw, b.port)
    restart(b, how)
    s = conn()
    s.expect_nothing(0.3)


@pytest.mark.parametrize("how", HOW)
def test_qos2_in_flight_before_pubrec_resent(broker, raw, tmp_path, how):
    """An outgoing QoS 2 PUBLISH not yet answered with PUBREC is sent again with DUP=1 and the same
    packet id; the flow then completes and the message is not delivered a third time."""
    b = persistent_broker(broker, tmp_path)
    s = v311(raw, b.port, "pub2")
    s.subscribe("pub2/t", qos=2)
    p = v311(raw, b.port, "pub2-pub", clean=True)
    p.publish("pub2/t", b"q2", qos=2)
    first = s.recv_publish(ack=False)
    restart(b, how)
    s = v311(raw, b.port, "pub2")
    again = s.recv_publish(ack=True)
    assert (again.payload, again.qos, again.dup, again.mid) == (b"q2", 2, True, first.mid)
    s.expect_nothing(0.3)


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("proto", [m.MQTT311, m.MQTT5])
def test_incoming_qos2_survives(broker, raw, tmp_path, how, proto):
    """A publisher's QoS 2 message acknowledged with PUBREC before the restart: the publisher resends
    it (DUP, same packet id) in its resumed session, gets PUBREC, PUBREL/PUBCOMP complete, and the
    subscriber gets it exactly once. The packet id is free again afterwards."""
    b = persistent_broker(broker, tmp_path)
    s = v311(raw, b.port, "in2-sub")
    s.subscribe("in2/t", qos=2)
    offline(b, s)
    conn = (lambda: v311(raw, b.port, "in2-pub")) if proto == m.MQTT311 else \
        (lambda: v5(raw, b.port, "in2-pub"))
    p = conn()
    p.send(m.publish("in2/t", b"once", qos=2, mid=42, props=p._props(None)))
    rec = p.expect(m.PUBREC)
    assert rec.mid == 42 and (rec.reason or 0) == 0
    restart(b, how)
    p = conn()
    assert p.connack.session_present is True
    p.send(m.publish("in2/t", b"once", qos=2, mid=42, dup=True, props=p._props(None)))
    rec = p.expect(m.PUBREC)
    assert rec.mid == 42 and (rec.reason or 0) == 0
    p.send(m.pubrel(42))
    comp = p.expect(m.PUBCOMP)
    assert comp.mid == 42 and (comp.reason or 0) == 0
    # packet id 42 is released: a new message with it is a new message
    p.publish("in2/t", b"next", qos=2, mid=42)
    s = v311(raw, b.port, "in2-sub")
    assert s.connack.session_present is True
    got = receive_n(s, 2)
    assert payloads(got) == [b"once", b"next"]


@pytest.mark.parametrize("how", HOW)
def test_incoming_qos2_pubrel_after_restart(broker, raw, tmp_path, how):
    """The publisher may also go straight on with PUBREL after the restart (it had its PUBREC): PUBCOMP,
    and the message is delivered exactly once."""
    b = persistent_broker(broker, tmp_path)
    s = v311(raw, b.port, "in2r-sub")
    s.subscribe("in2r/t", qos=2)
    offline(b, s)
    p = v311(raw, b.port, "in2r-pub")
    p.send(m.publish("in2r/t", b"once", qos=2, mid=7))
    assert p.expect(m.PUBREC).mid == 7
    restart(b, how)
    p = v311(raw, b.port, "in2r-pub")
    assert p.connack.session_present is True
    p.send(m.pubrel(7))
    assert p.expect(m.PUBCOMP).mid == 7
    s = v311(raw, b.port, "in2r-sub")
    assert payloads(receive_n(s, 1)) == [b"once"]


@pytest.mark.parametrize("how", HOW)
def test_large_payloads_and_odd_topics_survive(broker, raw, tmp_path, how):
    """Binary payloads of every byte value, 300 KB retained and 1 MiB queued, UTF-8 topics: byte for byte."""
    b = persistent_broker(broker, tmp_path)
    s = v311(raw, b.port, "big-payload-sub")
    s.subscribe("bin/#", qos=1)
    offline(b, s)
    retained = bytes(range(256)) * 1200
    queued = os.urandom(1 << 20)
    topic = "bin/\u00fcn\u00ef/\u00e7\u00f8d\u00e9/\u20ac/\U0001f600"
    p = v311(raw, b.port, "big-payload-pub", clean=True)
    p.publish("bin/retained", retained, qos=1, retain=True, mid=1)
    p.publish(topic, queued, qos=2, mid=2)
    p.publish("bin/nul", b"\x00" * 10, qos=1, mid=3)
    offline(b, p)
    restart(b, how)
    s = v311(raw, b.port, "big-payload-sub")
    got = receive_n(s, 3)
    assert [(g.topic, g.payload) for g in got] == [("bin/retained", retained), (topic, queued),
                                                  ("bin/nul", b"\x00" * 10)]
    r = v311(raw, b.port, "big-payload-new", clean=True)
    r.subscribe("bin/retained", qos=1)
    pkt = r.recv_publish()
    assert (pkt.payload == retained, pkt.retain) == (True, True)


def test_many_sessions_restored(broker, raw, tmp_path):
    """100 persistent sessions, each with its own subscription and a queued message, after kill -9."""
    b = persistent_broker(broker, tmp_path)
    n = 100
    for i in range(n):
        c = v311(raw, b.port, "many-%03d" % i) if i % 2 else v5(raw, b.port, "many-%03d" % i)
        c.subscribe([("many/%03d" % i, 1)])
        offline(b, c)
    p = v311(raw, b.port, "many-pub", clean=True)
    for i in range(n):
        p.publish("many/%03d" % i, b"for %03d" % i, qos=1, mid=i + 1)
    restart(b, "kill")
    assert "Restored %d sessions (%d subscriptions" % (n, n) in b.log()
    for i in range(n):
        c = v311(raw, b.port, "many-%03d" % i) if i % 2 else v5(raw, b.port, "many-%03d" % i)
        assert c.connack.session_present is True
        pkt = c.recv_publish()
        assert (pkt.topic, pkt.payload) == ("many/%03d" % i, b"for %03d" % i)
        c.close()


# ---------------------------------------------------------------- session expiry and wills

def test_session_expiry_counts_across_restart(broker, raw, tmp_path):
    """Session Expiry Interval 3 s from a normal disconnect: the time before the restart counts. A
    session is there after the restart, and gone 3 s after its disconnect (sooner than restart + 3 s); an
    expired session does not come back with a later restart either."""
    b = persistent_broker(broker, tmp_path)
    for cid in ("exp-a", "exp-b", "exp-c"):
        c = v5(raw, b.port, cid, expiry=3)
        c.subscribe([("exp/t", 1)])
        offline(b, c)
    t0 = time.monotonic()
    time.sleep(1.5)
    restart(b, "stop")
    t_restart = time.monotonic()
    a = v5(raw, b.port, "exp-a", expiry=3)
    assert a.connack.session_present is True
    offline(b, a)
    time.sleep(max(0.0, t0 + 3.9 - time.monotonic()))
    assert time.monotonic() < t_restart + 3.0
    c = v5(raw, b.port, "exp-b", expiry=3)
    assert c.connack.session_present is False
    p = v311(raw, b.port, "exp-pub", clean=True)
    p.publish("exp/t", b"x", qos=1)
    c.expect_nothing(0.3)
    barrier(raw, b.port)
    restart(b, "kill")
    c = v5(raw, b.port, "exp-c", expiry=3)
    assert c.connack.session_present is False


def test_disconnect_session_expiry_is_what_is_kept(broker, raw, tmp_path):
    """MQTT 5: the Session Expiry Interval a DISCONNECT sets replaces the CONNECT's in the store too: 0 ends
    the session, 1 lets it expire 1 s later, across a restart."""
    b = persistent_broker(broker, tmp_path)
    for cid, new in (("dse-0", 0), ("dse-1", 1), ("dse-keep", 600)):
        c = v5(raw, b.port, cid, expiry=600)
        c.subscribe([("dse/t", 1)])
        line = "Client %s disconnected." % cid
        c.disconnect(props=[(m.SESSION_EXPIRY_INTERVAL, new)])
        wait_log(b, line)
    restart(b, "stop")
    time.sleep(1.6)
    assert v5(raw, b.port, "dse-keep").connack.session_present is True
    assert v5(raw, b.port, "dse-0").connack.session_present is False
    assert v5(raw, b.port, "dse-1").connack.session_present is False


def test_session_expiry_after_kill_starts_at_restart(broker, raw, tmp_path):
    """A session connected when midge was killed went offline at the restart: it is there shortly after,
    and gone 3 s after the restart."""
    b = persistent_broker(broker, tmp_path)
    clients = []
    for cid in ("kexp-a", "kexp-b"):
        c = v5(raw, b.port, cid, expiry=3)
        c.subscribe([("kexp/t", 1)])
        clients.append(c)
    restart(b, "kill")
    t_restart = time.monotonic()
    a = v5(raw, b.port, "kexp-a", expiry=3)
    assert a.connack.session_present is True
    offline(b, a)
    time.sleep(max(0.0, t_restart + 3.9 - time.monotonic()))
    c = v5(raw, b.port, "kexp-b", expiry=3)
    assert c.connack.session_present is False


def watcher(raw, port, cid="will-watcher", filt="will/#"):
    w = v311(raw, port, cid)
    w.subscribe(filt, qos=1)
    return w


def test_will_published_after_kill(broker, raw, tmp_path):
    """The will of a persistent 3.1.1 client connected when midge was killed is published after the
    restart; a client that disconnected normally before has none."""
    b = persistent_broker(broker, tmp_path)
    watcher(raw, b.port)
    c = v311(raw, b.port, "will-crash", will=("will/crash", b"cut off", 1, False))
    c.subscribe("will-crash/own", qos=1)
    n = v311(raw, b.port, "will-normal", will=("will/normal", b"must not", 1, False))
    n.subscribe("will-normal/own", qos=1)
    offline(b, n)
    barrier(raw, b.port)
    restart(b, "kill")
    w = v311(raw, b.port, "will-watcher")
    assert w.connack.session_present is True
    got = receive_n(w, 1, after=0.5)
    assert [(g.topic, g.payload, g.qos) for g in got] == [("will/crash", b"cut off", 1)]
    # it was published once, not kept for the next restart
    offline(b, w)
    barrier(raw, b.port)
    restart(b, "stop")
    w = v311(raw, b.port, "will-watcher")
    w.expect_nothing(1.0)


def test_will_not_published_after_stop_for_normal_disconnect(broker, raw, tmp_path):
    b = persistent_broker(broker, tmp_path)
    offline(b, watcher(raw, b.port))
    n = v5(raw, b.port, "will-normal5", will=("will/normal5", b"must not", 1, False))
    n.subscribe([("will-normal5/own", 1)])
    offline(b, n)
    restart(b, "stop")
    w = v311(raw, b.port, "will-watcher")
    assert w.connack.session_present is True
    assert v5(raw, b.port, "will-normal5").connack.session_present is True
    w.expect_nothing(1.2)


def test_will_delay_after_kill(broker, raw, tmp_path):
    """An MQTT 5 will with Will Delay Interval 2 s of a client connected at the kill goes out about 2 s
    after the restart, with its properties and RETAIN flag."""
    b = persistent_broker(broker, tmp_path)
    watcher(raw, b.port)
    c = v5(raw, b.port, "will-delay", expiry=60, will=("will/delay", b"late", 1, True),
           will_props=[(m.WILL_DELAY_INTERVAL, 2), (m.CONTENT_TYPE, "text/x-will")]
           + m.user_props(("why", "crash")))
    c.subscribe([("will-delay/own", 1)])
    time.sleep(0.2)
    barrier(raw, b.port)
    b.kill()
    t0 = time.monotonic()
    b.start()
    w = v311(raw, b.port, "will-watcher")
    assert w.connack.session_present is True
    w.expect_nothing(max(0.1, t0 + 1.5 - time.monotonic()))
    pkt = w.recv_publish(3.0)
    assert time.monotonic() - t0 >= 1.7
    assert (pkt.topic, pkt.payload, pkt.qos) == ("will/delay", b"late", 1)
    # RETAIN: a new subscriber finds it (with its properties)
    r = v5(raw, b.port, "will-late-sub", clean=True, expiry=None)
    r.subscribe([("will/delay", 1)])
    pkt = r.recv_publish()
    assert (pkt.payload, pkt.retain) == (b"late", True)
    assert pkt.prop(m.CONTENT_TYPE) == "text/x-will"
    assert pkt.user_props == [("why", "crash")]


def test_will_delay_cancelled_by_reconnect_after_kill(broker, raw, tmp_path):
    """A client whose will waits for its delay after the restart takes it back by reconnecting."""
    b = persistent_broker(broker, tmp_path)
    watcher(raw, b.port)
    c = v5(raw, b.port, "will-back", expiry=60, will=("will/back", b"no", 1, False),
           will_props=[(m.WILL_DELAY_INTERVAL, 1)])
    c.subscribe([("will-back/own", 1)])
    time.sleep(0.2)
    barrier(raw, b.port)
    restart(b, "kill")
    c = v5(raw, b.port, "will-back", expiry=60)
    assert c.connack.session_present is True
    w = v311(raw, b.port, "will-watcher")
    w.expect_nothing(2.0)


# ---------------------------------------------------------------- the durable promise

@pytest.mark.parametrize("qos", [1, 2])
def test_acknowledged_survives_kill(broker, raw, tmp_path, qos):
    """Durable mode: what got its PUBACK (QoS 1) or PUBREC (QoS 2) survives a kill -9 right after the
    acknowledgement arrived. 40 messages are sent at once and midge is killed when 20 were acknowledged;
    every acknowledged one is delivered after the restart, in order, once."""
    b = persistent_broker(broker, tmp_path)
    s = v311(raw, b.port, "dur-sub")
    s.subscribe("dur/t", qos=qos)
    offline(b, s)
    p = v311(raw, b.port, "dur-pub", clean=True)
    sent = [b"d%03d" % i for i in range(40)]
    p.send(b"".join(m.publish("dur/t", x, qos, mid=i + 1) for i, x in enumerate(sent)))
    want = m.PUBACK if qos == 1 else m.PUBREC
    acked = set()
    while len(acked) < 20:
        pkt = p.recv(5)
        assert pkt.type == want, pkt
        acked.add(pkt.mid)
    b.kill()
    b.start()
    s = v311(raw, b.port, "dur-sub")
    assert s.connack.session_present is True
    got = payloads(receive_all(s, quiet=0.6))
    assert len(got) == len(set(got)), "duplicates: %r" % got
    assert got == sorted(got), "out of order: %r" % got
    missing = [sent[mid - 1] for mid in sorted(acked) if sent[mid - 1] not in got]
    assert not missing, "acknowledged before the kill, lost: %r (got %r)" % (missing, got)


@pytest.mark.parametrize("qos", [1, 2])
def test_acknowledged_single_message_survives_kill(broker, raw, tmp_path, qos):
    b = persistent_broker(broker, tmp_path)
    s = v5(raw, b.port, "dur1-sub")
    s.subscribe([("dur1/t", m.sub_options(qos=2))])
    offline(b, s)
    p = v5(raw, b.port, "dur1-pub", clean=True, expiry=None)
    p.send(m.publish("dur1/t", b"promised", qos, mid=1, props=[]))
    ack = p.expect(m.PUBACK if qos == 1 else m.PUBREC)
    assert ack.reason == 0
    b.kill()
    b.start()
    s = v5(raw, b.port, "dur1-sub")
    got = receive_n(s, 1)
    assert [(g.payload, g.qos) for g in got] == [(b"promised", qos)]


# ---------------------------------------------------------------- a queue larger than memory

N_LARGE = 5000


def fill_large_queue(raw, b, n=N_LARGE):
    port = b.port
    s = v311(raw, port, "big-sub")
    s.subscribe("big/t", qos=1)
    offline(b, s)
    p = v311(raw, port, "big-pub", clean=True)
    sent = [b"big-%05d" % i for i in range(n)]
    for start in range(0, n, 1000):
        acks = publish_pipelined(p, "big/t", sent[start:start + 1000], qos=1, first_mid=1)
        assert len(acks) == len(sent[start:start + 1000])
    offline(b, p)
    return sent


@pytest.mark.parametrize("how", [None, "stop", "kill"])
def test_large_offline_queue(broker, raw, tmp_path, how):
    """5000 QoS 1 messages for an offline session (more than the 1000 kept in memory; the rest are read
    back from disk in batches) all arrive, in order, each once, with or without a restart first."""
    b = persistent_broker(broker, tmp_path, extra="max_queued_messages 0")
    sent = fill_large_queue(raw, b)
    if how:
        restart(b, how)
    s = v311(raw, b.port, "big-sub")
    assert s.connack.session_present is True
    got = receive_n(s, len(sent))
    assert len(got) == len(sent), "got %d of %d; first missing %r" % (
        len(got), len(sent), next((x for x in sent if x not in set(payloads(got))), None))
    assert payloads(got) == sent
    assert not any(g.dup for g in got)


@pytest.mark.parametrize("how", HOW)
def test_queue_limit_counts_restored_messages(broker, raw, tmp_path, how):
    """max_queued_messages 5: three messages queued before the restart count against the limit after it;
    of five more, two are kept, the rest dropped."""
    b = persistent_broker(broker, tmp_path, extra="max_queued_messages 5")
    s = v311(raw, b.port, "lim-sub")
    s.subscribe("lim/t", qos=1)
    offline(b, s)
    p = v311(raw, b.port, "lim-pub", clean=True)
    publish_pipelined(p, "lim/t", [b"before-%d" % i for i in range(3)])
    offline(b, p)
    restart(b, how)
    p = v311(raw, b.port, "lim-pub", clean=True)
    publish_pipelined(p, "lim/t", [b"after-%d" % i for i in range(5)])
    s = v311(raw, b.port, "lim-sub")
    assert payloads(receive_n(s, 5)) == [b"before-0", b"before-1", b"before-2", b"after-0", b"after-1"]


def test_large_queue_partly_drained_then_killed(broker, raw, tmp_path):
    """The subscriber takes 2500 of 5000 queued messages, then midge is killed: after the restart the rest
    arrive in order, without a gap (acknowledged ones whose deletion was not committed may come again)."""
    b = persistent_broker(broker, tmp_path, extra="max_queued_messages 0")
    sent = fill_large_queue(raw, b)
    s = v311(raw, b.port, "big-sub")
    first = payloads(receive_all(s, quiet=1.5, limit=2500))
    assert first == sent[:2500]
    b.kill()
    b.start()
    s = v311(raw, b.port, "big-sub")
    assert s.connack.session_present is True
    rest = payloads(receive_all(s, quiet=1.0, timeout=60))
    assert rest, "nothing after the restart"
    start = sent.index(rest[0])
    assert start <= 2500, "resumed at %r: %d messages lost" % (rest[0], start - 2500)
    assert rest == sent[start:], "not the rest in order: %d received, from %r to %r" % (
        len(rest), rest[0], rest[-1])


# ---------------------------------------------------------------- both modes after SIGTERM

@pytest.mark.parametrize("sync", ["durable", "group"])
def test_everything_survives_sigterm(broker, raw, tmp_path, sync):
    b = persistent_broker(broker, tmp_path, extra="persistence_sync %s\npersistence_group_interval 20" % sync)
    assert "(persistence_sync %s)" % sync in b.log()
    s = v5(raw, b.port, "all-sub")
    s.subscribe([("all/q", m.sub_options(qos=2))], props=[(m.SUBSCRIPTION_IDENTIFIER, 11)])
    offline(b, s)
    on = v311(raw, b.port, "all-online")
    on.subscribe("all/q", qos=1)
    p = v311(raw, b.port, "all-pub", clean=True)
    p.publish("all/r", b"retained", qos=0, retain=True)
    p.publish("all/q", b"one", qos=1, mid=1)
    p.publish("all/q", b"two", qos=2, mid=2)
    unacked = on.recv_publish(ack=False)
    assert unacked.payload == b"one"
    offline(b, p)
    restart(b, "stop")
    s = v5(raw, b.port, "all-sub")
    assert s.connack.session_present is True
    got = receive_n(s, 2)
    assert [(g.payload, g.qos) for g in got] == [(b"one", 1), (b"two", 2)]
    assert all(g.props_of(m.SUBSCRIPTION_IDENTIFIER) == [11] for g in got)
    on = v311(raw, b.port, "all-online")
    assert on.connack.session_present is True
    got = receive_n(on, 2)
    # "two" may have been sent before the stop too; "one" certainly was
    assert [(g.payload, g.qos) for g in got] == [(b"one", 1), (b"two", 1)]
    assert got[0].dup is True and got[0].mid == unacked.mid
    c = v311(raw, b.port, "all-new", clean=True)
    c.subscribe("all/r", qos=1)
    pkt = c.recv_publish()
    assert (pkt.payload, pkt.retain) == (b"retained", True)


def test_group_mode_keeps_queues_and_qos2_state_across_sigterm(broker, raw, tmp_path):
    """persistence_sync group acknowledges at once; SIGTERM still commits everything: a 5000-message queue
    (mostly on disk), an outgoing QoS 2 message waiting for PUBCOMP, an incoming one waiting for PUBREL
    (delivered once)."""
    b = persistent_broker(broker, tmp_path, extra="persistence_sync group\npersistence_group_interval 100\n"
                          "max_queued_messages 0")
    sent = fill_large_queue(raw, b)
    s = v311(raw, b.port, "g-rel")
    s.subscribe([("g/rel", 2), ("g/in", 2)])
    p = v311(raw, b.port, "g-pub")
    p.publish("g/rel", b"outgoing", qos=2, mid=1)
    pub = s.recv_publish(ack=False)
    s.send(m.pubrec(pub.mid))
    s.wait_for(m.PUBREL, pub.mid)
    p.send(m.publish("g/in", b"incoming", qos=2, mid=9))
    assert p.expect(m.PUBREC).mid == 9
    restart(b, "stop")
    s = v311(raw, b.port, "g-rel")
    pkt = s.recv()
    assert (pkt.type, pkt.mid) == (m.PUBREL, pub.mid), pkt
    s.send(m.pubcomp(pub.mid))
    assert [(g.topic, g.payload) for g in receive_n(s, 1)] == [("g/in", b"incoming")]
    p = v311(raw, b.port, "g-pub")
    assert p.connack.session_present is True
    p.send(m.pubrel(9))
    assert p.expect(m.PUBCOMP).mid == 9
    s.expect_nothing(0.3)
    big = v311(raw, b.port, "big-sub")
    assert big.connack.session_present is True
    assert payloads(receive_n(big, len(sent))) == sent
