"""13 libmidge, the client library, end to end against the real broker (or Mosquitto with
MIDGE_TEST_BROKER=mosquitto). The client is tests/integration/clientlib/lmclient.c, built by CMake into
<build>/tests/clientlib: commands on its stdin, one JSON line per callback on its stdout.

Link failures are made deterministic with Proxy, a TCP relay between the client and the broker that
reads the MQTT packets going each way: it can refuse connections, drop packets of some types from the
broker, and cut connections; it records what the client sent (packet types, ids, DUP)."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import IS_MOSQUITTO, ROOT, SANITIZE, check_sanitizer_text, free_port, wait_for

BUILD = os.environ.get("MIDGE_BUILD") or os.path.join(ROOT, "build")
LMCLIENT = os.path.join(BUILD, "tests", "clientlib", "lmclient")

PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, PINGREQ, PINGRESP = 3, 4, 5, 6, 7, 12, 13
ERR_INVAL, ERR_IO, ERR_AGAIN, ERR_TOO_LARGE, ERR_TIMEOUT, ERR_NOT_SUPPORTED = -2, -3, -10, -7, -11, -12
P_CONTENT_TYPE, P_RESPONSE_TOPIC, P_CORRELATION, P_USER = 3, 8, 9, 38
P_ASSIGNED_ID, P_SERVER_KEEP_ALIVE, P_RECEIVE_MAX, P_MAX_PACKET = 18, 19, 33, 39

TIMEOUT = 30 if SANITIZE else 15


# ---------------------------------------------------------------- the client program

class Lm:
    """One lmclient process. cmd() sends a command and returns its result ("ret" event); the
    callbacks' events are collected in order and looked at with events()/wait_events()."""

    def __init__(self, args, mode="thread"):
        if not os.access(LMCLIENT, os.X_OK):
            pytest.fail("%s not built (set MIDGE_BUILD)" % LMCLIENT, pytrace=False)
        self.proc = subprocess.Popen([LMCLIENT, "-m", mode] + [str(a) for a in args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.cond = threading.Condition()
        self.all = []
        self.rets_taken = 0
        self.stderr = b""
        self.t_out = threading.Thread(target=self._read, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()
        ready = self._next_ret(TIMEOUT)
        assert ready["cmd"] == "ready", ready

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line.decode("utf-8"))
            with self.cond:
                self.all.append(ev)
                self.cond.notify_all()

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def _next_ret(self, timeout):
        with self.cond:
            def ready():
                return len([e for e in self.all if e["ev"] == "ret"]) > self.rets_taken
            assert self.cond.wait_for(ready, timeout), "lmclient: no answer within %ss; events: %r" % (
                timeout, self.all[-10:])
            r = [e for e in self.all if e["ev"] == "ret"][self.rets_taken]
            self.rets_taken += 1
            return r

    def cmd(self, line, timeout=TIMEOUT):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        r = self._next_ret(timeout)
        assert r["cmd"] == line.split()[0], (line, r)
        return r

    def ok(self, line, timeout=TIMEOUT):
        r = self.cmd(line, timeout)
        assert r["rc"] == 0, (line, r)
        return r

    def events(self, ev, **match):
        with self.cond:
            return [e for e in self.all if e["ev"] == ev and all(e.get(k) == v for k, v in match.items())]

    def wait_events(self, ev, n, timeout=TIMEOUT, **match):
        """Waits until at least n events of kind ev (with the given fields) came; returns them all."""
        with self.cond:
            def enough():
                return len([e for e in self.all if e["ev"] == ev and
                            all(e.get(k) == v for k, v in match.items())]) >= n
            if not self.cond.wait_for(enough, timeout):
                raise AssertionError("lmclient: %d %r events of %d wanted within %ss; last: %r" % (
                    len(self.events(ev, **match)), ev, n, timeout, self.all[-8:]))
        return self.events(ev, **match)

    def connect(self, url, expect_sp=None):
        n = len(self.events("connect"))
        self.ok("connect " + url)
        self.ok("wait connected %d" % (TIMEOUT * 1000))
        ev = self.wait_events("connect", n + 1)[-1]
        assert ev["rc"] == 0
        if expect_sp is not None:
            assert ev["sp"] is expect_sp
        return ev

    def subscribe(self, options, *filters):
        mid = self.ok("sub %s %s" % (options, " ".join(filters)))["mid"]
        return self.wait_events("suback", 1, mid=mid)[0]["codes"]

    def messages(self):
        return self.events("msg")

    def payloads(self):
        return [bytes.fromhex(m["payload"]).decode() for m in self.messages()]

    def close(self, timeout=TIMEOUT):
        """quit (destroy without DISCONNECT) and check a clean exit, sanitizers included."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("lmclient did not exit within %ss" % timeout)
        self.t_err.join(5)
        text = self.stderr.decode("utf-8", "replace")
        check_sanitizer_text(text)
        assert self.proc.returncode == 0, "lmclient exit code %s\n%s" % (self.proc.returncode, text[-5000:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def lm():
    """Factory: lm(*args, mode="thread") -> Lm; all closed (and checked) at teardown."""
    made = []

    def make(*args, mode="thread"):
        c = Lm(list(args), mode)
        made.append(c)
        return c

    yield make
    errors = []
    for c in made:
        try:
            c.close()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            c.kill()
    if errors:
        pytest.fail("lmclient teardown: " + "\n".join(errors), pytrace=False)


def url(port):
    return "mqtt://127.0.0.1:%d" % port


def vargs(version, cid, *more, persistent=False):
    """Options of a client of this version; persistent: a session that outlives the connection."""
    a = ["-V", version, "-i", cid]
    if persistent:
        a += ["-P"] + (["-x", 300] if version == 5 else [])
    else:
        a += ["-c"]
    return a + list(more)


# ---------------------------------------------------------------- the proxy

def split_packet(buf):
    """(packet, rest) when buf starts with a whole MQTT packet, else None."""
    if len(buf) < 2:
        return None
    rem, mult, i = 0, 1, 1
    while True:
        if i >= len(buf):
            return None
        b = buf[i]
        rem += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            break
    if len(buf) < i + rem:
        return None
    return buf[:i + rem], buf[i + rem:]


def packet_info(p):
    """(type, flags, packet id or None) of one whole packet."""
    ptype, flags = p[0] >> 4, p[0] & 15
    i = 1
    while p[i] & 0x80:
        i += 1
    body = p[i + 1:]
    pid = None
    if ptype == PUBLISH and (flags >> 1) & 3:
        tlen = int.from_bytes(body[0:2], "big")
        pid = int.from_bytes(body[2 + tlen:4 + tlen], "big")
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP, 8, 9, 10, 11):
        pid = int.from_bytes(body[0:2], "big")
    return ptype, flags, pid


class Proxy:
    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.refuse = False
        self.drop_s2c = set()
        self.sent = []      # (connection number, type, flags, packet id) of what the client sent
        self.dropped = []   # (connection number, type, packet id) held back from the client
        self.socks = []
        self.nconn = 0
        self.inflight = set()
        self.max_inflight = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return url(self.port)

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.refuse or self.closed:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.nconn += 1
                n = self.nconn
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(n, c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(n, u, c, False), daemon=True).start()

    def _keep(self, n, p, c2s):
        """Records p; False when it is to be dropped."""
        ptype, flags, pid = packet_info(p)
        with self.lock:
            if c2s:
                self.sent.append((n, ptype, flags, pid))
                if ptype == PUBLISH and pid is not None:
                    self.inflight.add((n, pid))
                    self.max_inflight = max(self.max_inflight, len([k for k in self.inflight if k[0] == n]))
                return True
            if ptype in self.drop_s2c:
                self.dropped.append((n, ptype, pid))
                return False
            if ptype in (PUBACK, PUBCOMP) or (ptype == PUBREC and len(p) > 4 and p[4] >= 0x80):
                self.inflight.discard((n, pid))
            return True

    def _pump(self, n, src, dst, c2s):
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                out = b""
                while True:
                    got = split_packet(buf)
                    if got is None:
                        break
                    p, buf = got
                    if self._keep(n, p, c2s):
                        out += p
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def client_packets(self, conn=None, ptype=None):
        with self.lock:
            return [x for x in self.sent if (conn is None or x[0] == conn) and (ptype is None or x[1] == ptype)]

    def cut(self):
        """Closes every relayed connection (both sides)."""
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.closed = True
        self.lsock.close()
        self.cut()


@pytest.fixture
def proxy():
    made = []

    def make(port):
        p = Proxy(port)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def v5_props():
    return "ct=text/plain rt=lm/reply cd=00ff10 u=k=v1 u=k=v2 u=name=%C3%A9"


def check_v5_props(props):
    got = [(p["id"], p.get("s") or p.get("hex") or (p.get("k"), p.get("v"))) for p in props]
    assert (P_CONTENT_TYPE, "text/plain") in got
    assert (P_RESPONSE_TOPIC, "lm/reply") in got
    assert (P_CORRELATION, "00ff10") in got
    users = [x[1] for x in got if x[0] == P_USER]
    assert users == [("k", "v1"), ("k", "v2"), ("name", "%C3%A9")], users


# ---------------------------------------------------------------- publish / subscribe

@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", [3, 4, 5])
def test_pubsub(broker, lm, version, qos):
    """Connect, subscribe and publish at each QoS and protocol version; messages arrive once, in
    order, at their QoS; on_publish reports each; MQTT 5 properties (user properties in order,
    content type, response topic, correlation data) arrive as sent."""
    b = broker()
    sub = lm(*vargs(version, "lmsub%d%d" % (version, qos)))
    sub.connect(url(b.port), expect_sp=False)
    assert sub.subscribe(qos, "lm/t/#") == [qos]
    pub = lm(*vargs(version, "lmpub%d%d" % (version, qos)))
    pub.connect(url(b.port))
    n = 10
    mids = []
    for i in range(n):
        props = " " + v5_props() if version == 5 else ""
        mids.append(pub.ok("pub lm/t/%d %d 0 m%d%s" % (i, qos, i, props))["mid"])
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    done = pub.wait_events("published", n)
    assert sorted(e["mid"] for e in done) == sorted(mids) and all(e["rc"] == 0 for e in done)
    msgs = sub.wait_events("msg", n)
    time.sleep(0.2)
    msgs = sub.messages()
    assert [m["topic"] for m in msgs] == ["lm/t/%d" % i for i in range(n)]
    assert sub.payloads() == ["m%d" % i for i in range(n)]
    assert all(m["qos"] == qos and m["nul"] and not m["retain"] and not m["dup"] for m in msgs)
    assert all((m["mid"] != 0) == (qos > 0) for m in msgs)
    for m in msgs:
        if version == 5:
            check_v5_props(m["props"])
        else:
            assert m["props"] is None
    pub.ok("disconnect")
    assert pub.ok("wait disconnected 5000")["rc"] == 0
    assert pub.events("disconnect")[-1]["rc"] == 0


@pytest.mark.parametrize("version", [4, 5])
def test_retain_and_unsubscribe(broker, lm, version):
    """A retained message reaches a later subscriber with the retain flag; UNSUBACK comes (with
    reason codes in MQTT 5) and nothing arrives after it."""
    b = broker()
    pub = lm(*vargs(version, "lmrp"))
    pub.connect(url(b.port))
    pub.ok("pub lm/r 1 1 kept")
    assert pub.ok("wait published 5000")["rc"] == 0
    sub = lm(*vargs(version, "lmrs"))
    sub.connect(url(b.port))
    assert sub.subscribe(1, "lm/r") == [1]
    m = sub.wait_events("msg", 1)[0]
    assert m["retain"] is True and bytes.fromhex(m["payload"]) == b"kept"
    mid = sub.ok("unsub lm/r")["mid"]
    codes = sub.wait_events("unsuback", 1, mid=mid)[0]["codes"]
    assert codes == ([0] if version == 5 else [])
    pub.ok("pub lm/r 1 1 -")  # clears the retained message
    assert pub.ok("wait published 5000")["rc"] == 0
    time.sleep(0.3)
    assert len(sub.messages()) == 1


def test_v5_connack_limits(broker, lm, proxy):
    """MQTT 5 CONNACK properties are honoured: Receive Maximum bounds the QoS 1/2 messages in flight
    (as counted on the wire), a publish over Maximum Packet Size is refused with
    MIDGE_ERR_TOO_LARGE, Server Keep Alive and an Assigned Client Identifier are reported."""
    b = broker(conf="max_inflight_messages 3\nmax_packet_size 300\nmax_keepalive 10\n")
    p = proxy(b.port)
    c = lm("-V", 5, "-i", "", "-c", "-k", 60)
    ev = c.connect(p.url)
    props = {x["id"]: x.get("n", x.get("s")) for x in ev["props"]}
    assert props[P_RECEIVE_MAX] == 3
    assert props[P_MAX_PACKET] == 300
    assert props[P_SERVER_KEEP_ALIVE] == 10
    assert props[P_ASSIGNED_ID]
    assert c.cmd("pubbig lm/big 1 400")["rc"] == ERR_TOO_LARGE
    assert c.ok("pubbig lm/big 1 200")
    c.ok("pubn lm/w 2 30 x")
    c.ok("pubn lm/w 1 30 y")
    assert c.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    assert len(c.wait_events("published", 61)) == 61
    # Nobody subscribes: 0x10 (No matching subscribers) is a success too.
    assert all(e["rc"] in (0, 0x10) for e in c.events("published"))
    assert p.max_inflight == 3, p.max_inflight
    assert c.events("disconnect") == []


def test_v5_assigned_id_resumes_session(broker, lm, proxy):
    """An MQTT 5 client without an identifier keeps the one the broker assigned, so its
    reconnect (after a cut connection) resumes the session: Session Present, subscription kept."""
    b = broker()
    p = proxy(b.port)
    c = lm("-V", 5, "-i", "", "-P", "-x", 300, "-r", "100,400")
    c.connect(p.url, expect_sp=False)
    assert c.subscribe(1, "lm/as") == [1]
    p.cut()
    c.wait_events("disconnect", 1)
    ev = c.wait_events("connect", 2)[-1]
    assert ev["rc"] == 0 and ev["sp"] is True
    pub = lm(*vargs(5, "lmaspub"))
    pub.connect(url(b.port))
    pub.ok("pub lm/as 1 0 still-there")
    assert c.wait_events("msg", 1)[0]["payload"] == b"still-there".hex()


# ---------------------------------------------------------------- reconnect, queue, resend

@pytest.mark.parametrize("qos", [1, 2])
@pytest.mark.parametrize("version", [4, 5])
def test_offline_queue_across_restart(broker, lm, proxy, version, qos):
    """The broker stops; messages published meanwhile wait in the offline queue (wait published
    keeps waiting while a reconnect is due) and go, in order and once, after it comes back."""
    b = broker()
    p = proxy(b.port)
    pub = lm(*vargs(version, "lmoq", "-r", "100,400", persistent=True))
    pub.connect(p.url)
    b.stop()
    ev = pub.wait_events("disconnect", 1)[0]
    if version == 5 and not IS_MOSQUITTO:
        assert ev["rc"] == 0x8B  # Server shutting down
    else:
        assert ev["rc"] in (0x8B, -4)
    p.refuse = True
    pub.ok("pubn lm/q %d 20 q" % qos)
    assert pub.cmd("wait published 300")["rc"] == ERR_TIMEOUT
    assert pub.events("published") == []
    b.start()
    sub = lm(*vargs(version, "lmoqsub"))
    sub.connect(url(b.port))
    assert sub.subscribe(qos, "lm/q") == [qos]
    p.refuse = False
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    sub.wait_events("msg", 20)
    time.sleep(0.3)
    assert sub.payloads() == ["q-%d" % i for i in range(20)]
    assert pub.events("connect")[-1]["sp"] is False  # the restarted broker kept nothing


@pytest.mark.parametrize("version", [4, 5])
def test_unacknowledged_resent_after_kill(broker, lm, proxy, version):
    """QoS 1 and 2 messages written to a broker that then dies (SIGSTOP, kill -9) before
    acknowledging them are sent again after the restart, with their packet ids; the new broker has
    no session (Session Present 0), so they go as new messages (no DUP) and arrive once each."""
    b = broker()
    p = proxy(b.port)
    pub = lm(*vargs(version, "lmkill", "-r", "100,400", persistent=True))
    pub.connect(p.url)
    os.kill(b.pid, signal.SIGSTOP)
    try:
        pub.ok("pubn lm/k 1 5 a")
        pub.ok("pubn lm/k 2 5 b")
        wait_for(lambda: len(p.client_packets(1, PUBLISH)) == 10, TIMEOUT, what="10 PUBLISH written")
        p.refuse = True
    finally:
        b.kill()
    pub.wait_events("disconnect", 1)
    first = {x[3] for x in p.client_packets(1, PUBLISH)}
    b.start()
    sub = lm(*vargs(version, "lmkillsub"))
    sub.connect(url(b.port))
    assert sub.subscribe(2, "lm/k") == [2]
    p.refuse = False
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    sub.wait_events("msg", 10)
    time.sleep(0.3)
    assert sorted(sub.payloads()) == sorted(["a-%d" % i for i in range(5)] + ["b-%d" % i for i in range(5)])
    conn = p.client_packets()[-1][0]
    again = p.client_packets(conn, PUBLISH)
    assert {x[3] for x in again} == first
    assert all(not x[2] & 0x08 for x in again)  # no DUP: the session is new
    assert pub.events("connect")[-1]["sp"] is False


@pytest.mark.parametrize("version", [4, 5])
def test_unacknowledged_resent_with_dup(broker, lm, proxy, version):
    """The connection drops while QoS 1 and 2 messages wait for PUBACK/PUBREC; the broker keeps the
    persistent session, so after the reconnect (Session Present 1) the client resends them with DUP
    and the same packet ids: QoS 2 ones arrive exactly once, QoS 1 ones at least once."""
    b = broker()
    p = proxy(b.port)
    sub = lm(*vargs(version, "lmdupsub"))
    sub.connect(url(b.port))
    assert sub.subscribe(2, "lm/d") == [2]
    pub = lm(*vargs(version, "lmdup", "-r", "100,400", persistent=True))
    pub.connect(p.url, expect_sp=False)
    p.drop_s2c = {PUBACK, PUBREC}
    pub.ok("pubn lm/d 1 5 one")
    pub.ok("pubn lm/d 2 5 two")
    wait_for(lambda: len(p.dropped) == 10, TIMEOUT, what="10 acknowledgements held back")
    first = sorted(x[3] for x in p.client_packets(1, PUBLISH))
    assert all(not x[2] & 0x08 for x in p.client_packets(1, PUBLISH))
    p.drop_s2c = set()
    p.cut()
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    assert pub.events("connect")[-1]["sp"] is True
    again = p.client_packets(2, PUBLISH)
    assert sorted(x[3] for x in again) == first
    assert all(x[2] & 0x08 for x in again), again  # DUP
    sub.wait_events("msg", 10)
    time.sleep(0.5)
    got = sub.payloads()
    assert sorted(x for x in got if x.startswith("two")) == ["two-%d" % i for i in range(5)]
    assert {x for x in got if x.startswith("one")} == {"one-%d" % i for i in range(5)}
    assert all(e["rc"] == 0 for e in pub.events("published"))
    assert len(pub.events("published")) == 10


@pytest.mark.parametrize("version", [4, 5])
def test_pubrel_resent(broker, lm, proxy, version):
    """The connection drops after PUBREC, while PUBCOMP is awaited: after the reconnect to the kept
    session the client sends PUBREL again (same ids), not the PUBLISH; each message arrives once."""
    b = broker()
    p = proxy(b.port)
    sub = lm(*vargs(version, "lmrelsub"))
    sub.connect(url(b.port))
    assert sub.subscribe(2, "lm/rel") == [2]
    pub = lm(*vargs(version, "lmrel", "-r", "100,400", persistent=True))
    pub.connect(p.url)
    p.drop_s2c = {PUBCOMP}
    pub.ok("pubn lm/rel 2 5 r")
    wait_for(lambda: len(p.dropped) == 5, TIMEOUT, what="5 PUBCOMP held back")
    ids = sorted(x[3] for x in p.client_packets(1, PUBREL))
    assert len(ids) == 5
    p.drop_s2c = set()
    p.cut()
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    assert pub.events("connect")[-1]["sp"] is True
    assert sorted(x[3] for x in p.client_packets(2, PUBREL)) == ids
    assert p.client_packets(2, PUBLISH) == []
    sub.wait_events("msg", 5)
    time.sleep(0.5)
    assert sub.payloads() == ["r-%d" % i for i in range(5)]


def test_keepalive_timeout_and_reconnect(broker, lm, proxy):
    """Keepalive 1 s: the client sends PINGREQ; when no PINGRESP comes it gives up after 1.5 s of
    silence (MIDGE_ERR_TIMEOUT through on_disconnect), then reconnects with backoff."""
    b = broker()
    p = proxy(b.port)
    c = lm("-V", 4, "-i", "lmka", "-c", "-k", 1, "-r", "200,400")
    c.connect(p.url)
    wait_for(lambda: p.client_packets(1, PINGREQ), 5, what="PINGREQ")
    p.drop_s2c = {PINGRESP}
    t0 = time.monotonic()
    ev = c.wait_events("disconnect", 1, timeout=10)[0]
    took = time.monotonic() - t0
    assert ev["rc"] == ERR_TIMEOUT
    assert 0.4 < took < 5, took
    p.drop_s2c = set()
    assert c.wait_events("connect", 2, timeout=10)[-1]["rc"] == 0


def fake_server(script, got=None):
    """A one-connection server on a free port: reads the CONNECT, then sends the packets of script
    (bytes) and keeps the connection open until the client closes it, appending (type, flags, id,
    packet) of each packet the client sent after the CONNECT to got. Returns (port, thread)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = [] if got is None else got

    def run():
        c, _ = srv.accept()
        srv.close()
        c.settimeout(TIMEOUT)
        buf = b""
        try:
            while split_packet(buf) is None:
                buf += c.recv(4096)
            _, buf = split_packet(buf)
            c.sendall(script)
            while True:
                while split_packet(buf) is not None:
                    pkt, buf = split_packet(buf)
                    got.append(packet_info(pkt) + (pkt,))
                data = c.recv(4096)
                if not data:
                    break
                buf += data
        except OSError:
            pass
        c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv.getsockname()[1], t


def mqtt_str(b):
    return len(b).to_bytes(2, "big") + b


def publish_packet(topic, payload, qos=0, pid=None, dup=False, props=None):
    body = mqtt_str(topic) + (pid.to_bytes(2, "big") if qos else b"")
    if props is not None:
        body += bytes([len(props)]) + props
    body += payload
    return bytes([0x30 | (0x08 if dup else 0) | qos << 1, len(body)]) + body


def test_incoming_qos2_delivered_once(lm):
    """An incoming QoS 2 message is delivered at its PUBLISH and once only: the same packet id sent
    again (DUP) before PUBREL is answered with PUBREC but not delivered; PUBREL gets PUBCOMP."""
    pub = publish_packet(b"in/q2", b"once", qos=2, pid=7)
    script = bytes([0x20, 2, 0, 0]) + pub + publish_packet(b"in/q2", b"once", qos=2, pid=7, dup=True) + \
        bytes([0x62, 2, 0, 7])
    got = []
    port, t = fake_server(script, got)
    c = lm("-V", 4, "-i", "lmin2", "-c")
    c.connect(url(port))
    m = c.wait_events("msg", 1)[0]
    assert (m["topic"], m["qos"], m["mid"], bytes.fromhex(m["payload"])) == ("in/q2", 2, 7, b"once")
    wait_for(lambda: any(x[0] == PUBCOMP for x in got), TIMEOUT, what="PUBCOMP")
    time.sleep(0.2)
    assert len(c.messages()) == 1
    assert [(x[0], x[2]) for x in got] == [(PUBREC, 7), (PUBREC, 7), (PUBCOMP, 7)]


def test_incoming_topic_alias(lm):
    """With a Topic Alias Maximum in its CONNECT properties the client takes the broker's aliases:
    an alias set with a topic stands for it in later PUBLISH packets with an empty topic."""
    alias = b"\x23\x00\x01"
    script = bytes([0x20, 3, 0, 0, 0]) + publish_packet(b"in/alias", b"1", props=alias) + \
        publish_packet(b"", b"2", props=alias)
    port, t = fake_server(script)
    c = lm("-V", 5, "-i", "lmalias", "-c", "-C", "0x22=5")
    c.connect(url(port))
    msgs = c.wait_events("msg", 2)
    assert [(m["topic"], bytes.fromhex(m["payload"])) for m in msgs] == [("in/alias", b"1"), ("in/alias", b"2")]


def test_unexpected_topic_alias_is_a_protocol_error(lm):
    """An alias the client did not allow ends the connection with MIDGE_ERR_PROTOCOL; an MQTT 5
    client tells the server why (DISCONNECT 0x82)."""
    script = bytes([0x20, 3, 0, 0, 0]) + publish_packet(b"in/alias", b"1", props=b"\x23\x00\x01")
    got = []
    port, t = fake_server(script, got)
    c = lm("-V", 5, "-i", "lmnoalias", "-c")
    c.ok("connect " + url(port))  # the connection may end before a wait for it would start
    assert c.wait_events("connect", 1)[0]["rc"] == 0
    assert c.wait_events("disconnect", 1)[0]["rc"] == -6
    t.join(TIMEOUT)
    assert c.messages() == []
    assert [x[0] for x in got] == [14] and got[0][3][2] == 0x82


def test_server_disconnect_reason_and_props(lm):
    """A DISCONNECT from an MQTT 5 server reaches on_disconnect with its reason code and properties
    (here 0x98 Administrative action with a Reason String), and the wait for the end returns it."""
    reason = b"\x1f\x00\x06closed"  # Reason String "closed"
    connack = bytes([0x20, 3, 0, 0, 0])
    disconnect = bytes([0xE0, 2 + len(reason), 0x98, len(reason)]) + reason
    port, t = fake_server(connack + disconnect)
    c = lm("-V", 5, "-i", "lmfake", "-c")
    c.ok("connect " + url(port))
    assert c.wait_events("connect", 1)[0]["rc"] == 0
    ev = c.wait_events("disconnect", 1)[0]
    assert ev["rc"] == 0x98
    assert ev["props"] == [{"id": 0x1F, "s": "closed"}]
    assert c.cmd("wait disconnected 1000")["rc"] == 0x98
    t.join(TIMEOUT)


@pytest.mark.midge_only  # Mosquitto 2.0.11 closes a taken-over MQTT 5 connection without DISCONNECT 0x8E
def test_broker_disconnect_reason(broker, lm):
    """A DISCONNECT from an MQTT 5 broker reaches on_disconnect with its reason: a second client
    with the same identifier takes the session over (0x8E)."""
    b = broker()
    a = lm("-V", 5, "-i", "lmtake", "-c")
    a.connect(url(b.port))
    other = lm("-V", 5, "-i", "lmtake", "-c")
    other.connect(url(b.port))
    ev = a.wait_events("disconnect", 1)[0]
    assert ev["rc"] == 0x8E
    assert isinstance(ev["props"], list)
    assert a.cmd("wait disconnected 1000")["rc"] == 0x8E


# ---------------------------------------------------------------- ways to drive the loop

@pytest.mark.parametrize("version", [4, 5])
def test_external_loop(broker, lm, version):
    """The application's own poll loop drives the client (midge_client_socket, _want_write,
    _wakeup_fd, _loop_read/_write/_misc); publishes from other threads wake it through the eventfd."""
    b = broker()
    c = lm(*vargs(version, "lmext"), mode="ext")
    c.ok("connect " + url(b.port))
    assert c.wait_events("connect", 1)[0]["rc"] == 0
    mid = c.ok("sub 1 lm/e")["mid"]
    c.wait_events("suback", 1, mid=mid)
    c.ok("pubn lm/e 1 50 main")
    c.ok("tpub lm/e 1 50 3 thr")
    c.wait_events("tpub_done", 1)
    c.wait_events("published", 200)
    c.wait_events("msg", 200)
    want = {"main-%d" % i for i in range(50)} | {"thr-%d-%d" % (t, i) for t in range(3) for i in range(50)}
    assert sorted(c.payloads()) == sorted(want)


def test_wait_drives_the_loop(broker, lm):
    """Without the library's thread or an outside loop, midge_client_wait runs the loop itself."""
    b = broker()
    c = lm(*vargs(4, "lmwait"), mode="wait")
    c.ok("connect " + url(b.port))
    assert c.ok("wait connected 5000")["rc"] == 0
    c.ok("sub 2 lm/w")
    c.ok("pubn lm/w 2 20 w")
    assert c.ok("wait published 10000")["rc"] == 0
    c.ok("drive 500")
    assert c.payloads() == ["w-%d" % i for i in range(20)]
    c.ok("disconnect")
    assert c.ok("wait disconnected 5000")["rc"] == 0
    assert c.events("disconnect")[-1]["rc"] == 0


def test_four_threads_1000_messages_each(broker, lm):
    """4 threads publish 1000 QoS 1 messages each through one client at once: every one is
    acknowledged (on_publish once per message id) and arrives exactly once."""
    b = broker(conf="max_queued_messages 10000\n", verbose=False)
    sub = lm(*vargs(4, "lmmtsub"))
    sub.connect(url(b.port))
    assert sub.subscribe(1, "lm/mt") == [1]
    pub = lm(*vargs(4, "lmmtpub"))
    pub.connect(url(b.port))
    pub.ok("tpub lm/mt 1 1000 4 p")
    done = pub.wait_events("tpub_done", 1, timeout=60)[0]
    assert done["rc"] == 0
    assert pub.ok("wait published 60000", timeout=70)["rc"] == 0
    published = pub.wait_events("published", 4000)
    mids = [e["mid"] for e in published]
    assert len(mids) == 4000 and len(set(mids)) == 4000
    sub.wait_events("msg", 4000, timeout=60)
    time.sleep(0.5)
    got = sub.payloads()
    assert len(got) == 4000, len(got)
    assert set(got) == {"p-%d-%d" % (t, i) for t in range(4) for i in range(1000)}
    for t in range(4):  # each thread's messages in its order
        mine = [x for x in got if x.startswith("p-%d-" % t)]
        assert mine == ["p-%d-%d" % (t, i) for i in range(1000)]


def test_stop_flushes_then_disconnect(broker, lm):
    """midge_client_stop with flush returns once every queued message is acknowledged (their
    on_publish ran); a clean DISCONNECT afterwards means no will."""
    b = broker()
    watch = lm(*vargs(4, "lmwatch"))
    watch.connect(url(b.port))
    watch.subscribe(1, "lm/will", "lm/s")
    c = lm("-V", 4, "-i", "lmstop", "-c", "-w", "lm/will:gone:1:0")
    c.connect(url(b.port))
    c.ok("pubn lm/s 1 100 s")
    assert c.ok("stop 10000")["rc"] == 0
    assert len(c.events("published")) == 100
    c.ok("disconnect")
    assert c.ok("wait disconnected 5000")["rc"] == 0
    watch.wait_events("msg", 100)
    time.sleep(0.5)
    assert "gone" not in watch.payloads()


def test_will_after_destroy(broker, lm):
    """midge_client_destroy closes without DISCONNECT, so the broker publishes the will."""
    b = broker()
    watch = lm(*vargs(5, "lmwatch2"))
    watch.connect(url(b.port))
    watch.subscribe(1, "lm/will")
    c = lm("-V", 5, "-i", "lmwill", "-c", "-w", "lm/will:bye:1:0")
    c.connect(url(b.port))
    c.close()
    m = watch.wait_events("msg", 1)[0]
    assert bytes.fromhex(m["payload"]) == b"bye"


# ---------------------------------------------------------------- errors

def test_bad_urls_and_arguments(lm):
    """Malformed URLs (mqtts:// is test_21's, ws:// and wss:// test_13_libmidge_ws's), bad topics, QoS or
    properties: a clear error at once."""
    c = lm("-V", 5, "-i", "lmbad", "-c", "-Q", 3)
    for u in ("bad://host", "mqtt://", "mqtt://h:0", "mqtt://h:99999", "mqtt://h/path", "mqtt://[::1",
              "ws://h/a b", "wss://h/mqtt#x", "ws://:80/mqtt"):
        assert c.cmd("connect " + u)["rc"] == ERR_INVAL, u
    assert c.cmd("pub a/+ 1 0 x")["rc"] == ERR_INVAL
    assert c.cmd("pub a/b 3 0 x")["rc"] == ERR_INVAL
    assert c.cmd("pub a/b 1 0 x ta=1")["rc"] == ERR_INVAL  # the client never sends topic aliases
    assert c.cmd("sub 3 a/#")["rc"] == ERR_INVAL
    assert c.cmd("sub 1 a/#/b")["rc"] == ERR_INVAL
    # Not connected: publishes wait in the offline queue, up to max_queued.
    assert [c.cmd("pub a/b 1 0 x")["rc"] for _ in range(4)] == [0, 0, 0, ERR_AGAIN]
    assert c.cmd("wait connected 100")["rc"] == -4  # nothing to wait for: MIDGE_ERR_CLOSED
    assert c.cmd("disconnect")["rc"] == -4


def test_invalid_options(lm):
    r = subprocess.run([LMCLIENT, "-V", "7"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 1 and b'"cmd":"new","rc":-2' in r.stdout
    r = subprocess.run([LMCLIENT, "-V", "4", "-w", "a/+:x:1:0"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 1
    check_sanitizer_text(r.stderr.decode("utf-8", "replace"))


def test_unresolvable_host(lm):
    c = lm("-i", "lmdns", "-c", "-L")
    t0 = time.monotonic()
    assert c.cmd("connect mqtt://no-such-host.invalid:1883", timeout=60)["rc"] == ERR_IO
    assert time.monotonic() - t0 < 30


def test_refused_connection(lm):
    """Nothing listens: the attempt fails fast with MIDGE_ERR_IO, the log says why; with reconnect
    the attempts repeat with backoff until disconnect stops them."""
    port = free_port()
    c = lm("-i", "lmref", "-c", "-L")
    c.ok("connect " + url(port))
    t0 = time.monotonic()
    assert c.cmd("wait connected 10000")["rc"] == ERR_IO
    assert time.monotonic() - t0 < 5
    assert c.wait_events("disconnect", 1)[0]["rc"] == ERR_IO
    assert any("refused" in e["line"].lower() for e in c.events("log"))
    assert c.cmd("wait connected 100")["rc"] == ERR_IO  # no reconnect: it stays failed

    r = lm("-i", "lmref2", "-c", "-r", "50,100")
    r.ok("connect " + url(port))
    assert r.cmd("wait connected 10000")["rc"] == ERR_IO
    r.wait_events("disconnect", 4, timeout=10)
    r.ok("disconnect")
    assert r.ok("wait disconnected 1000")["rc"] in (0, ERR_IO)
    n = len(r.events("disconnect"))
    time.sleep(0.5)
    assert len(r.events("disconnect")) == n  # no more attempts


def test_connack_timeout(lm):
    """A server that accepts the TCP connection but never answers CONNACK: connect_timeout_ms."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    try:
        c = lm("-i", "lmslow", "-c", "-T", 500)
        c.ok("connect " + url(srv.getsockname()[1]))
        t0 = time.monotonic()
        assert c.cmd("wait connected 10000")["rc"] == ERR_TIMEOUT
        assert 0.3 < time.monotonic() - t0 < 5
    finally:
        srv.close()


def test_unreachable_address(lm):
    """An address that should not answer (a blackholed or unroutable network): connect_timeout_ms,
    an immediate network error, or (behind an intercepting proxy, as in some sandboxes) whatever
    error the non-MQTT answer gives; never a hang."""
    c = lm("-i", "lmunreach", "-c", "-T", 800)
    c.ok("connect mqtt://10.255.255.1:1883")
    t0 = time.monotonic()
    rc = c.cmd("wait connected 10000")["rc"]
    assert rc < 0
    assert time.monotonic() - t0 < 5
