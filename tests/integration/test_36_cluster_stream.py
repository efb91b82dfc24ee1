"""36 The cluster's message stream (issue 12): QoS 1 and 2 messages go to the replicated JetStream stream MIDGE_MSGS
and their publishers are acknowledged only once JetStream has them; QoS 0 ones do not go there. A stopped NATS
cluster holds the acknowledgements back until it is back; a killed stream leader only delays them, and the stream
keeps every acknowledged message once. Real nats-server processes (natsutil.py), real paho clients."""
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import wait_for
from natsutil import available, SKIP_REASON
from test_36_cluster import node_conf

pytestmark = [pytest.mark.midge_only, pytest.mark.skipif(not available(), reason=SKIP_REASON)]

STREAM = "MIDGE_MSGS"


def stream_state(nats, among=None):
    """(leader index, state dict) of the stream as a running server reports it, or (None, None)."""
    for i in (among if among is not None else nats.running()):
        j = nats.servers[i].monitor("/jsz?accounts=true&streams=true")
        for a in (j or {}).get("account_details", []):
            for sd in a.get("stream_detail", []) or []:
                if sd.get("name") != STREAM:
                    continue
                leader = (sd.get("cluster") or {}).get("leader")
                idx = next((k for k, s in enumerate(nats.servers) if s.name == leader), None)
                return idx, sd.get("state") or {}
    return None, None


def last_seq(nats):
    _, st = stream_state(nats)
    return (st or {}).get("last_seq", 0)


@pytest.fixture
def stored3(broker, nats_cluster):
    """Three nodes on three NATS servers, each with the stream found or made."""
    nats = nats_cluster(3)
    nodes = [broker(node_conf(nats, "node%d" % i)) for i in range(3)]
    for n in nodes:
        wait_for(lambda: "acknowledged once JetStream has them" in n.log(), 20, what="the stream in use")
    return nats, nodes


class Publisher:
    """A paho publisher that records when each message's acknowledgement came."""

    def __init__(self, port, v5=False):
        self.acked = {}
        self.lock = threading.Lock()
        self.c = mqtt.Client(protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
        self.c.max_inflight_messages_set(20)
        self.c.on_publish = self._on_publish
        self.mids = {}
        self.c.connect("127.0.0.1", port, 60)
        self.c.loop_start()

    def _on_publish(self, c, u, mid):
        with self.lock:
            self.acked[mid] = time.monotonic()

    def publish(self, topic, payload, qos=1):
        info = self.c.publish(topic, payload, qos)
        self.mids[payload] = info.mid
        return info

    def count(self):
        with self.lock:
            return len(self.acked)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def test_qos1_and_2_stored_qos0_not(stored3):
    nats, nodes = stored3
    leader, st = stream_state(nats)
    assert leader is not None and st is not None
    before = last_seq(nats)
    p = Publisher(nodes[0].port)
    try:
        for i in range(20):
            p.publish("s/%d" % i, "q1-%d" % i, qos=1).wait_for_publish(10)
        for i in range(10):
            p.publish("s/%d" % i, "q2-%d" % i, qos=2).wait_for_publish(10)
        for i in range(30):
            p.publish("s/%d" % i, "q0-%d" % i, qos=0)
        time.sleep(0.5)
    finally:
        p.close()
    # Interest retention: with no persistent session wanting them, the stream keeps none for long, but counts each.
    wait_for(lambda: last_seq(nats) - before == 30, 10, what="30 messages through the stream")
    time.sleep(0.5)
    assert last_seq(nats) - before == 30


def test_acknowledgement_waits_for_jetstream(stored3):
    """With every NATS server stopped the publisher's acknowledgement does not come; it comes once they are back
    (the node sends again what JetStream did not answer). QoS 0 is not held."""
    nats, nodes = stored3
    p = Publisher(nodes[1].port)
    try:
        p.publish("w/x", "warm", qos=1).wait_for_publish(10)
        for i in range(3):
            nats.sigstop(i)
        try:
            t0 = time.monotonic()
            info = p.publish("w/x", "held", qos=1)
            time.sleep(2.5)
            assert not info.is_published(), "acknowledged while no NATS server could store it"
        finally:
            for i in range(3):
                nats.sigcont(i)
        info.wait_for_publish(30)
        assert info.is_published()
        print("acknowledged %.1f s after the publish, NATS stopped for 2.5 s" % (time.monotonic() - t0))
    finally:
        p.close()


def test_stream_leader_killed_under_qos1_load(stored3):
    """kill -9 of the NATS server leading the stream while a publisher sends QoS 1: every message is acknowledged
    (later, while JetStream elects a leader), and the stream holds each acknowledged message once (the resends
    carry the first attempt's message id)."""
    nats, nodes = stored3
    total = 600
    before = last_seq(nats)
    p = Publisher(nodes[0].port)
    killed = None
    try:
        for i in range(total):
            p.publish("load/%d" % (i % 10), "m%d" % i, qos=1)
            if i == total // 3:
                wait_for(lambda: p.count() >= total // 4, 20, what="a quarter acknowledged")
                killed, _ = stream_state(nats)
                assert killed is not None
                t_kill = time.monotonic()
                nats.kill(killed)
        wait_for(lambda: p.count() == total, 60, what="every message acknowledged")
        times = sorted(p.acked.values())
        gap = max(b - a for a, b in zip(times, times[1:]))
        after_kill = [t for t in times if t > t_kill]
        print("stream leader n%d killed; longest pause between acknowledgements %.2f s; last one %.2f s after "
              "the kill" % (killed, gap, (after_kill[-1] - t_kill) if after_kill else 0))
    finally:
        p.close()
    stored = lambda: last_seq(nats) - before  # noqa: E731
    wait_for(lambda: stored() >= total, 20, what="the stream's count")
    time.sleep(1)
    assert stored() == total, "%d stored for %d acknowledged" % (stored(), total)
