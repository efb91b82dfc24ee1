"""14 The command-line clients midge-pub, midge-sub and midge-rr against Mosquitto 2.0.11's
mosquitto_pub, mosquitto_sub and mosquitto_rr: the same output byte for byte (-v, -F formats,
--pretty, -N, binary and MQTT 5 properties), interoperation both ways, request/response, the exit
codes of -C, -W, -E, --retained-only and friends, and the same one-line errors for bad input.

Each parity test runs the Mosquitto tool and ours with the same arguments against the same broker
(Midge, or Mosquitto with MIDGE_TEST_BROKER=mosquitto) and compares what they print, with the
program name mapped (midge-sub <-> mosquitto_sub). The tools come from <build>/bin (MIDGE_BUILD)."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import mqttraw as m
from conftest import ROOT, SANITIZE, SANITIZER_TEXT, free_port, wait_for

BUILD = os.environ.get("MIDGE_BUILD") or os.path.join(ROOT, "build")
TIMEOUT = 40 if SANITIZE else 20
MOSQ = {"pub": "/usr/bin/mosquitto_pub", "sub": "/usr/bin/mosquitto_sub", "rr": "/usr/bin/mosquitto_rr"}


def tool(kind, impl="midge"):
    if impl == "mosquitto":
        return MOSQ[kind]
    path = os.path.join(BUILD, "bin", "midge-" + kind)
    if not os.access(path, os.X_OK):
        pytest.fail("%s not built (set MIDGE_BUILD)" % path, pytrace=False)
    return path


def as_mosquitto(data, kind):
    """Our output with our program's name replaced by Mosquitto's, to compare the two."""
    return data.replace(b"midge-" + kind.encode(), b"mosquitto_" + kind.encode())


@pytest.fixture
def env(tmp_path):
    """The environment of every tool run: an empty XDG_CONFIG_HOME, so no options file of the user
    gets in the way (both read $XDG_CONFIG_HOME/<tool>)."""
    e = dict(os.environ)
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    e["XDG_CONFIG_HOME"] = str(xdg)
    e["TZ"] = "UTC"
    return e


def check_sanitizer(impl, rc, err):
    if SANITIZE and impl == "midge":
        text = err.decode("utf-8", "replace")
        for t in SANITIZER_TEXT:
            assert t not in text, "sanitizer report:\n%s" % text[-10000:]
        assert rc not in (66, 67), "sanitizer exit code %d:\n%s" % (rc, text[-5000:])


def run(kind, args, env, impl="midge", stdin=None, timeout=TIMEOUT):
    """Runs a tool to completion: (returncode, stdout, stderr) as bytes."""
    cmd = [tool(kind, impl)] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env,
                           stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not finish within %ds" % (" ".join(cmd), timeout)) from None
    check_sanitizer(impl, r.returncode, r.stderr)
    return r.returncode, r.stdout, r.stderr


class Proc:
    """A tool running in the background; its output is collected as it comes."""

    def __init__(self, kind, args, env, impl="midge"):
        self.kind, self.impl = kind, impl
        self.cmd = [tool(kind, impl)] + [str(a) for a in args]
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=env)
        self.out = bytearray()
        self.err = bytearray()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._read, args=(self.p.stdout, self.out), daemon=True),
                        threading.Thread(target=self._read, args=(self.p.stderr, self.err), daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self, f, into):
        while True:
            b = f.read1(65536)
            if not b:
                return
            with self.lock:
                into.extend(b)

    def output(self):
        with self.lock:
            return bytes(self.out)

    def wait(self, timeout=TIMEOUT):
        """Waits for exit: (returncode, stdout, stderr)."""
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %ds; output %r %r"
                                 % (" ".join(self.cmd), timeout, bytes(self.out[-2000:]),
                                    bytes(self.err[-2000:])))
        for t in self.threads:
            t.join(10)
        check_sanitizer(self.impl, self.p.returncode, bytes(self.err))
        return self.p.returncode, bytes(self.out), bytes(self.err)

    def signal(self, sig):
        self.p.send_signal(sig)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def procs():
    made = []
    yield made
    for p in made:
        p.kill()


def start(procs, kind, args, env, impl="midge"):
    p = Proc(kind, args, env, impl)
    procs.append(p)
    return p


def wait_subscribed(b, client_id, topic_filter, timeout=TIMEOUT):
    """Both brokers log "<client id> <qos> <filter>" once a subscription is in place."""
    pat = re.compile(r": %s \d+ %s$" % (re.escape(client_id), re.escape(topic_filter)), re.M)
    wait_for(lambda: pat.search(b.log()), timeout, what="%s subscribed to %s" % (client_id, topic_filter))


def publisher(raw, port, v5=True):
    c = raw(port, timeout=10)
    c.connect("publisher-%d" % time.monotonic_ns(), proto=m.MQTT5 if v5 else m.MQTT311)
    return c


# ---------------------------------------------------------------- output parity

FULL_PROPS = [(m.PAYLOAD_FORMAT_INDICATOR, 1), (m.CONTENT_TYPE, "text/plain; charset=utf-8"),
              (m.RESPONSE_TOPIC, "reply/here"), (m.CORRELATION_DATA, b"\x01\x02corr\x00x"),
              (m.USER_PROPERTY, ("k", "v")), (m.USER_PROPERTY, ("k", "v2")),
              (m.USER_PROPERTY, ("sp ace", "\"quoted\"")), (m.MESSAGE_EXPIRY_INTERVAL, 3600)]
LIVE = [
    ("p/text", b"hello", None),
    ("p/utf8", "h\u00e9llo w\u00f6rld \u2713".encode(), None),
    ("p/bin", bytes(range(256)), None),
    ("p/json", b'{"a":[1,2.5,{"b":null}],"c":"\\u00e9\\n","d":[true,false,1e300,-0.0],"e":{}}', None),
    ("p/empty", b"", None),
    ("p/props", b"with properties", FULL_PROPS),
    ("p/ctype", b'{"x":1}', [(m.CONTENT_TYPE, "application/json"), (m.PAYLOAD_FORMAT_INDICATOR, 0)]),
    ("p/quote", b'tab\there "q" \\ back\r\n\x1b[0m', None),
    ("p/sp ace/\u00fc", b"topic with a space", [(m.USER_PROPERTY, ("only", "one"))]),
    ("p/nonjson", b"not json {", None),
    ("p/nul", b"a\x00b", None),
    ("p/long", b"x" * 5000, None),
]
RETAINED = [("p/ret/a", b"kept", None), ("p/ret/b", b'{"retained":true}', [(m.CONTENT_TYPE, "c/t")])]

FORMATS = [
    [],
    ["-v"],
    ["-N"],
    ["-v", "-N"],
    ["-F", "%t %p %q %r %l %m"],
    ["-F", "%x|%X|%10x|%-10X|%010p|%3p|%-8p|%.2p"],
    ["-F", "[%-10t][%10t][%.3t][%5.2t][%08t][%-0t][%5q][%-3r][%05l][%-6m]"],
    ["-F", "%C|%D|%E|%F|%P|%R|%S|%A|%5A|%05E|%-8C|%.2R|%3F|%-4S"],
    ["-F", "\\t%t\\e\\0\\a\\r\\v\\\\%%@@ \\n%l"],
    ["-F", "%j"],
    ["-F", "%J"],
    ["-F", "%j", "--pretty"],
    ["-F", "%J", "--pretty"],
    ["-F", "%t %j", "-N"],
    ["-F", "%I|%U|@Y-@m-@dT@H:@M:@S|@N|@s|%25I|%.4I"],
    ["-F", "%p", "-N"],
]

TIME_PATTERNS = [
    (rb'"tst":(\t?)"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[+-]\d{4}"', rb'"tst":\1"TST"'),
    (rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", b"ISO"),
    (rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", b"DATE"),
    (rb"\d{10}\.\d{9}", b"UNIX"),
    (rb"\|\d{9}\|\d{10}\|", b"|NS|SECS|"),
]


def mask_time(data):
    for pat, rep in TIME_PATTERNS:
        data = re.sub(pat, rep, data)
    return data


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: " ".join(f) or "payload")
@pytest.mark.parametrize("version", ["311", "5"])
def test_output_parity(broker, raw, procs, env, fmt, version):
    """midge-sub and mosquitto_sub print the same bytes for the same messages and flags."""
    b = broker()
    pub = publisher(raw, b.port)
    for i, (topic, payload, props) in enumerate(RETAINED):
        pub.publish(topic, payload, qos=1, retain=True, mid=100 + i, props=props)
    n = len(RETAINED) + len(LIVE)
    subs = {}
    for impl in ("mosquitto", "midge"):
        args = ["-h", "127.0.0.1", "-p", b.port, "-t", "p/#", "-q", "1", "-V", version, "-C", n, "-W", TIMEOUT,
                "-i", "parity-" + impl] + fmt
        subs[impl] = start(procs, "sub", args, env, impl)
    for impl in subs:
        wait_subscribed(b, "parity-" + impl, "p/#")
    for i, (topic, payload, props) in enumerate(LIVE):
        pub.publish(topic, payload, qos=1, mid=i + 1, props=props)
    res = {impl: p.wait() for impl, p in subs.items()}
    assert res["mosquitto"][0] == 0, res["mosquitto"]
    assert res["midge"][0] == 0, res["midge"]
    want_out, got_out = mask_time(res["mosquitto"][1]), mask_time(res["midge"][1])
    assert got_out == want_out
    assert as_mosquitto(res["midge"][2], "sub") == res["mosquitto"][2]


@pytest.mark.parametrize("fmt", [["-F", "%S|%P|%t"], ["-F", "%j"]], ids=["fields", "json"])
def test_output_parity_subscription_identifier(broker, raw, procs, env, fmt):
    b = broker()
    pub = publisher(raw, b.port)
    subs = {}
    for impl in ("mosquitto", "midge"):
        args = ["-p", b.port, "-t", "s/#", "-V", "5", "-C", 2, "-W", TIMEOUT, "-i", "sid-" + impl,
                "-D", "subscribe", "subscription-identifier", 42, "-D", "subscribe", "user-property", "a", "b"] + fmt
        subs[impl] = start(procs, "sub", args, env, impl)
    for impl in subs:
        wait_subscribed(b, "sid-" + impl, "s/#")
    pub.publish("s/1", b"one", qos=1, mid=1, props=[(m.USER_PROPERTY, ("u", "p"))])
    pub.publish("s/2", b"", qos=1, mid=2)
    res = {impl: p.wait() for impl, p in subs.items()}
    assert res["midge"][0] == res["mosquitto"][0] == 0
    assert mask_time(res["midge"][1]) == mask_time(res["mosquitto"][1])


# ---------------------------------------------------------------- the packets sent

def packet_complete(data):
    try:
        n, pos = m.decode_varint(data, 1)
    except ValueError:
        return False
    return len(data) >= pos + n


def capture_packets(kind, args, env, impl, stdin=b"", after=0.7):
    """Runs a tool against a listening socket that accepts CONNECT (with a CONNACK of success) and
    records the bytes: (CONNECT, what followed within `after` seconds or up to DISCONNECT)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    s.settimeout(TIMEOUT)
    port = s.getsockname()[1]
    cmd = [tool(kind, impl)] + [str(a) for a in args] + ["-h", "127.0.0.1", "-p", str(port)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        p.stdin.write(stdin)
        p.stdin.close()
        c, _ = s.accept()
        c.settimeout(TIMEOUT)
        data = b""
        while not packet_complete(data):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        _, pos = m.decode_varint(data, 1)
        v5 = data[pos + 6:pos + 7] == b"\x05"  # the protocol level follows the protocol name "MQTT"
        c.sendall(bytes([0x20, 3, 0, 0, 0]) if v5 else bytes([0x20, 2, 0, 0]))
        rest = b""
        deadline = time.monotonic() + after
        c.settimeout(0.1)
        while time.monotonic() < deadline and not rest.endswith(b"\xe0\x00"):
            try:
                chunk = c.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            rest += chunk
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        s.close()
    if impl == "midge":
        check_sanitizer(impl, 0, p.stderr.read())
    return data, rest


WIRE_CASES = [
    ("pub", ["-t", "w/a", "-m", "x", "-i", "id1", "-u", "user", "-P", "pass", "-k", 30, "--will-topic", "wt",
             "--will-payload", "wp", "--will-qos", 1, "--will-retain"]),
    ("pub", ["-t", "w/a", "-m", "x", "-V", "31", "-i", "id31", "-u", "only-user", "-c", "-r"]),
    ("pub", ["-t", "w/a", "-m", "x", "-V", "5", "-P", "pw-without-user", "-q", 1]),
    ("pub", ["-t", "w/a", "-m", "x", "-V", "5", "-i", "id5", "-c", "-D", "connect", "user-property", "a", "b",
             "-D", "connect", "receive-maximum", 10, "-D", "connect", "maximum-packet-size", 100000,
             "-D", "will", "content-type", "ct", "-D", "will", "will-delay-interval", 5, "--will-topic", "w",
             "-D", "publish", "user-property", "x", "y", "-D", "publish", "response-topic", "r/t", "-q", 2]),
    ("pub", ["-t", "w/a", "-n", "-V", "5", "-x", 100, "-i", "q", "-D", "publish", "message-expiry-interval", 9]),
    ("pub", ["-t", "w/l", "-l", "-V", "5"]),
    ("pub", ["-L", "mqtt://user:pw@localhost:1/w/url", "-m", "x", "-V", "5", "-D", "disconnect", "user-property",
             "bye", "now", "-D", "disconnect", "session-expiry-interval", 0]),
    ("pub", ["-t", "w/a", "-m", "x", "--will-topic", "w/will", "-V", "5", "-D", "will", "message-expiry-interval", 7,
             "-D", "will", "payload-format-indicator", 1, "-D", "will", "correlation-data", "c", "-D", "will",
             "response-topic", "r", "-D", "will", "user-property", "a", "b"]),
    ("sub", ["-t", "a", "-t", "b/#", "-q", 2, "-V", "5", "-C", 3, "-R", "--retain-as-published", "-i", "s1",
             "-D", "subscribe", "subscription-identifier", 9, "-D", "subscribe", "user-property", "k", "v"]),
    ("sub", ["-t", "a", "-U", "b", "-U", "c", "-V", "5", "-D", "unsubscribe", "user-property", "u", "v"]),
    ("sub", ["-t", "a", "-V", "31", "-i", "s31", "-q", 1, "-k", 5]),
    ("sub", ["-t", "a", "-c", "-i", "persist", "-q", 1, "-R"]),
    ("rr", ["-t", "req", "-e", "resp", "-m", "question", "-i", "r1", "-q", 1]),
    ("rr", ["-t", "req", "-e", "resp", "-m", "question", "-V", "311", "-i", "r1"]),
]


@pytest.mark.parametrize("case", range(len(WIRE_CASES)), ids=lambda i: " ".join(map(str, WIRE_CASES[i][1]))[:60])
def test_wire_parity(env, case):
    """The CONNECT and the packets that follow it are the same bytes Mosquitto's tool sends (except a
    topic alias: libmidge never sends one)."""
    kind, args = WIRE_CASES[case]
    stdin = b"one\ntwo\n" if "-l" in args else b""
    want = capture_packets(kind, args, env, "mosquitto", stdin)
    got = capture_packets(kind, args, env, "midge", stdin)
    assert got[0] == want[0]
    assert got[1] == want[1]


# ---------------------------------------------------------------- interoperation

class ToolSub:
    """A subscriber (ours or Mosquitto's) whose messages are printed as
    MSG|topic|qos|retain|length|payload-in-hex; wait_subscribed() watches the broker's log."""
    serial = 0

    def __init__(self, procs, env, impl, b, topic, count, extra=()):
        ToolSub.serial += 1
        self.b, self.topic = b, topic
        self.id = "ts-%s-%d" % (impl, ToolSub.serial)
        args = ["-h", "127.0.0.1", "-p", b.port, "-t", topic, "-i", self.id, "-C", count, "-W", TIMEOUT,
                "-F", "MSG|%t|%q|%r|%l|%x"] + list(extra)
        self.p = start(procs, "sub", args, env, impl)

    def wait_subscribed(self):
        wait_subscribed(self.b, self.id, self.topic)

    def wait(self):
        rc, out, err = self.p.wait()
        msgs = []
        for line in out.split(b"\n"):
            if line.startswith(b"MSG|"):
                t, q, r, n, x = line[4:].split(b"|")
                msgs.append((t.decode(), int(q), int(r), int(n), bytes.fromhex(x.decode())))
        return rc, msgs, err


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", ["311", "5"])
@pytest.mark.parametrize("direction", ["midge-to-mosquitto", "mosquitto-to-midge"])
def test_interop(broker, procs, env, tmp_path, qos, version, direction):
    """midge-pub -> broker -> mosquitto_sub and mosquitto_pub -> broker -> midge-sub at every QoS."""
    pub_impl, sub_impl = ("midge", "mosquitto") if direction == "midge-to-mosquitto" else ("mosquitto", "midge")
    b = broker()
    f = tmp_path / "payload.bin"
    f.write_bytes(bytes(range(256)) * 4)
    sub = ToolSub(procs, env, sub_impl, b, "io/#", 4, ["-q", qos, "-V", version])
    sub.wait_subscribed()
    common = ["-h", "127.0.0.1", "-p", b.port, "-q", qos, "-V", version]
    assert run("pub", common + ["-t", "io/m", "-m", "text \u00e9"], env, pub_impl)[0] == 0
    assert run("pub", common + ["-t", "io/f", "-f", f], env, pub_impl)[0] == 0
    assert run("pub", common + ["-t", "io/n", "-n"], env, pub_impl)[0] == 0
    assert run("pub", common + ["-t", "io/s", "-s"], env, pub_impl, stdin=b"from stdin\n")[0] == 0
    rc, msgs, err = sub.wait()
    assert rc == 0, err
    assert msgs == [("io/m", qos, 0, 7, "text \u00e9".encode()), ("io/f", qos, 0, 1024, f.read_bytes()),
                    ("io/n", qos, 0, 0, b""), ("io/s", qos, 0, 11, b"from stdin\n")]


@pytest.mark.parametrize("direction", ["midge-to-mosquitto", "mosquitto-to-midge"])
def test_interop_retained_and_properties(broker, procs, env, direction):
    pub_impl, sub_impl = ("midge", "mosquitto") if direction == "midge-to-mosquitto" else ("mosquitto", "midge")
    b = broker()
    props = ["-D", "publish", "user-property", "k", "v", "-D", "publish", "user-property", "k2", "v2",
             "-D", "publish", "content-type", "text/x", "-D", "publish", "response-topic", "re/sp",
             "-D", "publish", "correlation-data", "cd", "-D", "publish", "payload-format-indicator", "1",
             "-D", "publish", "message-expiry-interval", "600"]
    assert run("pub", ["-p", b.port, "-t", "rp/ret", "-m", "kept", "-r", "-q", "1"], env, pub_impl)[0] == 0
    sub = start(procs, "sub", ["-p", b.port, "-t", "rp/#", "-V", "5", "-C", 2, "-W", TIMEOUT, "-i", "rp-sub",
                               "-F", "%t|%r|%p|%P|%C|%R|%D|%F|%E"], env, sub_impl)
    wait_subscribed(b, "rp-sub", "rp/#")
    assert run("pub", ["-p", b.port, "-t", "rp/props", "-m", "p", "-q", "1"] + props, env, pub_impl)[0] == 0
    rc, out, err = sub.wait()
    assert rc == 0, err
    assert out == b"rp/ret|1|kept||||||\nrp/props|0|p|k:v k2:v2|text/x|re/sp|cd|1|600\n"


@pytest.mark.parametrize("version", ["311", "5"])
@pytest.mark.parametrize("impl", ["mosquitto", "midge"])
def test_will_on_lost_connection(broker, procs, env, impl, version):
    """A subscriber killed outright: the broker publishes its will (with will properties in v5)."""
    b = broker()
    watcher = ToolSub(procs, env, "mosquitto", b, "will/#", 1, ["-q", 1, "-V", "5",
                                                                    "-F", "MSG|%t|%q|%r|%l|%x|%C"])
    watcher.wait_subscribed()
    extra = ["-D", "will", "content-type", "w/ct"] if version == "5" else []
    victim = start(procs, "sub", ["-p", b.port, "-t", "x", "-i", "victim-" + impl, "-V", version,
                                  "--will-topic", "will/t", "--will-payload", "gone", "--will-qos", 1,
                                  "--will-retain"] + extra, env, impl)
    wait_subscribed(b, "victim-" + impl, "x")
    victim.kill()
    rc, out, err = watcher.p.wait()
    assert rc == 0
    line = [x for x in out.split(b"\n") if x.startswith(b"MSG|")]
    assert line == [b"MSG|will/t|1|0|4|%s|%s" % (b"gone".hex().encode(), b"w/ct" if version == "5" else b"")]
    # --will-retain: the will stays as the retained message
    rc, out, _ = run("sub", ["-p", b.port, "-t", "will/t", "-C", 1, "-W", TIMEOUT, "-F", "%r %p"], env)
    assert (rc, out) == (0, b"1 gone\n")


@pytest.mark.parametrize("version", ["311", "5"])
def test_will_on_interrupt(broker, procs, env, version):
    """SIGINT: both tools disconnect with "Disconnect with Will Message" in MQTT 5 (the will goes out)
    and with a plain DISCONNECT in 3.1.1 (it does not); exit status 0."""
    b = broker()
    got = {}
    for impl in ("mosquitto", "midge"):
        sub = start(procs, "sub", ["-p", b.port, "-t", "x", "-i", "int-" + impl, "-V", version,
                                   "--will-topic", "wi/" + impl, "--will-payload", "bye"], env, impl)
        wait_subscribed(b, "int-" + impl, "x")
        watcher = start(procs, "sub", ["-p", b.port, "-t", "wi/" + impl, "-C", 1, "-W", 2, "-i", "w-" + impl],
                        env, "mosquitto")
        wait_subscribed(b, "w-" + impl, "wi/" + impl)
        sub.signal(signal.SIGINT)
        rc, out, err = sub.wait()
        wrc, wout, _ = watcher.wait()
        got[impl] = (rc, out, err, wrc, wout)
    assert got["midge"] == got["mosquitto"]
    assert got["midge"][3:] == ((0, b"bye\n") if version == "5" else (27, b""))


# ---------------------------------------------------------------- midge-rr

def responder(raw, port, v3_reply_topic=None):
    """A thread answering requests on rr/req: to the Response Topic (or v3_reply_topic), echoing the
    Correlation Data, with payload "re:" + request and a user property. Returns a stop function."""
    c = raw(port, timeout=10)
    c.connect("responder", proto=m.MQTT5)
    c.subscribe("rr/req", qos=1)
    stop = threading.Event()

    def loop():
        mid = 1
        while not stop.is_set():
            try:
                p = c.recv_publish(0.2)
            except Exception:
                continue
            to = p.prop(m.RESPONSE_TOPIC) or v3_reply_topic
            if not to:
                continue
            props = [(m.USER_PROPERTY, ("answered", "yes"))]
            corr = p.prop(m.CORRELATION_DATA)
            if corr is not None:
                props.append((m.CORRELATION_DATA, corr))
            c.publish(to, b"re:" + p.payload, qos=1, mid=mid, props=props)
            mid = mid % 60000 + 1

    t = threading.Thread(target=loop, daemon=True)
    t.start()

    def done():
        stop.set()
        t.join(5)
    return done


@pytest.mark.parametrize("fmt", [[], ["-v"], ["-F", "%t|%p|%P|%q"], ["-F", "%j", "--pretty"], ["-N"]],
                         ids=lambda f: " ".join(f) or "payload")
def test_rr_parity(broker, raw, env, fmt):
    b = broker()
    stop = responder(raw, b.port)
    try:
        res = {}
        for impl in ("mosquitto", "midge"):
            res[impl] = run("rr", ["-p", b.port, "-t", "rr/req", "-e", "rr/resp/" + impl, "-m", "ping", "-q", 1,
                                   "-W", TIMEOUT, "-D", "publish", "correlation-data", "c-" + impl] + fmt, env, impl)
    finally:
        stop()
    assert res["midge"][0] == res["mosquitto"][0] == 0
    want = mask_time(res["mosquitto"][1]).replace(b"mosquitto", b"IMPL")
    got = mask_time(res["midge"][1]).replace(b"midge", b"IMPL")
    assert got == want
    assert b"re:ping" in res["midge"][1]


def test_rr_v311_and_file(broker, raw, env, tmp_path):
    """MQTT 3.1.1 has no Response Topic: the responder knows where to answer. -f sends the file (which
    mosquitto_rr 2.0.11 does not: it sends an empty request, so this one is ours alone)."""
    b = broker()
    stop = responder(raw, b.port, v3_reply_topic="rr/v3resp")
    f = tmp_path / "req.txt"
    f.write_bytes(b"from a file")
    try:
        rc, out, err = run("rr", ["-p", b.port, "-t", "rr/req", "-e", "rr/v3resp", "-V", "311", "-m", "v3",
                                  "-W", TIMEOUT, "-v"], env)
        assert (rc, out) == (0, b"rr/v3resp re:v3\n"), err
        rc, out, err = run("rr", ["-p", b.port, "-t", "rr/req", "-e", "rr/fresp", "-f", f, "-W", TIMEOUT], env)
        assert (rc, out) == (0, b"re:from a file\n"), err
    finally:
        stop()


def test_rr_timeout(broker, env):
    b = broker()
    res = {}
    for impl in ("mosquitto", "midge"):
        t0 = time.monotonic()
        res[impl] = run("rr", ["-p", b.port, "-t", "nobody/home", "-e", "rr/none", "-m", "x", "-W", 1], env, impl)
        assert time.monotonic() - t0 < 10
    assert res["midge"] == (27, b"", b"Timed out\n") == res["mosquitto"]


# ---------------------------------------------------------------- midge-sub behaviour

def both(fn):
    """Runs fn(impl) for Mosquitto's tool and ours; asserts they agree; returns our result."""
    want, got = fn("mosquitto"), fn("midge")
    assert got == want
    return got


def test_count_and_timeout(broker, raw, procs, env):
    b = broker()
    pub = publisher(raw, b.port, v5=False)

    def count(impl):
        s = start(procs, "sub", ["-p", b.port, "-t", "c/" + impl, "-C", 3, "-W", TIMEOUT, "-i", "c-" + impl],
                  env, impl)
        wait_subscribed(b, "c-" + impl, "c/" + impl)
        for i in range(5):
            pub.publish("c/" + impl, b"m%d" % i, qos=1, mid=i + 1)
        return s.wait()
    assert both(count) == (0, b"m0\nm1\nm2\n", b"")

    def timeout(impl):
        t0 = time.monotonic()
        r = run("sub", ["-p", b.port, "-t", "quiet", "-W", 1, "-C", 2], env, impl)
        assert 0.8 < time.monotonic() - t0 < 10
        return r
    assert both(timeout) == (27, b"", b"Timed out\n")


def test_retained_flags(broker, raw, procs, env):
    """-R hides retained messages; --retained-only prints them and exits on the first fresh one; -E
    exits once subscribed; --remove-retained clears what it sees (except -T's)."""
    b = broker()
    pub = publisher(raw, b.port, v5=False)
    for i, t in enumerate(("r/a", "r/b", "r/keep")):
        pub.publish(t, t.encode(), qos=1, retain=True, mid=i + 1)

    def no_retain(impl):
        s = start(procs, "sub", ["-p", b.port, "-t", "r/#", "-R", "-C", 1, "-W", TIMEOUT, "-v", "-i", "R-" + impl],
                  env, impl)
        wait_subscribed(b, "R-" + impl, "r/#")
        pub.publish("r/live", b"fresh", qos=1, mid=10)
        return s.wait()
    assert both(no_retain) == (0, b"r/live fresh\n", b"")

    def retained_only(impl):
        s = start(procs, "sub", ["-p", b.port, "-t", "r/#", "--retained-only", "-W", TIMEOUT, "-v", "-i",
                                 "ro-" + impl], env, impl)
        wait_subscribed(b, "ro-" + impl, "r/#")
        wait_for(lambda: s.output().count(b"\n") >= 3, TIMEOUT, what="retained messages")
        pub.publish("r/live", b"fresh", qos=1, mid=11)
        rc, out, err = s.wait()
        return rc, sorted(out.split(b"\n")), err
    assert both(retained_only) == (0, [b"", b"r/a r/a", b"r/b r/b", b"r/keep r/keep"], b"")

    assert both(lambda impl: run("sub", ["-p", b.port, "-t", "r/#", "-E"], env, impl)) == (0, b"", b"")

    rc, out, err = run("sub", ["-p", b.port, "-t", "r/#", "--remove-retained", "-T", "r/keep", "-C", 2, "-v",
                               "-W", TIMEOUT], env)
    assert (rc, sorted(out.split(b"\n"))) == (0, [b"", b"r/a r/a", b"r/b r/b"]), err
    rc, out, err = run("sub", ["-p", b.port, "-t", "r/#", "-v", "-W", 1], env, "mosquitto")
    assert (rc, out) == (27, b"r/keep r/keep\n")


def test_filter_out_and_unsubscribe(broker, raw, procs, env):
    b = broker()
    pub = publisher(raw, b.port, v5=False)

    def filtered(impl):
        s = start(procs, "sub", ["-p", b.port, "-t", "f/#", "-t", "g/+", "-T", "f/x/#", "-T", "g/no", "-C", 2,
                                 "-W", TIMEOUT, "-v", "-i", "f-" + impl, "-U", "nothing/here"], env, impl)
        wait_subscribed(b, "f-" + impl, "g/+")
        for i, t in enumerate(("f/x", "f/x/y", "g/no", "f/ok", "g/yes")):
            pub.publish(t, b"." + t.encode(), qos=1, mid=i + 1)
        return s.wait()
    assert both(filtered) == (0, b"f/ok .f/ok\ng/yes .g/yes\n", b"")


@pytest.mark.parametrize("version", ["311", "5"])
def test_persistent_session(broker, raw, env, version):
    """-c (and -x in MQTT 5): the session outlives the connection; QoS 1 messages published meanwhile
    arrive at the next connection."""
    b = broker()
    pub = publisher(raw, b.port, v5=False)

    def session(impl):
        base = ["-p", b.port, "-t", "ps/" + impl, "-q", 1, "-c", "-i", "ps-%s-%s" % (impl, version), "-V", version]
        first = run("sub", base + ["-E"] + (["-x", 600] if version == "5" else []), env, impl)
        pub.publish("ps/" + impl, b"while away", qos=1, mid=1)
        second = run("sub", base + ["-C", 1, "-W", TIMEOUT, "-v"], env, impl)
        return first, second
    assert both(lambda impl: tuple((rc, out.replace(impl.encode(), b"IMPL"), err)
                                   for rc, out, err in session(impl))) == \
        ((0, b"", b""), (0, b"ps/IMPL while away\n", b""))


def test_sub_reconnects(broker, raw, procs, env):
    """A subscriber whose broker goes away reconnects (quietly) and subscribes again."""
    b = broker()
    subs = {impl: start(procs, "sub", ["-p", b.port, "-t", "rc/t", "-q", 1, "-C", 2, "-W", TIMEOUT, "-v", "-i",
                                       "rc-" + impl], env, impl) for impl in ("mosquitto", "midge")}
    for impl in subs:
        wait_subscribed(b, "rc-" + impl, "rc/t")
    pub = publisher(raw, b.port, v5=False)
    pub.publish("rc/t", b"before", qos=1, mid=1)
    pub.close()
    wait_for(lambda: all(s.output() for s in subs.values()), TIMEOUT, what="first message")
    b.restart()
    pat = re.compile(r": rc-(\S+) \d+ rc/t$", re.M)
    wait_for(lambda: len(pat.findall(b.log())) >= 4, TIMEOUT, what="subscribed again")
    pub = publisher(raw, b.port, v5=False)
    pub.publish("rc/t", b"after", qos=1, mid=2)
    res = {impl: s.wait() for impl, s in subs.items()}
    assert res["midge"] == res["mosquitto"] == (0, b"rc/t before\nrc/t after\n", b"")


def test_random_filter(broker, raw, procs, env):
    """--random-filter 1000 prints every message (Mosquitto counts the chance in tenths of a percent)."""
    b = broker()
    pub = publisher(raw, b.port, v5=False)
    s = start(procs, "sub", ["-p", b.port, "-t", "rf", "--random-filter", "1000", "-C", 3, "-W", TIMEOUT, "-i",
                             "rf"], env)
    wait_subscribed(b, "rf", "rf")
    for i in range(3):
        pub.publish("rf", b"%d" % i, qos=1, mid=i + 1)
    assert s.wait() == (0, b"0\n1\n2\n", b"")


def test_options_file(broker, raw, procs, env):
    """Options are read first from $XDG_CONFIG_HOME/midge_sub (mosquitto_sub's own is mosquitto_sub)."""
    b = broker()
    xdg = env["XDG_CONFIG_HOME"]
    text = "# defaults\n-t opt/file\n-v\n-F %t=%p\n-q 1\n"
    for name in ("midge_sub", "mosquitto_sub"):
        with open(os.path.join(xdg, name), "w") as f:
            f.write(text)
    pub = publisher(raw, b.port, v5=False)

    def with_file(impl):
        s = start(procs, "sub", ["-p", b.port, "-t", "opt/cmd", "-C", 2, "-W", TIMEOUT, "-i", "of-" + impl],
                  env, impl)
        wait_subscribed(b, "of-" + impl, "opt/cmd")
        pub.publish("opt/file", b"1", qos=1, mid=1)
        pub.publish("opt/cmd", b"2", qos=1, mid=2)
        return s.wait()
    assert both(with_file) == (0, b"opt/file=1\nopt/cmd=2\n", b"")


# ---------------------------------------------------------------- midge-pub behaviour

def test_publish_modes(broker, procs, env, tmp_path):
    """-l (a message per line, CR kept, empty lines sent), -s, -f, -n, -r and --repeat, as received by
    mosquitto_sub; the same for mosquitto_pub."""
    b = broker()
    f = tmp_path / "f.bin"
    f.write_bytes(b"\x00\x01file\xff")

    def modes(impl):
        topic = "pm/" + impl
        sub = ToolSub(procs, env, "mosquitto", b, topic, 11, ["-q", 1])
        sub.wait_subscribed()
        base = ["-p", b.port, "-t", topic, "-q", 1]
        results = [run("pub", base + ["-l"], env, impl, stdin=b"a\n\nb\r\nc"),
                   run("pub", base + ["-s"], env, impl, stdin=b"all\nof it"),
                   run("pub", base + ["-f", f], env, impl),
                   run("pub", base + ["-n"], env, impl),
                   run("pub", base + ["-m", "rep", "--repeat", 3, "--repeat-delay", "0.05"], env, impl),
                   run("pub", base + ["-m", "", "-r"], env, impl)]
        rc, msgs, err = sub.wait()
        return results, rc, [(q, r, p) for (t, q, r, n, p) in msgs]
    results, rc, msgs = both(modes)
    assert all(r == (0, b"", b"") for r in results), results
    assert msgs == [(1, 0, b"a"), (1, 0, b""), (1, 0, b"b\r"), (1, 0, b"c"), (1, 0, b"all\nof it"),
                    (1, 0, b"\x00\x01file\xff"), (1, 0, b""), (1, 0, b"rep"), (1, 0, b"rep"), (1, 0, b"rep"),
                    (1, 0, b"")]


def test_publish_retained_and_debug(broker, env):
    """-r keeps the message; -d prints the same lines as mosquitto_pub -d for a fixed client id."""
    b = broker()
    expected = (b"Client dbg sending CONNECT\nClient dbg received CONNACK (0)\n"
                b"Client dbg sending PUBLISH (d0, q1, r1, m1, 'dbg/t', ... (5 bytes))\n"
                b"Client dbg received PUBACK (Mid: 1, RC:0)\nClient dbg sending DISCONNECT\n")
    assert both(lambda impl: run("pub", ["-p", b.port, "-t", "dbg/t", "-m", "hello", "-q", 1, "-r", "-d", "-i",
                                         "dbg"], env, impl)) == (0, expected, b"")
    assert both(lambda impl: run("sub", ["-p", b.port, "-t", "dbg/+", "-C", 1, "-W", TIMEOUT, "-F", "%t %r %p"],
                                 env, impl)) == (0, b"dbg/t 1 hello\n", b"")


def test_bind_address(broker, env):
    """-A binds the client's socket to a local address before connecting; an address this host does
    not have fails with an error, as mosquitto_pub's does."""
    b = broker()
    assert both(lambda impl: run("pub", ["-p", b.port, "-A", "127.0.0.1", "-t", "bind/t", "-m", "x", "-r"], env,
                                 impl)) == (0, b"", b"")
    assert both(lambda impl: run("sub", ["-p", b.port, "-A", "127.0.0.1", "-t", "bind/t", "-C", 1, "-W", TIMEOUT],
                                 env, impl)) == (0, b"x\n", b"")
    for impl in ("midge", "mosquitto"):
        rc, out, err = run("pub", ["-p", b.port, "-A", "192.0.2.1", "-t", "bind/t", "-m", "x"], env, impl)
        assert rc != 0 and err.startswith(b"Error"), (impl, rc, out, err)


def test_id_prefix(broker, env):
    b = broker()
    rc, out, err = run("pub", ["-p", b.port, "-t", "idp", "-m", "x", "-I", "pre-", "-d"], env)
    assert rc == 0 and re.match(rb"Client pre-\d+ sending CONNECT\n", out), (out, err)


def test_empty_line_input_and_help(env):
    """-l with empty stdin sends nothing and succeeds; --help prints the usage and exits 1."""
    rc, out, err = run("pub", ["--help"], env)
    assert rc == 1 and out.startswith(b"midge-pub is a simple mqtt client") and err == b""
    rc, out, err = run("sub", ["--help"], env)
    assert rc == 1 and b"Usage: midge-sub" in out
    rc, out, err = run("rr", ["--version"], env)
    assert rc == 1 and out.startswith(b"midge-rr version ")


def test_publish_empty_stdin_line_mode(broker, env):
    b = broker()
    assert both(lambda impl: run("pub", ["-p", b.port, "-t", "e", "-l"], env, impl, stdin=b"")) == (0, b"", b"")


# ---------------------------------------------------------------- bad input

def bad_cases(tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    port = free_port()  # nothing listens there
    return [
        ("pub", ["-Z"]), ("pub", ["-t"]), ("pub", ["--host"]), ("pub", ["-t", "a/#", "-m", "x"]),
        ("pub", ["-L", "foo://x/y", "-m", "x"]), ("pub", ["-L", "mqtt://localhost", "-m", "x"]),
        ("pub", ["-L", "mqtt://localhost/a/+", "-m", "x"]),
        ("pub", ["-t", "a", "-f", "/nonexistent/file"]), ("pub", ["-t", "a", "-f", str(d)]),
        ("pub", ["-f", "/nonexistent/file"]), ("pub", ["-t", "a", "-s"]),
        ("pub", ["-q", "3"]), ("pub", ["-p", "99999"]), ("pub", ["-p", "-1"]), ("pub", ["-k", "2"]),
        ("pub", ["-V", "4"]), ("pub", ["-m", "x", "-n"]), ("pub", ["-m", "x", "-l"]), ("pub", ["-i", "a", "-I", "b"]),
        ("pub", ["--will-qos", "3"]), ("pub", ["--will-topic", "a/+"]), ("pub", ["--repeat", "0"]),
        ("pub", ["-M", "0"]), ("pub", ["-x", "abc"]), ("pub", ["-x", "-2"]), ("pub", ["-t", "\u00ff\u0001"]),
        ("pub", ["-D", "publish", "foo", "1"]), ("pub", ["-D", "bogus", "foo", "1"]),
        ("pub", ["-D", "connect", "topic-alias", "1"]), ("pub", ["-D", "publish", "topic-alias", "70000"]),
        ("pub", ["-D", "publish", "subscription-identifier", "2"]), ("pub", ["-D", "connect", "user-property", "a"]),
        ("pub", ["-D", "puback", "user-property", "a", "b"]), ("pub", ["-D", "connack", "user-property", "a", "b"]),
        ("pub", ["-t", "a", "-m", "x", "-D", "publish", "content-type", "x", "-D", "publish", "content-type", "y"]),
        ("pub", ["-t", "a", "-m", "x", "-D", "connect", "receive-maximum", "0"]),
        ("pub", ["-t", "a", "-m", "x", "-c"]), ("pub", ["-t", "a", "-m", "x", "-V", "5", "-c"]),
        ("pub", ["--will-payload", "x"]), ("pub", ["--will-retain"]), ("pub", ["-t", "a", "-m", "x", "-v"]),
        ("pub", ["-t", "a", "-m", "x", "-P", "secret", "-p", str(port)]),
        ("pub", ["-t", "a", "-m", "x", "-p", str(port)]),
        ("pub", ["-t", "a", "-m", "x", "-p", str(port), "--quiet"]),
        ("sub", []), ("sub", ["-t", "a/#/b"]), ("sub", ["-t", "a", "-T", "a+"]), ("sub", ["-t", "a", "-U", "#/x"]),
        ("sub", ["-t", "a", "-F", "%"]), ("sub", ["-t", "a", "-F", "%z"]), ("sub", ["-t", "a", "-F", "\\q"]),
        ("sub", ["-t", "a", "-F", "%10.2"]), ("sub", ["-t", "a", "-F", "x@"]),
        ("sub", ["-t", "a", "-C", "0"]), ("sub", ["-t", "a", "-W", "0"]), ("sub", ["-t", "a", "-C"]),
        ("sub", ["-t", "a", "-R", "--retained-only"]), ("sub", ["-t", "a", "-m", "x"]), ("sub", ["-t", "a", "-e", "x"]),
        ("sub", ["-t", "a", "--random-filter", "0"]), ("sub", ["-t", "a", "-c"]), ("sub", ["-t", "a", "-p", str(port)]),
        ("sub", ["-t", "a", "-p", str(port), "-V", "5"]),
        ("rr", ["-t", "a"]), ("rr", ["-e", "r", "-m", "x"]), ("rr", ["-t", "a", "-e", "b/#", "-m", "x"]),
        ("rr", ["-C", "1"]), ("rr", ["-t", "a", "-m", "x", "-e", "r", "-c"]),
        ("rr", ["-t", "a", "-e", "r", "-m", "x", "-D", "publish", "response-topic", "foo"]),
        ("rr", ["-t", "a", "-e", "r", "-m", "x", "-p", str(port)]),
    ]


def test_bad_input(env, tmp_path):
    """Unknown flags, missing arguments, bad values, bad URLs, unreadable files, nothing listening: the same
    one-line errors (and "Use ... --help" hints) and the same exit status as Mosquitto's tools, at once."""
    failures = []
    for kind, args in bad_cases(tmp_path):
        t0 = time.monotonic()
        want = run(kind, args, env, "mosquitto", stdin=b"", timeout=10)
        got = run(kind, args, env, "midge", stdin=b"", timeout=10)
        assert time.monotonic() - t0 < 15
        usage_printed = kind == "pub" and want[2].startswith(b"Error: Both topic and message")
        got = (got[0], b"" if usage_printed else as_mosquitto(got[1], kind), as_mosquitto(got[2], kind))
        want = (want[0], b"" if usage_printed else want[1], want[2])
        if got != want:
            failures.append("%s %s:\n  mosquitto %r\n  midge     %r" % (kind, args, want, got))
    assert not failures, "\n".join(failures)


class FakeBroker:
    """Answers every CONNECT with a CONNACK carrying a chosen code (None: never answers)."""

    def __init__(self, code):
        self.code = code
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(16)
        self.port = self.s.getsockname()[1]
        self.conns = []
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            self.conns.append(c)
            try:
                c.settimeout(5)
                data = c.recv(4096)
                if self.code is None or len(data) < 9:
                    continue
                # the protocol level follows the protocol name in CONNECT's variable header
                name_len = data[3] if data[1] & 0x80 == 0 else data[4]
                off = 2 if data[1] & 0x80 == 0 else 3
                level = data[off + 2 + name_len]
                c.sendall(bytes([0x20, 3, 0, self.code, 0]) if level == 5 else bytes([0x20, 2, 0, self.code]))
            except OSError:
                pass

    def close(self):
        self.s.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("code,version", [(1, "311"), (2, "311"), (4, "311"), (5, "311"), (5, "31"),
                                          (0x84, "5"), (0x86, "5"), (0x87, "5"), (0x8A, "5")])
def test_refused_connection(env, code, version):
    """A CONNACK that refuses: "Connection error: <reason>" and the code as exit status, like Mosquitto."""
    fake = FakeBroker(code)
    try:
        failures = []
        for kind, extra in (("pub", ["-t", "a", "-m", "x"]), ("sub", ["-t", "a"]), ("rr", ["-t", "a", "-e", "r", "-m", "x"])):
            args = ["-p", fake.port, "-V", version, "-i", "refused"] + extra
            want = run(kind, args, env, "mosquitto")
            got = run(kind, args, env, "midge")
            got = (got[0], got[1], as_mosquitto(got[2], kind))
            if got != want:
                failures.append("%s: mosquitto %r midge %r" % (kind, want, got))
        assert not failures, "\n".join(failures)
    finally:
        fake.close()


def test_no_connack_timeout(env):
    """-W while the server never answers the CONNECT: Mosquitto's tools exit with status 255 (sub) or
    "Timed out" (rr), without hanging."""
    fake = FakeBroker(None)
    try:
        assert both(lambda impl: run("sub", ["-p", fake.port, "-t", "a", "-W", 1], env, impl)) == (255, b"", b"")
        assert both(lambda impl: run("rr", ["-p", fake.port, "-t", "a", "-e", "r", "-m", "x", "-W", 1], env,
                                     impl)) == (27, b"", b"Timed out\n")
    finally:
        fake.close()


def test_tls_engines_refused_clearly(env):
    """TLS works (test_21); engines do not, and say so before connecting."""
    for kind, extra in (("pub", ["-t", "a", "-m", "x"]), ("sub", ["-t", "a"]), ("rr", ["-t", "a", "-e", "r", "-m", "x"])):
        for tls in (["--cafile", "/etc/ssl/certs/ca-certificates.crt", "--tls-engine", "dynamic"],
                    ["--cafile", "/etc/ssl/certs/ca-certificates.crt", "--cert", "c", "--key", "/dev/null",
                     "--keyform", "engine", "--tls-engine", "e", "--tls-engine-kpass-sha1", "0" * 40]):
            rc, out, err = run(kind, extra + tls, env)
            assert (rc, out) == (1, b""), err
            if "--keyform" in tls:  # mosquitto_tls_set wants --cert to exist first
                assert err == b"Error: Problem setting TLS options: File not found.\n"
            else:
                assert err == (b"Error: TLS engines (--tls-engine, --keyform engine, --tls-engine-kpass-sha1) "
                               b"are not supported.\n")
