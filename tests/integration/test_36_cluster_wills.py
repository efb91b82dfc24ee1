"""36 The cluster: wills of the clients of a node that dies (issue 12, docs/cluster.md "Wills of a node that dies").
Three midge nodes on three nats-servers with `cluster_node_timeout 2`; node0 is killed with SIGKILL and the other
nodes publish its clients' wills, once in the cluster: not for a client that said goodbye, retained when asked, not
again for a client that had moved to another node (node0 published that will itself at the takeover), with a Will
Delay Interval not for a client back on another node within the delay, also for a will waiting in its session when
node0 dies; a node that stops hands its wills over at once; a node frozen past the timeout gets its wills published,
writes them back when it runs again, and counts nobody dead itself."""
import os
import re
import signal
import threading
import time

import paho.mqtt.client as mqtt
import pytest

import mqttraw as m

from conftest import wait_for
from natsutil import available, SKIP_REASON
from test_36_cluster import node_conf, retained_on, settle, sub  # noqa: F401 (sub: a fixture)

pytestmark = [pytest.mark.midge_only, pytest.mark.skipif(not available(), reason=SKIP_REASON)]

TIMEOUT = 3  # cluster_node_timeout of every node (2 once gave a false death while two cluster tests ran at once)


@pytest.fixture
def cluster3(broker, nats_cluster):
    nats = nats_cluster(3)
    nodes = [broker(node_conf(nats, "node%d" % i, "cluster_node_timeout %d\n" % TIMEOUT)) for i in range(3)]
    for n in nodes:
        wait_for(lambda: "Cluster: connected to NATS" in n.log(), 10, what="node connected to NATS")
    return nats, nodes


def will_client(raw, port, cid, topic, payload, retain=False, v5=False, delay=None, **kw):
    """A raw client (it never reconnects by itself) connected with a will, QoS 1, keepalive 60."""
    c = raw(port)
    if v5:
        kw.update(proto=m.MQTT5, will_props=[(m.WILL_DELAY_INTERVAL, delay)] if delay else [])
    c.connect(cid, keepalive=60, will=(topic, payload, 1, retain), **kw)
    return c


def origin(node):
    """A node's origin id as its log says it."""
    return re.search(r"\(origin ([0-9a-f]{16})\)", node.log()).group(1)


def wills_in_bucket_settle():
    """The node writes a will to its bucket on its own thread, a millisecond or so after the CONNACK."""
    time.sleep(0.5)


def sys_value(port, topic):
    got = []
    ev = threading.Event()
    c = mqtt.Client()
    c.on_message = lambda cl, u, msg: (got.append(msg.payload.decode()), ev.set())
    c.on_connect = lambda cl, u, f, rc: cl.subscribe(topic, 0)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    ev.wait(5)
    c.loop_stop()
    c.disconnect()
    return got[-1] if got else None


def test_killed_node_wills_published_once(cluster3, sub, raw):
    _, nodes = cluster3
    subs = [sub(nodes[i].port, ["will/#"], qos=1) for i in (1, 2)]
    settle()
    will_client(raw, nodes[0].port, "w1", "will/w1", "gone-1")
    will_client(raw, nodes[0].port, "r1", "will/r1", "gone-r", retain=True)
    polite = will_client(raw, nodes[0].port, "bye", "will/bye", "must-not")
    polite.send(m.disconnect())
    polite.expect_closed()
    wills_in_bucket_settle()
    for s in subs:
        assert s.got == []
    killed = time.monotonic()
    nodes[0].kill()
    for s in subs:
        s.wait(2, timeout=TIMEOUT + 8)
    delay = time.monotonic() - killed
    print("\nwills of the killed node arrived %.2f s after SIGKILL (cluster_node_timeout %d)" % (delay, TIMEOUT))
    assert delay < TIMEOUT + 3
    time.sleep(2)  # every node that noticed has tried to take them by now
    for s in subs:
        got = sorted((t, p, q) for t, p, q, _ in s.got)
        assert got == [("will/r1", "gone-r", 1), ("will/w1", "gone-1", 1)], s.got  # once each, nothing else
    for n in nodes[1:]:  # the retained will, on every node left
        wait_for(lambda: retained_on(n.port, "will/r1") == "gone-r", 10, what="retained will on %d" % n.port)
    counts = [int(sys_value(n.port, "$SYS/broker/cluster/wills/published") or 0) for n in nodes[1:]]
    assert sum(counts) == 2, counts
    for n in nodes[1:]:  # both noticed; the one that came first took both wills, or they shared them
        assert n.running()
        assert "Cluster: node " in n.log() and " silent for " in n.log()


def test_stopped_node_wills_taken_at_once(cluster3, sub, raw):
    """A node that stops (SIGTERM) publishes no will itself, as one broker that stops does, and says it leaves: the
    other nodes take the wills of the clients it still had at once, without waiting for the timeout. A client that
    said goodbye just before has none."""
    _, nodes = cluster3
    s = sub(nodes[1].port, ["will/#"], qos=1)
    settle()
    will_client(raw, nodes[0].port, "stay", "will/stay", "gone")
    wills_in_bucket_settle()
    polite = will_client(raw, nodes[0].port, "bye", "will/bye", "must-not")
    polite.send(m.disconnect())
    polite.expect_closed()
    stopped = time.monotonic()
    nodes[0].stop()
    s.wait(1, timeout=TIMEOUT + 8)
    delay = time.monotonic() - stopped
    print("\nwill of the stopped node arrived %.2f s after SIGTERM" % delay)
    assert delay < TIMEOUT
    time.sleep(1)
    assert [(t, p) for t, p, _, _ in s.got] == [("will/stay", "gone")], s.got
    assert " left: taking its " in nodes[1].log() and " left: taking its " in nodes[2].log()


def test_moved_client_will_not_published_again(cluster3, sub, raw):
    """A client that connects to node1 while its connection on node0 lives: node0 closes the old connection (0x8E)
    and publishes its will, as one broker does at a takeover. node0 killed later: that will does not come again,
    and the client's new connection, on a live node, keeps its will."""
    _, nodes = cluster3
    s = sub(nodes[2].port, ["will/#"], qos=1)
    settle()
    old = will_client(raw, nodes[0].port, "mover", "will/mover", "old")
    wills_in_bucket_settle()
    will_client(raw, nodes[1].port, "mover", "will/mover", "new")
    assert s.wait(1)[0][:2] == ("will/mover", "old")
    old.expect_closed()
    wills_in_bucket_settle()
    nodes[0].kill()
    time.sleep(TIMEOUT + 3)
    assert [p for _, p, _, _ in s.got] == ["old"], s.got
    assert "taking its 0 wills" in nodes[2].log()


def test_will_delay_and_return_on_another_node(cluster3, sub, raw):
    """MQTT 5 wills with a Will Delay Interval: the one of a client that stays away is published after the
    timeout and the delay; the one of a client back on node1 within the delay is not [MQTT-3.1.3-9]."""
    _, nodes = cluster3
    s = sub(nodes[2].port, ["will/#"], qos=1)
    settle()
    will_client(raw, nodes[0].port, "away", "will/away", "late", v5=True, delay=2)
    will_client(raw, nodes[0].port, "back", "will/back", "must-not", v5=True, delay=3)
    wills_in_bucket_settle()
    killed = time.monotonic()
    nodes[0].kill()
    back = raw(nodes[1].port)
    back.connect("back", proto=m.MQTT5, clean=False)  # no will now; its session continues on node1
    s.wait(1, timeout=TIMEOUT + 2 + 8)
    delay = time.monotonic() - killed
    print("\ndelayed will (2 s) arrived %.2f s after SIGKILL (cluster_node_timeout %d)" % (delay, TIMEOUT))
    # The delay counts from when a node sees node0 dead: the timeout after its last heartbeat (a quarter of the
    # timeout apart), so at least 3/4 of the timeout after the kill.
    assert delay >= TIMEOUT * 0.75 + 2 - 0.1
    time.sleep(2.5)
    assert [(t, p) for t, p, _, _ in s.got] == [("will/away", "late")], s.got
    assert any("will back of node " in n.log() and "connected again" in n.log() for n in nodes[1:])


def test_will_waiting_in_session_when_node_dies(cluster3, sub, raw):
    """A connection gone without DISCONNECT whose will waits in its session for the delay: node0 sends the one whose
    delay runs out while it lives (and no other node sends it again); the one still waiting when node0 is killed
    is sent by another node."""
    _, nodes = cluster3
    s = sub(nodes[1].port, ["will/#"], qos=1)
    settle()
    session = {"props": [(m.SESSION_EXPIRY_INTERVAL, 60)], "clean": False}
    a = will_client(raw, nodes[0].port, "soon", "will/soon", "by-node0", v5=True, delay=1, **session)
    b = will_client(raw, nodes[0].port, "later", "will/later", "by-another", v5=True, delay=3, **session)
    wills_in_bucket_settle()
    a.close()
    assert s.wait(1, timeout=5)[0][:2] == ("will/soon", "by-node0")
    b.close()
    time.sleep(0.5)
    nodes[0].kill()
    s.wait(2, timeout=TIMEOUT + 3 + 8)
    time.sleep(2)
    assert [(t, p) for t, p, _, _ in s.got] == [("will/soon", "by-node0"), ("will/later", "by-another")], s.got


def test_node_back_after_being_counted_dead(cluster3, sub, raw):
    """node0 stopped (SIGSTOP) past the timeout is dead to the others: they publish the will of its client. When it
    runs again the client is still connected to it, so node0 writes the will back; a real death later publishes
    it again."""
    _, nodes = cluster3
    s = sub(nodes[1].port, ["will/#"], qos=1)
    settle()
    will_client(raw, nodes[0].port, "frozen", "will/frozen", "gone")
    wills_in_bucket_settle()
    os.kill(nodes[0].pid, signal.SIGSTOP)
    try:
        s.wait(1, timeout=TIMEOUT + 8)
    finally:
        os.kill(nodes[0].pid, signal.SIGCONT)
    wait_for(lambda: "writing it again" in nodes[0].log(), 10, what="node0 writing its will again")
    assert "stood still" in nodes[0].log()
    time.sleep(TIMEOUT + 0.5)  # node0, back, counts nobody dead: their beats were late, not missing
    assert len(s.got) == 1
    for n in nodes[1:]:
        assert "node %s silent" % origin(n) not in nodes[0].log()
    nodes[0].kill()
    s.wait(2, timeout=TIMEOUT + 8)
    time.sleep(1.5)
    assert [(t, p) for t, p, _, _ in s.got] == [("will/frozen", "gone")] * 2, s.got
