"""The encryption guard (Midge's own): messages on topics named by `encrypted_topic` never go to a
subscriber connected through a plain listener that is not loopback-only. Tested with two plain
listeners: one bound to 127.0.0.1 (loopback-only) and one on all addresses (exposed; the tests
connect to it at 127.0.0.1: the listener decides, not the peer address)."""
import os
import re
import signal
import socket
import time

import pytest

import mqttraw as m
from conftest import connectable, free_port, wait_for

pytestmark = pytest.mark.midge_only

GUARD_LOG = "Encryption guard: messages published encrypted are withheld from client %s"


def guard_broker(broker, extra="", exposed_bind=""):
    """Returns (broker, loopback port, exposed port). encrypted_topic: secret/# and +/private."""
    for attempt in range(3):
        b = broker(listener=False, start=False)
        ex = free_port()
        b.conf_text = ("user root\nallow_anonymous true\nlistener %d 127.0.0.1\nlistener %d%s\n"
                       "encrypted_topic secret/#\nencrypted_topic +/private\n%s\n"
                       % (b.port, ex, exposed_bind, extra))
        try:
            # The exposed port can be taken on IPv4 meanwhile by a parallel test's client (the broker
            # then listens on IPv6 only): retry with other ports.
            b.start()
            wait_for(lambda: connectable(ex), 3, what="exposed listener")
            return b, b.port, ex
        except AssertionError:
            if attempt == 2:
                raise
            b.stop(check=False)


def client(raw, port, cid, proto=m.MQTT311, host="127.0.0.1", **kw):
    c = m.RawClient(port, host=host) if host != "127.0.0.1" else raw(port)
    c.connect(cid, proto=proto, **kw)
    return c


def withheld_count(c, timeout=3.0):
    """The next value of $SYS/broker/publish/messages/withheld that c (subscribed to it) receives."""
    p = c.wait_for(m.PUBLISH, timeout=timeout)
    assert p.topic == "$SYS/broker/publish/messages/withheld"
    if p.qos == 1:
        c.send(m.puback(p.mid))
    return int(p.payload)


def wait_withheld(c, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    v = None
    while time.monotonic() < deadline:
        try:
            v = withheld_count(c, max(0.1, deadline - time.monotonic()))
        except socket.timeout:
            break
        if v == want:
            return v
    raise AssertionError("withheld count %r, expected %d" % (v, want))



# ---------------------------------------------------------------- live messages

def test_guarded_topics_withheld_from_exposed_listener(broker, raw):
    b, lo, ex = guard_broker(broker)
    s_lo = client(raw, lo, "sub-lo")
    s_ex = client(raw, ex, "sub-ex")
    s_ex5 = client(raw, ex, "sub-ex5", proto=m.MQTT5)
    for c in (s_lo, s_ex, s_ex5):
        c.subscribe([("#", 1)])
    pub_lo = client(raw, lo, "pub-lo")
    pub_ex = client(raw, ex, "pub-ex")
    sent = [("secret/a", 0), ("x/private", 1), ("public/a", 1), ("secret", 2), ("y/private/z", 1),
            ("x/y/private", 1)]
    for i, (t, q) in enumerate(sent):
        pub_lo.publish(t, b"lo%d" % i, qos=q, mid=i + 1)
        pub_ex.publish(t, b"ex%d" % i, qos=q, mid=i + 1)  # the topic decides, not where it came from
    everything = sorted((t, b"%s%d" % (w, i)) for i, (t, _) in enumerate(sent) for w in (b"lo", b"ex"))
    open_topics = {"public/a", "y/private/z", "x/y/private"}
    assert sorted(s_lo.drain()) == everything
    want_ex = [e for e in everything if e[0] in open_topics]
    assert sorted(s_ex.drain()) == want_ex
    assert sorted(s_ex5.drain()) == want_ex
    # nothing else happened to the exposed clients: still connected, still served
    assert s_ex.is_open() and s_ex5.is_open()
    # logged once per client, with the exposed listener's port
    log = b.log()
    for cid in ("sub-ex", "sub-ex5"):
        assert log.count(GUARD_LOG % cid + ",") == 1, log[-3000:]
        assert re.search(re.escape(GUARD_LOG % cid) + r", which is connected through a plain listener "
                         r"\(port %d\)" % ex, log)
    assert GUARD_LOG % "sub-lo" not in log


def test_withheld_counter_in_sys(broker, raw):
    b, lo, ex = guard_broker(broker, "sys_interval 1")
    mon = client(raw, lo, "monitor")
    mon.subscribe("$SYS/broker/publish/messages/withheld")
    assert withheld_count(mon) == 0
    s_ex1 = client(raw, ex, "ex1")
    s_ex2 = client(raw, ex, "ex2")
    s_lo = client(raw, lo, "lo1")
    for c in (s_ex1, s_ex2, s_lo):
        c.subscribe([("secret/#", 1), ("open/#", 1)])
    pub = client(raw, lo, "pub")
    for i in range(3):
        pub.publish("secret/c", b"%d" % i, qos=1, mid=i + 1)
    pub.publish("open/c", b"o", qos=1, mid=9)
    # 3 guarded messages x 2 exposed subscribers
    assert wait_withheld(mon, 6) == 6
    assert s_ex1.drain() == [("open/c", b"o")]
    assert s_ex2.drain() == [("open/c", b"o")]
    assert len(s_lo.drain()) == 4
    assert b.log().count(GUARD_LOG % "ex1,") == 1
    # the counter is not reset by a client leaving
    s_ex1.disconnect()
    wait_for(lambda: "Client ex1 disconnected" in b.log(), 5)
    pub.publish("secret/c", b"more", qos=0)
    assert wait_withheld(mon, 7) == 7


def test_sys_counter_itself_not_guarded(broker, raw):
    """$SYS topics do not match secret/# or +/private: an exposed client with sys_interval sees them."""
    b, lo, ex = guard_broker(broker, "sys_interval 1")
    s = client(raw, ex, "sysex")
    s.subscribe("$SYS/broker/publish/messages/withheld")
    assert withheld_count(s) == 0


# ---------------------------------------------------------------- loopback-only listeners

@pytest.mark.parametrize("bind", [" localhost", " 127.0.0.1"])
def test_loopback_listeners_receive_guarded(broker, raw, bind):
    """A second listener bound to a loopback name is loopback-only too: it gets guarded messages."""
    b = broker(listener=False, start=False)
    p2 = free_port()
    b.conf_text = ("user root\nallow_anonymous true\nlistener %d 127.0.0.1\nlistener %d%s\n"
                   "encrypted_topic secret/#\n" % (b.port, p2, bind))
    b.start()
    wait_for(lambda: connectable(p2), 5)
    s = client(raw, p2, "s2")
    s.subscribe("secret/#", qos=1)
    pub = client(raw, b.port, "pub")
    pub.publish("secret/x", b"ok", qos=1)
    assert s.drain() == [("secret/x", b"ok")]


def test_bind_interface_lo_is_loopback_only(broker, raw):
    b = broker(listener=False, start=False)
    p2 = free_port()
    b.conf_text = ("user root\nallow_anonymous true\nlistener %d 127.0.0.1\nlistener %d\nbind_interface lo\n"
                   "encrypted_topic secret/#\n" % (b.port, p2))
    b.start()
    wait_for(lambda: connectable(p2), 5)
    s = client(raw, p2, "s2")
    s.subscribe("secret/#", qos=1)
    pub = client(raw, b.port, "pub")
    pub.publish("secret/x", b"ok", qos=1)
    assert s.drain() == [("secret/x", b"ok")]


# ---------------------------------------------------------------- retained messages and wills

def test_retained_guarded_not_sent_on_subscribe_through_exposed(broker, raw):
    b, lo, ex = guard_broker(broker)
    pub = client(raw, lo, "pub")
    pub.publish("secret/r", b"sr", qos=1, retain=True, mid=1)
    pub.publish("a/private", b"ar", qos=1, retain=True, mid=2)
    pub.publish("open/r", b"or", qos=1, retain=True, mid=3)
    s_ex = client(raw, ex, "ex")
    s_ex.subscribe([("secret/#", 1), ("+/private", 1), ("open/#", 1)])
    assert s_ex.drain() == [("open/r", b"or")]
    s_ex5 = client(raw, ex, "ex5", proto=m.MQTT5)
    s_ex5.subscribe([("#", 1)])
    assert s_ex5.drain() == [("open/r", b"or")]
    s_lo = client(raw, lo, "lo")
    s_lo.subscribe([("#", 1)])
    assert sorted(s_lo.drain()) == [("a/private", b"ar"), ("open/r", b"or"), ("secret/r", b"sr")]
    assert GUARD_LOG % "ex" in b.log()


def test_guarded_will(broker, raw):
    b, lo, ex = guard_broker(broker)
    s_ex = client(raw, ex, "ex")
    s_lo = client(raw, lo, "lo")
    for c in (s_ex, s_lo):
        c.subscribe([("secret/#", 1), ("will/#", 1)])
    w1 = client(raw, ex, "w1", will=("secret/will", b"gone1", 1, False))
    w2 = client(raw, lo, "w2", will=("will/open", b"gone2", 1, False))
    w1.close()
    w2.close()
    time.sleep(0.3)
    assert sorted(s_lo.drain()) == [("secret/will", b"gone1"), ("will/open", b"gone2")]
    assert s_ex.drain() == [("will/open", b"gone2")]


# ---------------------------------------------------------------- sessions

def test_offline_queue_comes_back_through_exposed(broker, raw):
    """A persistent session queues guarded messages while offline; back through the exposed listener
    it gets the others only (the guarded ones are dropped from its queue and counted), and they are
    not kept for a later return through the loopback listener. Queued while offline again and back
    through the loopback listener: all arrive."""
    b, lo, ex = guard_broker(broker, "sys_interval 1")
    mon = client(raw, lo, "monitor")
    mon.subscribe("$SYS/broker/publish/messages/withheld")
    assert withheld_count(mon) == 0
    s = client(raw, lo, "pers", clean=False)
    s.subscribe([("secret/#", 1), ("open/#", 1)])
    s.disconnect()
    wait_for(lambda: "Client pers disconnected" in b.log(), 5)
    pub = client(raw, lo, "pub")
    pub.publish("secret/q1", b"1", qos=1, mid=1)
    pub.publish("open/q2", b"2", qos=1, mid=2)
    pub.publish("secret/q3", b"3", qos=2, mid=3)
    back = raw(ex)
    assert back.connect("pers", clean=False).session_present
    assert back.drain() == [("open/q2", b"2")]
    back.disconnect()
    assert wait_withheld(mon, 2) == 2
    pub.publish("secret/q4", b"4", qos=1, mid=4)
    pub.publish("open/q5", b"5", qos=1, mid=5)
    again = raw(lo)
    assert again.connect("pers", clean=False).session_present
    assert again.drain() == [("secret/q4", b"4"), ("open/q5", b"5")]


def test_inflight_guarded_message_not_resent_through_exposed(broker, raw):
    """A guarded QoS 1 message sent through the loopback listener and not acknowledged is not sent
    again when the session resumes through the exposed listener."""
    b, lo, ex = guard_broker(broker)
    s = client(raw, lo, "inflight", clean=False)
    s.subscribe([("secret/#", 1), ("open/#", 1)])
    pub = client(raw, lo, "pub")
    pub.publish("secret/i", b"g", qos=1, mid=1)
    pub.publish("open/i", b"o", qos=1, mid=2)
    got = [s.recv_publish(ack=False), s.recv_publish(ack=False)]
    assert [p.topic for p in got] == ["secret/i", "open/i"]
    s.close()
    back = raw(ex)
    assert back.connect("inflight", clean=False).session_present
    pkts = []
    try:
        while True:
            p = back.recv(0.5)
            if p.type == m.PUBLISH:
                back.send(m.puback(p.mid))
                pkts.append(p)
    except socket.timeout:
        pass
    assert [(p.topic, p.payload, p.dup) for p in pkts] == [("open/i", b"o", True)]


def test_shared_group_with_exposed_member(broker, raw):
    b, lo, ex = guard_broker(broker)
    s_lo = client(raw, lo, "glo")
    s_ex = client(raw, ex, "gex")
    for c in (s_lo, s_ex):
        assert c.subscribe("$share/g/secret/#", qos=1) == [1]
    pub = client(raw, lo, "pub")
    for i in range(6):
        pub.publish("secret/s", b"%d" % i, qos=1, mid=i + 1)
    assert s_ex.drain() == []
    assert sorted(p for _, p in s_lo.drain()) == [b"%d" % i for i in range(6)]


def test_non_matching_topics_everywhere(broker, raw):
    """Topics outside the encrypted_topic filters go to every listener, QoS 0 to 2, both versions."""
    b, lo, ex = guard_broker(broker)
    subs = [client(raw, ex, "e3"), client(raw, ex, "e5", proto=m.MQTT5), client(raw, lo, "l3")]
    for c in subs:
        c.subscribe([("#", 2)])
    pub = client(raw, ex, "pub5", proto=m.MQTT5)
    for q in range(3):
        pub.publish("plain/%d" % q, b"p%d" % q, qos=q, mid=q + 1)
    pub.publish("secretive/x", b"s", qos=1, mid=7)   # not under secret/
    pub.publish("private", b"p", qos=1, mid=8)       # +/private needs two levels
    for c in subs:
        assert sorted(c.drain()) == [("plain/0", b"p0"), ("plain/1", b"p1"), ("plain/2", b"p2"),
                                    ("private", b"p"), ("secretive/x", b"s")]
    assert "Encryption guard" not in b.log()


def test_encrypted_topic_added_by_reload_covers_stored_messages(broker, raw):
    """encrypted_topic is read again on SIGHUP and applies to every delivery from then on, including
    messages retained before the reload."""
    b, lo, ex = guard_broker(broker)
    p = client(raw, lo, "pub")
    p.publish("late/x", b"kept", retain=True)
    p.disconnect()
    s = client(raw, ex, "before")
    s.subscribe([("late/#", 0)])
    assert s.drain() == [("late/x", b"kept")]  # not guarded yet
    with open(b.conf_path, "a") as f:
        f.write("encrypted_topic late/#\n")
    before = b.log().count("Security settings reloaded.")
    os.kill(b.pid, signal.SIGHUP)
    wait_for(lambda: b.log().count("Security settings reloaded.") > before, 5, what="reload")
    s2 = client(raw, ex, "after")
    s2.subscribe([("late/#", 0)])
    assert s2.drain() == []
    s3 = client(raw, lo, "local")
    s3.subscribe([("late/#", 0)])
    assert s3.drain() == [("late/x", b"kept")]
