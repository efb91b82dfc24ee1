"""The NATS JetStream cluster harness of the cluster tests (natsutil.py), checked with real traffic: the cluster
forms with a JetStream meta leader, messages and queue groups cross servers, a replicated stream keeps working
through the kill of the meta leader, and a killed or stopped server comes back and rejoins."""
import json
import os
import time

import pytest

import natsutil
from natsutil import NatsRaw, NoResponders, sync_interest, wait_route_interest
from netutil import wait_for

pytestmark = pytest.mark.skipif(not natsutil.available(), reason=natsutil.SKIP_REASON)


def js_request(c, subject, body=None, timeout=5.0):
    """A JetStream API call ($JS.API.*) over a raw client; returns the decoded reply, asserting no error."""
    r = json.loads(c.request(subject, json.dumps(body).encode() if body is not None else b"", timeout=timeout))
    assert "error" not in r, r
    return r


def test_cluster_forms_with_jetstream(nats_cluster):
    c = nats_cluster(3)
    assert len(c.urls) == 3 and all(u.startswith("nats://127.0.0.1:") for u in c.urls)
    assert c.url_list().count(",") == 2
    assert c.start_seconds < 10, "cluster took %.1fs to form" % c.start_seconds
    lead = c.leader()
    assert lead in (0, 1, 2)
    for i in range(3):
        m = c.meta(i)
        assert m["cluster_size"] == 3 and m["leader"] == c.servers[lead].name
        assert c.servers[i].monitor("/varz")["server_name"] == c.servers[i].name
    # The leader alone answers /jsz?leader-only=true.
    assert [c.servers[i].monitor("/jsz?leader-only=true") is not None for i in range(3)] == \
        [i == lead for i in range(3)]
    # JetStream answers through any server, and a stream with 3 replicas can be placed.
    cl = NatsRaw(c.urls[(lead + 1) % 3])
    try:
        info = js_request(cl, "$JS.API.INFO")
        assert info["type"] == "io.nats.jetstream.api.v1.account_info_response"
        s = js_request(cl, "$JS.API.STREAM.CREATE.H", {"name": "H", "subjects": ["h.>"], "num_replicas": 3,
                                                       "storage": "file"})
        assert s["config"]["num_replicas"] == 3 and len(s["cluster"].get("replicas", [])) == 2
        ack = json.loads(cl.request("h.one", b"x"))
        assert ack == {"stream": "H", "seq": 1}
    finally:
        cl.close()


def test_pubsub_and_queue_groups_cross_servers(nats_cluster):
    c = nats_cluster(3, jetstream=False)
    pub, sub1, sub2 = NatsRaw(c.urls[0]), NatsRaw(c.urls[1]), NatsRaw(c.urls[2])
    try:
        # Wildcards as the cluster will map MQTT's: "*" one token, ">" the rest.
        sid = sub1.sub("t.*.x.>")
        sub1.flush()
        wait_route_interest(pub, sub1, "t.a.x.b", sid)
        for k in range(100):
            pub.pub("t.%d.x.y.z" % k, b"m%d" % k)
        pub.pub("t.a.b.x.y", b"no")  # two tokens where "*" takes one: no match
        pub.pub("t.a.x", b"no")  # ">" needs at least one token
        pub.pub("t.end.x.end", b"end")
        pub.flush()
        got = [sub1.next_msg(sid=sid) for _ in range(101)]
        assert [m[3] for m in got] == [b"m%d" % k for k in range(100)] + [b"end"]
        assert got[5][0] == "t.5.x.y.z"

        # One queue group with a member on each of two other servers: every message to exactly one member.
        q1, q2 = sub1.sub("q.>", queue="g"), sub2.sub("q.>", queue="g")
        sub1.flush()
        sub2.flush()
        sync_interest(pub, sub1)
        sync_interest(pub, sub2)
        n = 200
        for k in range(n):
            pub.pub("q.%d" % k, b"%d" % k)
        pub.flush()
        got1, got2 = [], []
        end = time.monotonic() + 5
        while len(got1) + len(got2) < n and time.monotonic() < end:
            for cl, sid_, out in ((sub1, q1, got1), (sub2, q2, got2)):
                try:
                    out.append(cl.next_msg(0.02, sid=sid_)[3])
                except TimeoutError:
                    pass
        assert sorted(got1 + got2, key=int) == [b"%d" % k for k in range(n)]
        assert got1 and got2, "queue group not spread: %d / %d" % (len(got1), len(got2))
    finally:
        for cl in (pub, sub1, sub2):
            cl.close()


def test_kill_and_restart_rejoin(nats_cluster):
    c = nats_cluster(3)
    cl = NatsRaw(c.urls[0])
    js_request(cl, "$JS.API.STREAM.CREATE.K", {"name": "K", "subjects": ["k.>"], "num_replicas": 3})
    assert json.loads(cl.request("k.1", b"a"))["seq"] == 1
    cl.close()

    # SIGKILL the JetStream meta leader: the two others elect a new one, and the stream keeps taking writes.
    old = c.leader()
    t0 = time.monotonic()
    c.kill(old)
    rest = [i for i in range(3) if i != old]
    new = c.wait_leader(among=rest, not_index=old)
    elect = time.monotonic() - t0
    assert new in rest
    cl = NatsRaw(c.urls[rest[0]])
    deadline = time.monotonic() + 10
    while True:  # the stream's own group may need its own election first (no responders, or an error, until then)
        try:
            r = json.loads(cl.request("k.2", b"b", timeout=2))
        except (NoResponders, TimeoutError) as e:
            r = {"error": repr(e)}
        if "seq" in r or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # 3 if a try timed out after the write (no dedup id on these raw publishes).
    assert r.get("stream") == "K" and r.get("seq") in (2, 3), r
    total = r["seq"]

    # Restart with the same ports and store: it rejoins and catches the stream up.
    t0 = time.monotonic()
    c.start(old)
    c.wait_ready()
    rejoin = time.monotonic() - t0
    back = NatsRaw(c.urls[old])
    sid = back.sub("x.y")
    back.flush()
    wait_route_interest(cl, back, "x.y", sid)
    cl.pub("x.y", b"hello")
    cl.flush()
    assert back.next_msg(sid=sid)[3] == b"hello"

    def caught_up():
        j = c.servers[old].monitor("/jsz?streams=1") or {}
        return j.get("messages") == total
    wait_for(caught_up, 10, what="the restarted server to hold the stream's messages")
    back.close()
    cl.close()
    print("meta leader elected %.2fs after SIGKILL, restarted server ready in %.2fs" % (elect, rejoin))


def test_sigstop_sigcont(nats_cluster):
    c = nats_cluster(3, jetstream=False)
    c.sigstop(2)
    # The stopped server accepts nothing; the two others still route between themselves.
    assert c.servers[2].monitor("/varz", timeout=0.3) is None
    a, b = NatsRaw(c.urls[0]), NatsRaw(c.urls[1])
    sid = b.sub("s")
    b.flush()
    wait_route_interest(a, b, "s", sid)
    c.sigcont(2)
    c.wait_ready()
    d = NatsRaw(c.urls[2])
    sid2 = d.sub("s")
    d.flush()
    wait_route_interest(a, d, "s", sid2)
    for cl in (a, b, d):
        cl.close()


def test_no_process_left(nats_cluster):
    c = nats_cluster(2, jetstream=False)
    pids = [s.proc.pid for s in c.servers]
    c.sigstop(0)  # a stopped server is killed at teardown too
    c.close()
    for p in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(p, 0)
