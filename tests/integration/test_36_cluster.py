"""36 The cluster, first part (issue 12): three midge nodes on a three-server NATS cluster route messages to each
other. Cross-node publish/subscribe at QoS 0/1/2 with every wildcard form and topics holding `.`, spaces, `*` and
`>`; one copy per subscriber however many of its node's filters match; shared subscription groups spread over the
nodes, one copy per group; retained messages seen from every node;
$SYS kept per node; a node that starts before NATS catches up; interest that goes when the last subscriber does;
configuration errors. Real nats-server processes (tests/integration/natsutil.py), real paho clients."""
import re
import threading
import time

import paho.mqtt.client as mqtt
import pytest

import mqttraw as m

from conftest import run_expect_failure, wait_for
from natsutil import available, SKIP_REASON
from test_34_bridges import Sub as BridgeSub
from v5util import connect5, expect_disconnect

pytestmark = [pytest.mark.midge_only, pytest.mark.skipif(not available(), reason=SKIP_REASON)]


def node_conf(nats, name, extra=""):
    # No queue limit: a burst to a slow paho subscriber is not dropped by the receiving node's own policy.
    return ("cluster_nats_url %s\ncluster_node_name %s\nsys_interval 1\nmax_queued_messages 0\n%s"
            % (" ".join(nats.urls), name, extra))


@pytest.fixture
def cluster3(broker, nats_cluster):
    nats = nats_cluster(3)
    nodes = [broker(node_conf(nats, "node%d" % i)) for i in range(3)]
    for n in nodes:
        wait_for(lambda: "Cluster: connected to NATS" in n.log(), 10, what="node connected to NATS")
    return nats, nodes


class Sub(BridgeSub):
    """test_34's subscriber, keeping (topic, payload, qos, retain) per message."""

    def _on_message(self, c, u, m):
        with self.cond:
            self.got.append((m.topic, m.payload.decode(), m.qos, m.retain))
            self.cond.notify_all()

    def wait(self, n, timeout=10):
        return self.wait_count(n, timeout)


@pytest.fixture
def sub():
    made = []

    def make(*a, **kw):
        s = Sub(*a, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def pub(port, topic, payload, qos=1, retain=False):
    c = mqtt.Client()
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    info = c.publish(topic, payload, qos, retain)
    if qos:
        info.wait_for_publish(10)
    else:
        time.sleep(0.1)
    c.disconnect()
    c.loop_stop()


def settle():
    """Lets a SUBSCRIBE's interest reach the other NATS servers (route propagation)."""
    time.sleep(0.3)


TOPICS = ["a/b/c", "a/b", "a", "x.y/z w/*/>", "a/=3D/c", "/lead", "trail/"]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_cross_node_with_wildcards_and_odd_topics(cluster3, sub, qos):
    _, nodes = cluster3
    filters = {"a/+/c": {"a/b/c", "a/=3D/c"}, "a/#": {"a/b/c", "a/b", "a", "a/=3D/c"},
               "+/lead": {"/lead"}, "trail/+": {"trail/"}, "x.y/z w/*/>": {"x.y/z w/*/>"}, "#": set(TOPICS)}
    subs = {f: sub(nodes[2].port, [f], qos=2) for f in filters}
    settle()
    for t in TOPICS:
        pub(nodes[0].port, t, "m:" + t, qos=qos)
    for f, want in filters.items():
        got = subs[f].wait(len(want))
        time.sleep(0.3 if f == "#" else 0)
        assert sorted(t for t, _, _, _ in subs[f].got) == sorted(want), f
        assert all(p == "m:" + t and q == qos for t, p, q, _ in got), got


def test_one_copy_per_subscriber_across_overlapping_filters(cluster3, sub):
    _, nodes = cluster3
    s = sub(nodes[1].port, ["d/#", "d/+", "+/x", "#"], qos=1)
    other = sub(nodes[1].port, ["d/+"], qos=1)
    settle()
    for i in range(20):
        pub(nodes[0].port, "d/x", str(i), qos=1)
    s.wait(20)
    other.wait(20)
    time.sleep(0.5)
    assert [p for _, p, _, _ in s.got] == [str(i) for i in range(20)]  # in order, once each
    assert [p for _, p, _, _ in other.got] == [str(i) for i in range(20)]


def retained_on(port, topic, wait=0.7):
    """The payload retained for topic on the node at port as a new subscriber sees it, or None."""
    got = []
    ev = threading.Event()
    c = mqtt.Client()
    c.on_message = lambda cl, u, msg: (got.append(msg.payload.decode()) if msg.retain else None, ev.set())
    c.on_connect = lambda cl, u, f, rc: cl.subscribe(topic, 1)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    ev.wait(wait)
    c.loop_stop()
    c.disconnect()
    return got[0] if got else None


def test_retained_seen_from_every_node(cluster3, sub):
    _, nodes = cluster3
    watchers = [sub(n.port, ["r/#"], qos=1) for n in nodes]
    settle()
    pub(nodes[1].port, "r/state", "on", qos=1, retain=True)
    for w in watchers:  # delivered live everywhere
        assert w.wait(1)[0][:2] == ("r/state", "on")
    for n in nodes:  # and kept everywhere (the bucket's copy, a moment later on the other nodes)
        wait_for(lambda: retained_on(n.port, "r/state") == "on", 10, what="'on' retained on %d" % n.port)
    pub(nodes[2].port, "r/state", "off", qos=1, retain=True)  # replaced from another node
    for n in nodes:
        wait_for(lambda: retained_on(n.port, "r/state") == "off", 10, what="'off' retained on %d" % n.port)
    pub(nodes[0].port, "r/state", "", qos=1, retain=True)  # cleared
    for n in nodes:
        wait_for(lambda: retained_on(n.port, "r/state") is None, 10, what="cleared on %d" % n.port)


def test_many_publishers_at_once_lose_nothing(cluster3, sub):
    """Publishers on several connections (so several workers) at once: every message reaches the other node.
    Sequence numbers once went out of order between workers and a receiver took a later-numbered message for a
    copy of an earlier one."""
    _, nodes = cluster3
    s = sub(nodes[1].port, ["many/#"], qos=1)
    settle()
    per, npub = 400, 4

    def load(k):
        c = mqtt.Client()
        c.connect("127.0.0.1", nodes[0].port, 30)
        c.loop_start()
        infos = [c.publish("many/%d" % k, "%d:%d" % (k, i), 1) for i in range(per)]
        for info in infos:
            info.wait_for_publish(20)
        c.loop_stop()
        c.disconnect()
    ts = [threading.Thread(target=load, args=(k,)) for k in range(npub)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    try:
        wait_for(lambda: len({p for _, p, _, _ in list(s.got)}) == per * npub, 20)
    except AssertionError:
        raise AssertionError("%d of %d messages arrived" % (len({p for _, p, _, _ in s.got}), per * npub)) from None


def test_retained_for_a_node_that_starts_later(cluster3, broker, sub):
    """Retained messages live in a JetStream bucket: a node that joins afterwards has them all; a clear made on one
    node reaches the late node too."""
    nats, nodes = cluster3
    pub(nodes[0].port, "keep/a", "A", qos=1, retain=True)
    pub(nodes[1].port, "keep/b", "B", qos=1, retain=True)
    pub(nodes[2].port, "keep/gone", "G", qos=1, retain=True)
    pub(nodes[2].port, "keep/gone", "", qos=1, retain=True)
    time.sleep(1.0)  # written to the bucket
    late = broker(node_conf(nats, "late"))
    wait_for(lambda: "retained message" in late.log() and "loaded from the bucket" in late.log(), 20,
             what="the late node's load")
    s = sub(late.port, ["keep/#"], qos=1)
    got = s.wait(2)
    time.sleep(0.5)
    assert sorted((t, p, r) for t, p, _, r in s.got) == [("keep/a", "A", True), ("keep/b", "B", True)]
    assert got


def payloads(s):
    return [p for _, p, _, _ in list(s.got)]


def test_shared_subscriptions_spread_across_nodes(cluster3, sub):
    """A shared group's members on several nodes are one group: each message goes to one member of each group,
    whichever node it was published on, and every member gets a share. Ordinary subscribers still get all."""
    _, nodes = cluster3
    g = [sub(n.port, ["$share/g/job/#"], qos=1) for n in nodes]
    h = [sub(nodes[1].port, ["$share/h/job/+"], qos=1), sub(nodes[2].port, ["$share/h/job/+"], qos=1)]
    plain = sub(nodes[0].port, ["job/#"], qos=1)
    settle()
    sent = []
    for i in range(60):
        sent.append("%d" % i)
        pub(nodes[0 if i % 2 else 2].port, "job/%d" % (i % 7), sent[-1], qos=1)
    for group in (g, h):
        wait_for(lambda: sum(len(m.got) for m in group) >= len(sent), 15, what="the group's messages")
    plain.wait(len(sent))
    time.sleep(0.5)  # no late copies
    for name, group in (("g", g), ("h", h)):
        got = sorted(sum((payloads(m) for m in group), []), key=int)
        assert got == sent, (name, [len(m.got) for m in group])  # each once
        assert all(m.got for m in group), (name, [len(m.got) for m in group])  # spread over the nodes
    assert sorted(payloads(plain), key=int) == sent  # (two publishers: no order between them)
    # Members leave: the group's messages go to those left, even when none is on the publisher's node.
    g[0].close()
    g[1].close()
    settle()
    before = len(g[2].got)
    for i in range(20):
        pub(nodes[0].port, "job/late", "late%d" % i, qos=1)
    g[2].wait(before + 20)
    time.sleep(0.3)
    assert [p for p in payloads(g[2]) if p.startswith("late")] == ["late%d" % i for i in range(20)]


def test_shared_subscription_without_nats_stays_local(broker, nats_cluster, sub):
    """A node whose NATS is not there serves its own shared groups as a broker alone does."""
    nats = nats_cluster(1, jetstream=False, start=False)
    node = broker(node_conf(nats, "alone"))
    s = [sub(node.port, ["$share/g/solo"], qos=1) for _ in range(2)]
    for i in range(10):
        pub(node.port, "solo", str(i), qos=1)
    wait_for(lambda: len(s[0].got) + len(s[1].got) == 10, 10, what="10 messages to the group")
    assert sorted(payloads(s[0]) + payloads(s[1]), key=int) == [str(i) for i in range(10)]


def test_sys_stays_on_its_node_and_counts(cluster3, sub):
    _, nodes = cluster3
    s = sub(nodes[1].port, ["c/#"], qos=0)
    settle()
    for i in range(5):
        pub(nodes[0].port, "c/%d" % i, "x", qos=0)
    s.wait(5)
    got = {}

    def sysval(port, topic):
        c = mqtt.Client()
        ev = threading.Event()
        c.on_message = lambda cl, u, m: (got.__setitem__(topic, m.payload.decode()), ev.set())
        c.on_connect = lambda cl, u, f, rc: cl.subscribe(topic)
        c.connect("127.0.0.1", port, 30)
        c.loop_start()
        ev.wait(5)
        c.loop_stop()
        c.disconnect()
        return got.get(topic)
    wait_for(lambda: sysval(nodes[1].port, "$SYS/broker/cluster/messages/received") == "5", 10, what="5 received")
    assert sysval(nodes[1].port, "$SYS/broker/cluster/connected") == "1"
    # Node 1's $SYS reaches no subscriber of node 2: it is node 1's own.
    far = sub(nodes[2].port, ["$SYS/broker/cluster/messages/received"], qos=0)
    time.sleep(2.5)
    assert len(far.got) >= 1 and all(p == "0" for _, p, _, _ in far.got), far.got


def test_interest_goes_with_the_last_subscriber(cluster3, sub):
    _, nodes = cluster3
    s = sub(nodes[2].port, ["gone/#"], qos=1)
    settle()
    pub(nodes[0].port, "gone/1", "a")
    s.wait(1)
    s.close()
    settle()
    pub(nodes[0].port, "gone/2", "b")
    time.sleep(2.5)
    # Node 2 no longer subscribes on NATS: nothing more arrived there (its counter stays at 1).
    c = mqtt.Client()
    seen = []
    c.on_message = lambda cl, u, m: seen.append(m.payload.decode())
    c.on_connect = lambda cl, u, f, rc: cl.subscribe("$SYS/broker/cluster/messages/received")
    c.connect("127.0.0.1", nodes[2].port, 30)
    c.loop_start()
    wait_for(lambda: seen, 5, what="node 2's counter")
    c.loop_stop()
    c.disconnect()
    assert seen[-1] == "1", seen


def test_node_started_before_nats(broker, nats_cluster, sub):
    nats = nats_cluster(1, jetstream=False, start=False)
    node = broker(node_conf(nats, "early"))
    assert "trying in the background" in node.log()
    nats.start_all()
    wait_for(lambda: "Cluster: connected to NATS" in node.log(), 15, what="the late connection")
    other = broker(node_conf(nats, "other"))
    wait_for(lambda: "Cluster: connected to NATS" in other.log(), 10, what="other connected")
    s = sub(other.port, ["late/#"])
    settle()
    pub(node.port, "late/x", "made it")
    assert s.wait(1)[0][:2] == ("late/x", "made it")


def test_same_client_id_on_two_nodes(cluster3, raw):
    """The session registry: the later CONNECT of a client id survives, wherever it came; the earlier connection
    is closed with 0x8E Session taken over (MQTT 5), as on one broker."""
    _, nodes = cluster3
    for n in nodes:
        wait_for(lambda: "session registry" in n.log(), 20, what="the registry on every node")
    first = connect5(raw, nodes[0].port, "dup-id")
    time.sleep(0.5)  # its claim is written
    second = connect5(raw, nodes[1].port, "dup-id")
    expect_disconnect(first, 0x8E, timeout=10)
    time.sleep(0.5)
    third = connect5(raw, nodes[2].port, "dup-id")
    expect_disconnect(second, 0x8E, timeout=10)
    third.send(m.pingreq())  # the last one is still connected
    third.expect(m.PINGRESP, 5)
    assert "Client dup-id connected on another node of the cluster: closing it here." in nodes[0].log()


def test_bad_cluster_settings(tmp_path):
    rc, out = run_expect_failure(tmp_path, "cluster_nats_url nats://127.0.0.1:4222 http://127.0.0.1:4222\n")
    assert rc != 0 and re.search(r":1: invalid NATS URL 'http://127.0.0.1:4222' for 'cluster_nats_url'", out), out
