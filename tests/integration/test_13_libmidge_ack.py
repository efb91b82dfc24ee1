"""13 libmidge for the broker's bridges: the bridge option (0x80 in the 3.x CONNECT's protocol level,
Mosquitto's try_private) and manual acknowledgements (manual_ack, midge_client_ack): an incoming QoS 1/2
message is answered with PUBACK/PUBREC only when the application says so.

Driven with test_13's lmclient (--bridge, --manual-ack, --ack-in-callback; the ack and tack commands) against
a scripted server (FakeBroker: the packets the client sends, per connection, and what is sent back when) and
against the real broker (or Mosquitto with MIDGE_TEST_BROKER=mosquitto) through test_13's Proxy."""
import socket
import subprocess
import threading
import time

import pytest

from conftest import check_sanitizer_text, wait_for
from test_13_libmidge import (ERR_INVAL, LMCLIENT, PUBACK, PUBCOMP, PUBREC, TIMEOUT, packet_info, publish_packet,
                              split_packet, url, vargs)
from test_13_libmidge import lm, proxy  # noqa: F401 (fixtures)

ERR_NOT_FOUND = -8


class FakeBroker:
    """A scripted MQTT server on a free port, one connection at a time: each CONNECT is recorded and answered
    with CONNACK (Session Present as self.session_present); what the client sends afterwards is recorded per
    connection as (type, flags, packet id, bytes); send() writes to the current connection."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.session_present = False
        self.connects = []  # the CONNECT packets, one per connection
        self.got = []       # per connection: [(type, flags, id, packet)]
        self.conn = None
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return url(self.port)

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        n = None
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                buf += data
                while split_packet(buf) is not None:
                    pkt, buf = split_packet(buf)
                    with self.cond:
                        if n is None:  # the CONNECT
                            self.connects.append(pkt)
                            self.got.append([])
                            n = len(self.got) - 1
                            self.conn = c
                            c.sendall(bytes([0x20, 2, 1 if self.session_present else 0, 0]))
                        else:
                            self.got[n].append(packet_info(pkt) + (pkt,))
                        self.cond.notify_all()
        except OSError:
            pass
        c.close()

    def wait_connections(self, n):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.connects) >= n, TIMEOUT), "no connection %d" % n

    def send(self, data):
        with self.lock:
            self.conn.sendall(data)

    def close_connection(self):
        with self.lock:
            c, self.conn = self.conn, None
        c.shutdown(socket.SHUT_RDWR)
        c.close()

    def answers(self, conn=-1):
        """(type, packet id) of what the client sent on connection conn (the last by default)."""
        with self.lock:
            return [(x[0], x[2]) for x in self.got[conn]] if self.got else []

    def wait_answers(self, n, conn=-1):
        with self.cond:
            ok = self.cond.wait_for(lambda: self.got and len(self.got[conn]) >= n, TIMEOUT)
        assert ok, "%d packets from the client wanted, got %r" % (n, self.answers(conn))
        return self.answers(conn)

    def close(self):
        self.srv.close()
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass


@pytest.fixture
def fake():
    made = []

    def make():
        f = FakeBroker()
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def pubrel(pid):
    return bytes([0x62, 2, pid >> 8, pid & 0xFF])


def quiet(seconds=0.3):
    """Long enough for an answer that should not come to have come."""
    time.sleep(seconds)


# ---------------------------------------------------------------- bridge

@pytest.mark.parametrize("version,level,name", [(4, 0x84, b"MQTT"), (3, 0x83, b"MQIsdp")])
def test_bridge_sets_protocol_level_bit(lm, fake, version, level, name):
    """--bridge: the CONNECT's protocol level has 0x80 set (0x84 for 3.1.1, 0x83 for 3.1); without it, not."""
    f = fake()
    c = lm("-V", version, "-i", "lmbridge", "-c", "--bridge")
    c.connect(f.url)
    plain = lm("-V", version, "-i", "lmplain", "-c")
    plain.connect(f.url)
    f.wait_connections(2)
    for pkt, want in zip(f.connects, (level, level & 0x7F)):
        body = pkt[2:]  # the remaining length fits one byte here
        assert body[:2 + len(name)] == len(name).to_bytes(2, "big") + name
        assert body[2 + len(name)] == want, pkt


def test_bridge_with_mqtt5_is_refused():
    """midge_client_new refuses bridge with MQTT 5 (its bridges use No Local instead)."""
    r = subprocess.run([LMCLIENT, "-V", "5", "-i", "x", "-c", "--bridge"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 1 and b'"cmd":"new","rc":-2' in r.stdout
    check_sanitizer_text(r.stderr.decode("utf-8", "replace"))


def test_bridge_connects_and_gets_no_echo(broker, lm):
    """The broker takes the bridge's CONNECT and, as to a bridge, does not send it back its own messages;
    an ordinary client's own messages do come back."""
    b = broker()
    br = lm("-V", 4, "-i", "lmbr", "-c", "--bridge")
    br.connect(url(b.port))
    assert br.subscribe(1, "lm/br/#") == [1]
    other = lm(*vargs(4, "lmbrother"))
    other.connect(url(b.port))
    assert other.subscribe(1, "lm/br/#") == [1]
    br.ok("pub lm/br/a 1 0 from-bridge")
    other.ok("pub lm/br/b 1 0 from-other")
    assert br.wait_events("msg", 1)[0]["payload"] == b"from-other".hex()
    other.wait_events("msg", 2)
    quiet(0.5)
    assert br.payloads() == ["from-other"]
    assert sorted(other.payloads()) == ["from-bridge", "from-other"]


# ---------------------------------------------------------------- manual acknowledgements, scripted server

@pytest.mark.parametrize("how", ["ack-thread", "ack-loop", "tack-thread", "tack-ext"])
def test_manual_ack_answers_only_when_told(lm, fake, how):
    """With manual_ack nothing answers an incoming QoS 1/2 PUBLISH until midge_client_ack; then PUBACK/PUBREC
    go out at once, in the order given. Given from the loop's thread (ext mode, between loop calls) or from
    another thread (which must wake the library's thread: no waiting for a timer)."""
    cmd, mode = {"ack-thread": ("ack", "thread"), "ack-loop": ("ack", "ext"),
                 "tack-thread": ("tack", "thread"), "tack-ext": ("tack", "ext")}[how]
    f = fake()
    c = lm("-V", 4, "-i", "lmman", "-c", "--manual-ack", mode=mode)
    c.connect(f.url)
    for pid in (9, 10, 11):
        f.send(publish_packet(b"in/q1", b"m%d" % pid, qos=1, pid=pid))
    f.send(publish_packet(b"in/q2", b"two", qos=2, pid=12))
    msgs = c.wait_events("msg", 4)
    assert [(m["mid"], m["qos"]) for m in msgs] == [(9, 1), (10, 1), (11, 1), (12, 2)]
    quiet()
    assert f.answers() == []
    order = [(11, 1), (12, 2), (9, 1), (10, 1)]
    for i, (mid, qos) in enumerate(order):
        t0 = time.monotonic()
        assert c.ok("%s %d %d" % (cmd, mid, qos))["rc"] == 0
        f.wait_answers(i + 1)
        assert time.monotonic() - t0 < 0.9  # the library's thread polls with a 1 s timeout when not woken
    assert f.answers() == [(PUBACK, 11), (PUBREC, 12), (PUBACK, 9), (PUBACK, 10)]
    f.send(pubrel(12))
    assert f.wait_answers(5)[-1] == (PUBCOMP, 12)
    assert len(c.messages()) == 4


def test_manual_ack_qos2_resend_and_errors(lm, fake):
    """QoS 2 with manual_ack: a resent PUBLISH (DUP) before the application's ack is neither delivered nor
    answered; the ack answers it (PUBREC); a resend after the ack gets PUBREC again, still not delivered; once
    acknowledged or released, an ack is MIDGE_ERR_NOT_FOUND. Bad arguments are MIDGE_ERR_INVAL; a QoS 1 id no
    message waits with is dropped (0, nothing sent)."""
    f = fake()
    c = lm("-V", 4, "-i", "lmman2", "-c", "--manual-ack")
    c.connect(f.url)
    f.send(publish_packet(b"in/q2", b"once", qos=2, pid=7))
    c.wait_events("msg", 1)
    f.send(publish_packet(b"in/q2", b"once", qos=2, pid=7, dup=True))
    quiet()
    assert f.answers() == [] and len(c.messages()) == 1
    assert c.ok("ack 7 2")["rc"] == 0
    assert f.wait_answers(1) == [(PUBREC, 7)]
    assert c.cmd("ack 7 2")["rc"] == ERR_NOT_FOUND
    f.send(publish_packet(b"in/q2", b"once", qos=2, pid=7, dup=True))
    assert f.wait_answers(2) == [(PUBREC, 7), (PUBREC, 7)]
    f.send(pubrel(7))
    assert f.wait_answers(3)[-1] == (PUBCOMP, 7)
    assert c.cmd("ack 7 2")["rc"] == ERR_NOT_FOUND
    assert len(c.messages()) == 1
    assert c.cmd("ack 99 2")["rc"] == ERR_NOT_FOUND
    for bad in ("ack 0 1", "ack 0 2", "ack 5 0", "ack 5 3"):
        assert c.cmd(bad)["rc"] == ERR_INVAL, bad
    assert c.cmd("ack 5 1")["rc"] == 0
    quiet()
    assert len(f.answers()) == 3
    # The same id again after PUBCOMP is a new message.
    f.send(publish_packet(b"in/q2", b"again", qos=2, pid=7))
    assert len(c.wait_events("msg", 2)) == 2
    assert c.ok("ack 7 2")["rc"] == 0
    assert f.wait_answers(4)[-1] == (PUBREC, 7)


def test_ack_without_manual_ack_is_invalid(lm, fake):
    """Without manual_ack the library answers at once, as before, and midge_client_ack is MIDGE_ERR_INVAL."""
    f = fake()
    c = lm("-V", 4, "-i", "lmauto", "-c")
    c.connect(f.url)
    f.send(publish_packet(b"in/q1", b"x", qos=1, pid=3) + publish_packet(b"in/q2", b"y", qos=2, pid=4))
    assert f.wait_answers(2) == [(PUBACK, 3), (PUBREC, 4)]
    assert c.cmd("ack 3 1")["rc"] == ERR_INVAL
    assert c.cmd("ack 4 2")["rc"] == ERR_INVAL


@pytest.mark.parametrize("mode", ["thread", "ext", "wait"])
def test_ack_from_on_message(lm, fake, mode):
    """midge_client_ack called inside on_message: the answer goes out after the callback, in order."""
    f = fake()
    c = lm("-V", 4, "-i", "lmcb", "-c", "--ack-in-callback", mode=mode)
    c.ok("connect " + f.url)
    assert c.ok("wait connected %d" % (TIMEOUT * 1000))["rc"] == 0
    f.send(publish_packet(b"in/q1", b"a", qos=1, pid=21) + publish_packet(b"in/q2", b"b", qos=2, pid=22) +
           publish_packet(b"in/q0", b"c"))
    if mode == "wait":
        c.ok("drive 500")
    msgs = c.wait_events("msg", 3)
    assert [m.get("ackrc") for m in msgs] == [0, 0, None]
    if mode == "wait":
        c.ok("drive 300")
    assert f.wait_answers(2) == [(PUBACK, 21), (PUBREC, 22)]


def test_manual_ack_across_reconnect(lm, fake):
    """The connection ends with messages not acknowledged. QoS 2 acknowledged while disconnected: recorded, and
    the server's resend on the next connection of the session gets PUBREC without a second delivery. QoS 2 not
    acknowledged: its resend gets nothing until the ack. QoS 1 acknowledged while disconnected: dropped; its
    resend is delivered again and acknowledged on the new connection. With no session kept, the QoS 2 ids are
    forgotten: MIDGE_ERR_NOT_FOUND."""
    f = fake()
    c = lm("-V", 4, "-i", "lmrec", "-P", "-r", "1500,1500", "--manual-ack")
    c.connect(f.url)
    f.send(publish_packet(b"in/a", b"q2-acked-offline", qos=2, pid=5) +
           publish_packet(b"in/b", b"q2-acked-later", qos=2, pid=6) +
           publish_packet(b"in/c", b"q1", qos=1, pid=8))
    c.wait_events("msg", 3)
    f.close_connection()
    c.wait_events("disconnect", 1)
    assert c.ok("ack 5 2")["rc"] == 0
    assert c.ok("ack 8 1")["rc"] == 0  # dropped: the server sends it again
    assert len(c.events("connect")) == 1, "reconnected before the acks: backoff too short"
    assert f.answers(0) == []
    f.session_present = True
    c.wait_events("connect", 2)
    f.wait_connections(2)
    f.send(publish_packet(b"in/a", b"q2-acked-offline", qos=2, pid=5, dup=True) +
           publish_packet(b"in/b", b"q2-acked-later", qos=2, pid=6, dup=True) +
           publish_packet(b"in/c", b"q1", qos=1, pid=8, dup=True))
    assert f.wait_answers(1, conn=1) == [(PUBREC, 5)]
    msgs = c.wait_events("msg", 4)
    assert [(m["mid"], m["dup"]) for m in msgs[3:]] == [(8, True)]
    quiet()
    assert f.answers(1) == [(PUBREC, 5)]
    assert c.ok("ack 6 2")["rc"] == 0
    assert c.ok("ack 8 1")["rc"] == 0
    assert f.wait_answers(3, conn=1) == [(PUBREC, 5), (PUBREC, 6), (PUBACK, 8)]
    f.send(pubrel(5) + pubrel(6))
    assert f.wait_answers(5, conn=1)[3:] == [(PUBCOMP, 5), (PUBCOMP, 6)]
    # A QoS 2 message the server's lost session held: forgotten.
    f.send(publish_packet(b"in/d", b"lost", qos=2, pid=30))
    c.wait_events("msg", 5)
    f.session_present = False
    f.close_connection()
    c.wait_events("connect", 3)
    assert c.cmd("ack 30 2")["rc"] == ERR_NOT_FOUND
    assert len(c.messages()) == 5


# ---------------------------------------------------------------- manual acknowledgements, real broker

@pytest.mark.parametrize("version", [4, 5])
def test_manual_ack_with_broker(broker, lm, proxy, version):
    """Through the broker: with manual_ack the subscriber sends no PUBACK/PUBREC until it acknowledges; then it
    does (PUBCOMP follows for QoS 2) and the publisher's messages are complete."""
    b = broker()
    p = proxy(b.port)
    sub = lm(*vargs(version, "lmmansub", "--manual-ack"))
    sub.connect(p.url)
    assert sub.subscribe(2, "lm/man/#") == [2]
    pub = lm(*vargs(version, "lmmanpub"))
    pub.connect(url(b.port))
    pub.ok("pub lm/man/1 1 0 one")
    pub.ok("pub lm/man/2 2 0 two")
    msgs = sub.wait_events("msg", 2)
    assert [m["qos"] for m in msgs] == [1, 2]
    quiet(0.5)
    assert p.client_packets(1, PUBACK) == [] and p.client_packets(1, PUBREC) == []
    sub.ok("ack %d 2" % msgs[1]["mid"])
    sub.ok("ack %d 1" % msgs[0]["mid"])
    # The PUBCOMP may go out before the PUBACK of the second command when the machine is busy: both are waited for.
    wait_for(lambda: p.client_packets(1, PUBCOMP) and p.client_packets(1, PUBACK), TIMEOUT, what="PUBCOMP and PUBACK")
    acks = [(x[1], x[3]) for x in p.client_packets(1) if x[1] in (PUBACK, PUBREC)]
    assert acks == [(PUBREC, msgs[1]["mid"]), (PUBACK, msgs[0]["mid"])]
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    quiet()
    assert len(sub.messages()) == 2


@pytest.mark.parametrize("version", [4, 5])
def test_manual_ack_broker_resends_after_reconnect(broker, lm, proxy, version):
    """Unacknowledged when the connection drops: the broker resends both on the kept session. The QoS 1 message
    is delivered again (at least once) and acknowledged on the new connection; the QoS 2 one is not delivered
    twice, and its acknowledgement, given while disconnected, answers the resend with PUBREC."""
    b = broker()
    p = proxy(b.port)
    sub = lm(*vargs(version, "lmmanre", "-r", "1500,1500", "--manual-ack", persistent=True))
    sub.connect(p.url)
    assert sub.subscribe(2, "lm/mre/#") == [2]
    pub = lm(*vargs(version, "lmmanrepub"))
    pub.connect(url(b.port))
    pub.ok("pub lm/mre/1 1 0 one")
    pub.ok("pub lm/mre/2 2 0 two")
    msgs = sub.wait_events("msg", 2)
    q1, q2 = msgs[0]["mid"], msgs[1]["mid"]
    p.cut()
    sub.wait_events("disconnect", 1)
    assert sub.ok("ack %d 2" % q2)["rc"] == 0
    assert sub.ok("ack %d 1" % q1)["rc"] == 0  # dropped
    assert len(sub.events("connect")) == 1, "reconnected before the acks: backoff too short"
    assert sub.wait_events("connect", 2)[-1]["sp"] is True
    again = sub.wait_events("msg", 3)[2]
    assert (again["payload"], again["qos"], again["mid"], again["dup"]) == (b"one".hex(), 1, q1, True)
    wait_for(lambda: p.client_packets(2, PUBCOMP), TIMEOUT, what="PUBCOMP on the new connection")
    assert [x[3] for x in p.client_packets(2, PUBREC)] == [q2]
    assert p.client_packets(1, PUBACK) == [] and p.client_packets(2, PUBACK) == []
    sub.ok("ack %d 1" % q1)
    wait_for(lambda: p.client_packets(2, PUBACK), TIMEOUT, what="PUBACK on the new connection")
    assert [x[3] for x in p.client_packets(2, PUBACK)] == [q1]
    quiet(0.5)
    assert [bytes.fromhex(m["payload"]) for m in sub.messages()] == [b"one", b"two", b"one"]
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
