"""36 Persistent sessions across the cluster's nodes (issue 12): a client with a persistent session that reconnects
to another node has its subscriptions there and gets what was published meanwhile, from the JetStream stream; a
clean start anywhere ends it everywhere. Faults under QoS 1 load: kill -9 of the subscriber's node, of the
publisher's node and of the NATS server leading the stream, SIGSTOP/SIGCONT of a NATS server; lost must be 0,
duplicates and recovery times are printed. Real nats-server processes (natsutil.py), real paho clients."""
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import wait_for
from natsutil import available, SKIP_REASON
from test_36_cluster_stream import stored3, stream_state  # noqa: F401 (stored3: a fixture)

pytestmark = [pytest.mark.midge_only, pytest.mark.skipif(not available(), reason=SKIP_REASON)]


class Persistent:
    """A paho client with a persistent session (MQTT 3.1.1, clean session 0) that can move between nodes. It keeps
    every payload it received, in order, with the time it came."""

    def __init__(self, client_id, topics=None, qos=1):
        self.id, self.topics, self.qos = client_id, topics, qos
        self.got = []
        self.times = []
        self.cond = threading.Condition()
        self.present = None
        self.c = None

    def connect(self, port, subscribe=True):
        self.c = mqtt.Client(client_id=self.id, clean_session=False)
        self.c.max_inflight_messages_set(20)
        self.c.on_message = self._on_message
        connected = threading.Event()
        subscribed = threading.Event()

        def on_connect(c, u, flags, rc):
            self.present = flags.get("session present")
            if subscribe and self.topics:
                c.subscribe([(t, self.qos) for t in self.topics])
            else:
                subscribed.set()
            connected.set()
        self.c.on_connect = on_connect
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        assert connected.wait(10) and subscribed.wait(20), "no CONNACK/SUBACK from %d" % port
        return self

    def _on_message(self, c, u, m):
        with self.cond:
            self.got.append(m.payload.decode())
            self.times.append(time.monotonic())
            self.cond.notify_all()

    def wait_all(self, want, timeout=30):
        with self.cond:
            ok = self.cond.wait_for(lambda: set(want) <= set(self.got), timeout)
        missing = set(want) - set(self.got)
        assert ok, "%d of %d missing, e.g. %s" % (len(missing), len(want), sorted(missing)[:5])

    def drop(self):
        """Gone without a word (the loop stops; the socket is closed as a dead node's would be)."""
        if self.c:
            self.c.loop_stop()
            try:
                self.c.socket().close()
            except Exception:
                pass
        self.c = None

    def disconnect(self):
        if self.c:
            self.c.disconnect()
            self.c.loop_stop()
        self.c = None


def publish(port, topic, payloads, qos=1):
    c = mqtt.Client()
    c.max_inflight_messages_set(20)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    infos = [c.publish(topic, p, qos) for p in payloads]
    for i in infos:
        i.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()


@pytest.fixture
def persistent():
    made = []

    def make(*a, **kw):
        p = Persistent(*a, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.disconnect()


def test_session_moves_with_its_client(stored3, persistent):
    """Subscribed on node 0, offline, reconnected to node 2 without subscribing: the session is there, with what
    was published meanwhile on node 1, and its subscription goes on."""
    _, nodes = stored3
    s = persistent("mover", ["ps/#"]).connect(nodes[0].port)
    s.disconnect()
    publish(nodes[1].port, "ps/a", ["off%d" % i for i in range(10)])
    s.connect(nodes[2].port, subscribe=False)
    assert s.present == 1
    s.wait_all(["off%d" % i for i in range(10)])
    publish(nodes[0].port, "ps/b", ["live%d" % i for i in range(5)])
    s.wait_all(["live%d" % i for i in range(5)])
    time.sleep(0.5)
    assert len(s.got) == 15, s.got  # once each
    assert s.got[:10] == ["off%d" % i for i in range(10)]  # in order


def test_clean_start_ends_it_everywhere(stored3, persistent):
    _, nodes = stored3
    s = persistent("cleaner", ["cs/#"]).connect(nodes[0].port)
    s.disconnect()
    publish(nodes[1].port, "cs/a", ["old"])
    c = mqtt.Client(client_id="cleaner", clean_session=True)
    c.connect("127.0.0.1", nodes[1].port, 30)
    c.loop_start()
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()
    time.sleep(1.0)  # the cluster's copy goes
    s.connect(nodes[2].port, subscribe=False)
    assert s.present == 0
    publish(nodes[0].port, "cs/a", ["new"])
    time.sleep(1.0)
    assert s.got == []


class Load:
    """A QoS 1 publisher in a thread: n messages "p<i>" on topic, paced, from one node; it can move to another
    node, sending again what was not acknowledged (what an application with at-least-once semantics does)."""

    def __init__(self, port, topic, n, gap=0.002):
        self.topic, self.n, self.gap = topic, n, gap
        self.acked = set()
        self.lock = threading.Lock()
        self.port = port
        self.moved = threading.Event()
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _client(self, port):
        c = mqtt.Client()
        c.max_inflight_messages_set(20)
        c.on_publish = lambda cl, u, mid: self._ack(mid)
        c.connect("127.0.0.1", port, 30)
        c.loop_start()
        return c

    def _ack(self, mid):
        # paho calls this holding its own lock, which publish() takes too: so publish() is never called under
        # self.lock, and an acknowledgement may come before its mid is recorded (kept in early).
        with self.lock:
            p = self.mids.pop(mid, None)
            if p is not None:
                self.acked.add(p)
            else:
                self.early.add(mid)

    def _publish(self, c, payload):
        mid = c.publish(self.topic, payload, 1).mid
        with self.lock:
            if mid in self.early:
                self.early.discard(mid)
                self.acked.add(payload)
            else:
                self.mids[mid] = payload

    def _run(self):
        self.mids = {}
        self.early = set()
        c = self._client(self.port)
        i = 0
        while i < self.n:
            if self.moved.is_set():
                c.loop_stop()
                c = self._client(self.new_port)
                self.moved.clear()
                with self.lock:
                    again = sorted(set("p%d" % k for k in range(i)) - self.acked, key=lambda p: int(p[1:]))
                    self.mids = {}
                    self.early = set()
                for p in again:
                    self._publish(c, p)
            self._publish(c, "p%d" % i)
            i += 1
            time.sleep(self.gap)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(self.acked) < self.n:
            if self.moved.is_set():
                break
            time.sleep(0.05)
        self.client = c
        self.done.set()

    def move(self, port):
        self.new_port = port
        self.moved.set()

    def finish(self):
        self.done.wait(90)
        self.client.loop_stop()
        self.client.disconnect()


def report(what, sub, total, t_fault, t_back):
    got = list(sub.got)
    dup = len(got) - len(set(got))
    after = [t for t in sub.times if t > (t_back or t_fault)]
    print("%s: %d published, %d received once, %d lost, %d duplicates; first message %.2f s after the fault" %
          (what, total, len(set(got)), total - len(set(got)), dup, (after[0] - t_fault) if after else -1))
    return dup


def test_fault_kill_subscriber_node(stored3, persistent):
    """kill -9 of the node a persistent QoS 1 subscriber is on, under load: it reconnects to another node, its
    session resumes there and nothing the publisher had acknowledged is lost."""
    _, nodes = stored3
    s = persistent("victim", ["load/#"]).connect(nodes[0].port)
    total = 1500
    load = Load(nodes[1].port, "load/x", total)
    load.t.start()
    with s.cond:
        assert s.cond.wait_for(lambda: len(s.got) >= 400, 30)
    t_fault = time.monotonic()
    nodes[0].kill()
    s.drop()
    s.connect(nodes[2].port, subscribe=False)
    t_back = time.monotonic()
    assert s.present == 1
    load.finish()
    assert len(load.acked) == total
    s.wait_all(["p%d" % i for i in range(total)], 60)
    report("kill -9 of the subscriber's node", s, total, t_fault, t_back)


def test_fault_kill_publisher_node(stored3, persistent):
    """kill -9 of the publisher's node: every message it had acknowledged reaches the persistent subscriber on
    another node; the publisher moves to a third node and sends the rest."""
    _, nodes = stored3
    s = persistent("watcher", ["pk/#"]).connect(nodes[1].port)
    total = 1500
    load = Load(nodes[0].port, "pk/x", total)
    load.t.start()
    wait_for(lambda: len(load.acked) >= 400, 30, what="400 acknowledged")
    t_fault = time.monotonic()
    nodes[0].kill()
    with load.lock:
        acked_before = set(load.acked)
    load.move(nodes[2].port)
    load.finish()
    s.wait_all(acked_before, 30)  # nothing acknowledged by the dead node is lost
    s.wait_all(["p%d" % i for i in range(total)], 60)
    report("kill -9 of the publisher's node (%d acknowledged by it)" % len(acked_before), s, total, t_fault, None)


def fault_on_stream_leader(stored3, persistent, cid, topic, fault, what):
    """A persistent subscriber on node 2 under QoS 1 load from node 1; after 400 messages fault(nats, leader)
    strikes the NATS server leading the stream. Every message arrives; the longest pause is reported."""
    nats, nodes = stored3
    s = persistent(cid, [topic + "/#"]).connect(nodes[2].port)
    total = 1500
    load = Load(nodes[1].port, topic + "/x", total)
    load.t.start()
    with s.cond:
        assert s.cond.wait_for(lambda: len(s.got) >= 400, 30)
    leader, _ = stream_state(nats)
    assert leader is not None
    t_fault = time.monotonic()
    fault(nats, leader)
    load.finish()
    assert len(load.acked) == total
    s.wait_all(["p%d" % i for i in range(total)], 60)
    gaps = [b - a for a, b in zip(s.times, s.times[1:]) if b > t_fault]
    report("%s (n%d); longest pause %.2f s" % (what, leader, max(gaps) if gaps else 0), s, total, t_fault, None)


def test_fault_kill_stream_leader(stored3, persistent):
    fault_on_stream_leader(stored3, persistent, "steady", "sl", lambda nats, i: nats.kill(i),
                           "kill -9 of the stream leader")


def sigstop_for_3s(nats, i):
    nats.sigstop(i)
    time.sleep(3)
    nats.sigcont(i)


def test_fault_sigstop_nats_server(stored3, persistent):
    fault_on_stream_leader(stored3, persistent, "paused", "ss", sigstop_for_3s,
                           "SIGSTOP of the stream leader for 3 s")
