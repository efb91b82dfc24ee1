"""29 midge-bench, the load generator: every scenario against a real broker at QoS 0, 1 and 2 at a
modest rate, where nothing may be lost; idle connections; TLS and WebSocket transports; refusals; the
broker's own drop counter ($SYS) reported as drops_reported. Each run is short (a second or two), read
through --json."""
import json
import os
import subprocess
import time

import pytest

from conftest import IS_MOSQUITTO, ROOT, SANITIZE, broker_bin, free_port, wait_for
from test_16_tls import certs, tls_conf  # noqa: F401 (fixture)

TIMEOUT = 60 if SANITIZE else 30
RATE = "2000"
# Brokers publish $SYS every second, so midge-bench's wait for the drop counter after the load is short.
SYS = "sys_interval 1\n"
SYS_WAIT = "3"
DROPPED = "$SYS/broker/publish/messages/dropped"


def bench_bin():
    """midge-bench: $MIDGE_BENCH, else beside the broker under test, else in $MIDGE_BUILD or build/."""
    candidates = [os.environ.get("MIDGE_BENCH", "")]
    if not IS_MOSQUITTO:
        candidates.append(os.path.join(os.path.dirname(broker_bin()), "midge-bench"))
    candidates.append(os.path.join(os.environ.get("MIDGE_BUILD") or os.path.join(ROOT, "build"), "bin",
                                   "midge-bench"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail("midge-bench not built (set MIDGE_BENCH or MIDGE_BUILD)", pytrace=False)


def bench(*args, expect_rc=0):
    """Runs midge-bench with --json (and --sys-wait 3 unless --no-sys or --sys-wait is given); returns the
    JSON object (stdout must hold it and nothing else)."""
    args = [str(a) for a in args]
    if "--no-sys" not in args and "--sys-wait" not in args:
        args += ["--sys-wait", SYS_WAIT]
    r = subprocess.run([bench_bin()] + args + ["--json"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == expect_rc, "exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))
    if expect_rc:
        return r
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 1, r.stdout
    return json.loads(lines[0])


FIELDS = ["scenario", "version", "qos", "payload", "publishers", "subscribers", "threads", "offered_rate",
          "duration_s", "warmup_s", "sent", "acked", "received", "expected", "lost", "duplicated",
          "reordered", "rate_out", "rate_in", "latency_us", "connect", "errors", "drops_reported", "recv_first_ns",
          "recv_last_ns"]


def check_clean(d, qos, receivers=True):
    """Everything offered was sent and, with receivers, arrived once and on time."""
    assert list(d.keys()) == FIELDS
    assert d["qos"] == qos
    assert d["errors"] == 0
    # The broker was asked ($SYS every second) and dropped nothing: 0, not null.
    assert d["drops_reported"] == 0, d
    assert d["connect"]["failed"] == 0 and d["connect"]["connected"] == d["connect"]["clients"]
    assert d["sent"] > 0
    if qos:
        assert d["acked"] == d["sent"]
    if receivers:
        assert d["expected"] > 0
        assert d["received"] == d["expected"], d
        assert d["lost"] == 0 and d["duplicated"] == 0, d
        lat = d["latency_us"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"]
        assert lat["mean"] > 0


# (scenario args, how many receivers each message has)
SCENARIOS = {
    "pub": (["-c", "2"], 0),
    "fanin": (["-c", "4"], 1),
    "fanout": (["-S", "4"], 4),
    "p2p": (["-c", "3"], 1),
    "shared": (["-c", "3", "-S", "3"], 1),
}


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(broker, scenario, qos):
    b = broker(conf=SYS, verbose=False)
    args, fan = SCENARIOS[scenario]
    d = bench(scenario, "-p", b.port, "-q", qos, "-r", RATE, "-d", "1", *args)
    assert d["scenario"] == scenario
    check_clean(d, qos, receivers=fan > 0)
    # The rate held: about 2000 messages in 1 s (each publisher's first message goes at once, so one
    # more each at most), and each reached its receivers.
    assert 1800 <= d["sent"] <= 2000 + d["publishers"], d
    assert abs(d["rate_out"] - 2000) < 200
    if fan:
        assert d["expected"] == d["sent"] * fan


def test_v5_warmup_count(broker):
    """MQTT 5, a warm-up that is not measured, and -n messages per publisher."""
    b = broker(conf=SYS, verbose=False)
    d = bench("fanin", "-p", b.port, "-V", "5", "-q", "1", "-c", "2", "-n", "500", "-I", "1",
              "--warmup", "0.3", "-s", "200")
    check_clean(d, 1)
    assert d["version"] == 5 and d["payload"] == 200 and d["warmup_s"] == 0.3
    assert d["sent"] == 1000 and d["received"] == 1000


def test_sub_counts_others(broker):
    """sub counts what a separate midge-bench pub publishes, losses found from the sequence numbers;
    the publisher's warm-up (flagged in the payload) is not counted by the subscribers either."""
    b = broker(conf=SYS)
    sub = subprocess.Popen([bench_bin(), "sub", "-p", str(b.port), "-S", "2", "-q", "1", "-d", "4",
                            "--sys-wait", SYS_WAIT, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: b.log().count("as bench-%d-s" % sub.pid) >= 2, 10, what="2 subscribers")
        # The warm-up covers the SUBSCRIBE that follows the CONNECT just logged.
        pub = bench("pub", "-p", b.port, "-q", "1", "-c", "2", "-r", "1000", "-d", "1", "--warmup", "0.5")
        out, err = sub.communicate(timeout=TIMEOUT)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, err
    d = json.loads(out.decode())
    assert d["scenario"] == "sub" and d["subscribers"] == 2
    assert pub["sent"] > 0 and d["received"] == 2 * pub["sent"]
    assert d["lost"] == 0 and d["duplicated"] == 0 and d["expected"] == d["received"]
    assert d["latency_us"]["p50"] > 0
    assert d["drops_reported"] == 0 and pub["drops_reported"] == 0


def test_conn_idle_clients(broker):
    b = broker(conf=SYS, verbose=False)
    d = bench("conn", "-p", b.port, "-c", "200", "--connect-rate", "2000", "-d", "1")
    assert d["connect"] == {"clients": 200, "connected": 200, "failed": 0, "per_second": d["connect"]["per_second"]}
    assert d["connect"]["per_second"] > 100
    assert d["errors"] == 0 and d["sent"] == 0 and d["publishers"] == 0


def test_tls(broker, certs):  # noqa: F811 (fixture)
    b = broker(conf=tls_conf(certs) + SYS, verbose=False)
    d = bench("fanin", "-L", "mqtts://127.0.0.1:%d" % b.port, "--cafile", certs.p("ca.crt"), "-c", "2",
              "-q", "1", "-r", RATE, "-d", "1")
    check_clean(d, 1)
    # Without the CA the server is not trusted: an error, not a run.
    r = bench("pub", "-L", "mqtts://127.0.0.1:%d" % b.port, "-d", "1", expect_rc=1)
    assert r.stderr.startswith(b"Error: ") and b"TLS handshake failed" in r.stderr and r.stdout == b""
    # --insecure: no verification at all.
    d = bench("pub", "-L", "mqtts://localhost:%d" % b.port, "--insecure", "-d", "0.5", "-r", "100")
    assert d["sent"] > 0 and d["errors"] == 0 and d["drops_reported"] == 0


@pytest.mark.parametrize("qos", [0, 2])
def test_websocket(broker, qos):
    ws_port = free_port()
    b = broker(conf=SYS + "listener %d 127.0.0.1\nprotocol websockets\n" % ws_port, verbose=False)
    d = bench("fanout", "-L", "ws://127.0.0.1:%d/mqtt" % ws_port, "-S", "2", "-q", qos, "-r", RATE,
              "-d", "1", "-s", "3000")
    check_clean(d, qos)


def broker_dropped(raw, port):
    """The broker's own drop counter now: the retained value of $SYS/broker/publish/messages/dropped."""
    c = raw(port)
    c.connect("drops-reader-%d" % time.monotonic_ns())
    c.subscribe([(DROPPED, 0)])
    p = c.recv_publish(5)
    assert p.topic == DROPPED, p
    c.close()
    return int(p.payload)


# Drops on demand: one message in flight and one queued per session, while 4 publishers send 2,000
# messages at QoS 1 to one subscriber in half a second: about half find the subscriber's queue full.
DROPPY = SYS + "max_inflight_messages 1\nmax_queued_messages 1\n"


def test_drops_reported_from_sys(broker, raw):
    """Messages dropped past max_queued_messages are what the broker counts in $SYS, and midge-bench
    reports exactly what that counter grew by over the run (here, also exactly what it found lost)."""
    b = broker(conf=DROPPY, verbose=False)
    before = broker_dropped(raw, b.port)
    d = bench("fanin", "-p", b.port, "-q", "1", "-c", "4", "-n", "500", "-I", "1")
    # The counter midge-bench read came from a $SYS update after the load; nothing dropped since.
    after = broker_dropped(raw, b.port)
    assert d["sent"] == 2000 and d["acked"] == 2000 and d["errors"] == 0, d
    assert d["lost"] > 0, "no drops forced: %r" % d
    assert after > before
    assert d["drops_reported"] == after - before, (d, before, after)
    # Every message the broker dropped is one the subscriber did not get, and nothing else was lost.
    assert d["drops_reported"] == d["lost"], d
    # A second run against the same broker counts only its own drops.
    d2 = bench("fanin", "-p", b.port, "-q", "1", "-c", "4", "-n", "500", "-I", "1")
    assert d2["drops_reported"] == broker_dropped(raw, b.port) - after == d2["lost"] > 0, d2


def test_drops_null_when_not_read(broker):
    """--no-sys, or a broker with $SYS off: drops_reported is null (not known), never a made-up 0; the
    human summary says why. The run itself succeeds."""
    b = broker(conf=SYS, verbose=False)
    t0 = time.monotonic()
    d = bench("fanin", "-p", b.port, "-c", "2", "-r", "500", "-d", "0.5", "--no-sys")
    assert time.monotonic() - t0 < 1.5 + (5 if SANITIZE else 0)  # nothing waited for
    assert d["drops_reported"] is None and d["lost"] == 0 and d["errors"] == 0
    r = subprocess.run([bench_bin(), "fanin", "-p", str(b.port), "-c", "2", "-r", "500", "-d", "0.5",
                        "--no-sys"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0 and b"dropped:  not known (not read: --no-sys)" in r.stdout, r.stdout

    off = broker(conf="sys_interval 0\n", verbose=False)
    d = bench("fanin", "-p", off.port, "-c", "2", "-r", "500", "-d", "0.5")
    assert d["drops_reported"] is None and d["lost"] == 0 and d["errors"] == 0
    r = subprocess.run([bench_bin(), "fanin", "-p", str(off.port), "-c", "2", "-r", "500", "-d", "0.5",
                        "--sys-wait", "1"], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert b"dropped:  not known (no value of $SYS/broker/publish/messages/dropped came)" in r.stdout, r.stdout


def test_errors(broker):
    r = bench("fanin", "-L", "http://127.0.0.1:1883", expect_rc=1)
    assert r.stderr.startswith(b"Error: unsupported URL") and r.stdout == b""
    r = bench("fanin", "-q", "3", expect_rc=1)
    assert r.stderr.startswith(b"Error: bad QoS")
    r = bench("fanin", "--no-sys", "--sys-wait", "1", expect_rc=1)
    assert r.stderr.startswith(b"Error: --sys-wait and --no-sys both given")
    # Nothing listening: an error naming the reason, nothing on stdout.
    r = bench("fanin", "-p", free_port(), "-d", "1", expect_rc=1)
    assert b"failed to connect" in r.stderr and b"Connection refused" in r.stderr and r.stdout == b""
