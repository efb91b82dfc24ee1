"""31 The web dashboard embedded in midge (web/, docs/http-api.md). Its files as a listener without http_dir serves
them (and one with http_dir does not); then the page itself in Debian's headless Chromium, driven by
tests/js/dashboard_test.mjs with playwright-core: it loads with no console error, no page error and no request
outside the broker, on a desktop and a phone screen; a mosquitto_pub message shows in the topic explorer within
a second with its value (JSON pretty-printed, binary as hex, numbers charted); the publish form's message with its
MQTT 5 properties reaches a mosquitto_sub, and the subscribe pane shows what it subscribed to; the overview's
message rate moves under load from midge-bench; a login is asked for when anonymous access is off, and works with
the right password; the Disconnect button kicks a client; the overview's Bridges table shows a bridge to Debian's
mosquitto connected and one to a closed port waiting, and says when there are none. A screenshot of each view is saved under the test's
tmp dir and copied to $MIDGE_ARTIFACTS/dashboard when that is set (the paths are printed)."""
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import MOSQUITTO_SUB, ROOT, STDBUF, free_port, mosquitto_pub, wait_for
from test_17_auth import custom_broker, make_pwfile
from test_16_tls import certs, openssl  # noqa: F401 (fixture)
from test_23_ws_browser import Browser, http, spki_hash
from test_30_http_api import curl
from test_34_bridges import MOSQUITTO, bridge_conf, pub, remote  # noqa: F401 (fixture)
from v5util import connect5, expect_disconnect
from wsutil import JS_DIR, websockets_supported, ws_broker  # noqa: F401 (fixture)

pytestmark = pytest.mark.midge_only

DASHBOARD_TEST = os.path.join(JS_DIR, "dashboard_test.mjs")
BUILD = os.environ.get("MIDGE_BUILD") or os.path.join(ROOT, "build")
WEB = os.path.join(ROOT, "web")
# The files the page loads, as the broker serves them (CMakeLists.txt embeds them).
EMBEDDED = {
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/mqtt.min.js": ("node_modules/mqtt/dist/mqtt.min.js", "text/javascript; charset=utf-8"),
    "/uPlot.iife.min.js": ("node_modules/uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "/uPlot.min.css": ("node_modules/uplot/dist/uPlot.min.css", "text/css; charset=utf-8"),
}
# What Chromium logs for the 401 that tells the page to show its login form.
LOGIN_401 = "Failed to load resource: the server responded with a status of 401"


@pytest.fixture
def dash():
    """Factory: dash(url, *args) -> a dashboard_test.mjs Browser whose page has loaded; all closed (their
    Chromium ended) at teardown."""
    made = []

    def make(url, *args):
        b = Browser(url, args, script=DASHBOARD_TEST)
        made.append(b)
        b.loaded = b.expect("loaded", timeout=20)
        return b

    yield make
    for b in made:
        b.close()


def do(page, event, timeout=15, **cmd):
    page.send(**cmd)
    return page.expect(event, timeout=timeout)


def no_errors(page, allowed=()):
    """The page logged no error (but those containing one of the allowed texts) and asked nothing of any other
    origin than the broker's."""
    ev = do(page, "errors", cmd="errors")
    assert ev["outside"] == [], ev
    bad = [e for e in ev["errors"] if not any(a in e for a in allowed)]
    assert bad == [], bad


def screenshot(page, tmp_path, name):
    """A screenshot of what the page shows now, kept as a test artifact."""
    d = tmp_path / "screenshots"
    d.mkdir(exist_ok=True)
    path = str(d / ("%s.png" % name))
    assert do(page, "screenshot", cmd="screenshot", path=path)["path"] == path
    assert os.path.getsize(path) > 5000
    paths = [path]
    art = os.environ.get("MIDGE_ARTIFACTS")
    if art:
        os.makedirs(os.path.join(art, "dashboard"), exist_ok=True)
        paths.append(shutil.copy(path, os.path.join(art, "dashboard", "%s.png" % name)))
    print("screenshot %s: %s" % (name, " ".join(paths)))
    return path


def page_url(port):
    return "http://127.0.0.1:%d/" % port


class V5Sub:
    """mosquitto_sub -V 5 printing topic, QoS, retain, content type, response topic, user properties and payload
    of count messages; started and subscribed."""

    def __init__(self, port, topic, count=1):
        cmd = STDBUF + [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "1", "-t", topic,
                        "-C", str(count), "-W", "20", "-d", "-F", "MSG|%t|%q|%r|%C|%R|%P|%p"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.lines = []
        self.subacked = threading.Event()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        assert self.subacked.wait(10), self.lines

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            if b"SUBACK" in line:
                self.subacked.set()

    def messages(self, timeout=20):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.t.join(5)
        return [l[4:].split("|", 6) for l in self.lines if l.startswith("MSG|")]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.t.join(5)


# ------------------------------------------------------------------ the embedded files, raw

def get(port, path, method="GET"):
    return http(port, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (method, path, port))


def test_embedded_files_served(broker):
    b = ws_broker(broker)
    for path, (name, ctype) in EMBEDDED.items():
        with open(os.path.join(WEB, name), "rb") as f:
            want = f.read()
        status, headers, body = get(b.ws_port, path)
        assert (status, headers["content-type"], headers["cache-control"]) == (200, ctype, "no-cache"), path
        assert int(headers["content-length"]) == len(want) and body == want, path
    with open(os.path.join(WEB, "index.html"), "rb") as f:
        index = f.read()
    assert get(b.ws_port, "/")[2] == index
    assert get(b.ws_port, "/?from=bookmark")[2] == index
    status, headers, body = get(b.ws_port, "/", "HEAD")
    assert (status, int(headers["content-length"]), body) == (200, len(index), b"")
    # revalidation: the ETag brings a 304 without the bytes
    etag = get(b.ws_port, "/mqtt.min.js")[1]["etag"]
    status, headers, body = http(b.ws_port, "GET /mqtt.min.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n"
                                 "Connection: close\r\n\r\n" % etag)
    assert (status, headers["etag"], body) == (304, etag, b"")
    status, headers, _ = get(b.ws_port, "/app.js", "POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    for path in ("/nothing.html", "/web/app.js", "/node_modules/mqtt/dist/mqtt.min.js", "/index.html/"):
        assert get(b.ws_port, path)[0] == 404, path
    # the API beside it, and MQTT over the same listener's upgrade (the page's own connection) still work
    assert curl(b.ws_port, "/api/v1/stats").json()["version"]


def test_http_dir_replaces_the_dashboard(broker):
    # world-readable, outside pytest's private tmp dir: a broker started as root reads it as another user
    www = tempfile.mkdtemp(prefix="midge-www-")
    try:
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<h1>my own page</h1>")
        os.chmod(os.path.join(www, "index.html"), 0o644)
        os.chmod(www, 0o755)
        b = ws_broker(broker, http_dir=www)
        status, _, body = get(b.ws_port, "/")
        assert (status, body) == (200, b"<h1>my own page</h1>")
        assert get(b.ws_port, "/app.js")[0] == 404
        assert curl(b.ws_port, "/api/v1/stats").status == 200
    finally:
        shutil.rmtree(www, ignore_errors=True)


# ------------------------------------------------------------------ the page in Chromium

def test_phone_screen(broker, dash, tmp_path):
    """On a phone's screen every view fits its width (wide tables scroll inside themselves)."""
    b = ws_broker(broker)
    assert mosquitto_pub(b.port, "home/kitchen/temperature", "21.5", args=["-r"]).returncode == 0
    p = dash(page_url(b.ws_port), "--width", "390", "--height", "844")
    assert p.loaded["login"] is False
    for view in ("overview", "topics", "client", "clients"):
        do(p, "view", cmd="view", name=view)
        if view == "overview":
            do(p, "overview", cmd="overview")
            ev = do(p, "bridges", cmd="bridges")
            assert ev["none"] and not ev["table"] and not ev["tile_shown"] and ev["rows"] == [], ev
        if view == "topics":
            do(p, "waiting", cmd="wait_topic", topic="home/kitchen/temperature", value="21.5")
            p.expect("topic")
        ev = do(p, "overflow", cmd="overflow")
        assert ev["scroll"] <= ev["client"], (view, ev)
        if view in ("overview", "topics"):
            screenshot(p, tmp_path, "%s-phone" % view)
    no_errors(p)


def test_over_https_and_wss(broker, certs, dash):
    """From a TLS web listener: the page over https, its MQTT over wss:// to the same port, the API over https."""
    b = ws_broker(broker, certs=certs)
    p = dash("https://127.0.0.1:%d/" % b.ws_port, "--spki", spki_hash(certs.p("server.crt")))
    assert p.loaded["login"] is False  # loaded means the MQTT connection is up
    do(p, "view", cmd="view", name="topics")
    do(p, "waiting", cmd="wait_topic", topic="tls/t", value="over wss")
    assert mosquitto_pub(b.port, "tls/t", "over wss").returncode == 0
    p.expect("topic")
    do(p, "view", cmd="view", name="overview")
    assert do(p, "overview", cmd="overview")["listeners"][1][3] == "yes"  # the web listener is encrypted
    no_errors(p)


def test_topic_explorer_shows_messages(broker, dash, tmp_path):
    b = ws_broker(broker)
    assert mosquitto_pub(b.port, "dash/retained/json", '{"a":1,"b":[1,2]}', qos=1, args=["-r"]).returncode == 0
    p = dash(page_url(b.ws_port))
    do(p, "view", cmd="view", name="topics")
    do(p, "waiting", cmd="wait_topic", topic="dash/retained/json", value='{"a":1,"b":[1,2]}')
    p.expect("topic")

    # a live message, timed from the publisher's start to the row showing its value
    do(p, "waiting", cmd="wait_topic", topic="dash/in/temp", value="21.5", timeout_ms=3000)
    t0 = time.monotonic()
    assert mosquitto_pub(b.port, "dash/in/temp", "21.5").returncode == 0
    ev = p.expect("topic")
    elapsed = time.monotonic() - t0
    assert ev["value"] == "21.5" and elapsed < 1.0, (ev, elapsed)

    for v in ("22", "22.5"):
        assert mosquitto_pub(b.port, "dash/in/temp", v, qos=1).returncode == 0
    do(p, "waiting", cmd="wait_topic", topic="dash/in/temp", value="22.5")
    p.expect("topic")
    d = do(p, "detail", cmd="select_topic", topic="dash/in/temp")
    assert d["topic"] == "dash/in/temp" and d["value"] == "22.5" and d["kind"] == "text"
    assert "QoS 1" in d["meta"] and "3 messages" in d["meta"] and "live" in d["meta"], d
    assert len(d["history"]) == 3 and "22.5" in d["history"][0] and "21.5" in d["history"][2], d
    assert d["chart"] >= 1, "no chart of the numeric values"

    # binary as hex; JSON pretty-printed and flagged retained
    assert mosquitto_pub(b.port, "dash/in/bin", None, args=["-s"], stdin=b"\x00\x01\xfe\xff").returncode == 0
    do(p, "waiting", cmd="wait_topic", topic="dash/in/bin", value="0x 00 01 fe ff")
    p.expect("topic")
    d = do(p, "detail", cmd="select_topic", topic="dash/in/bin")
    assert (d["kind"], d["value"]) == ("binary", "00 01 fe ff")
    d = do(p, "detail", cmd="select_topic", topic="dash/retained/json")
    assert d["kind"] == "json" and d["value"] == '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}', d
    assert "retained" in d["meta"] and "QoS 1" in d["meta"], d
    screenshot(p, tmp_path, "topics")
    no_errors(p)


def test_client_publish_and_subscribe(broker, dash, tmp_path):
    b = ws_broker(broker)
    p = dash(page_url(b.ws_port))
    do(p, "view", cmd="view", name="client")
    s = V5Sub(b.port, "dash/out")
    try:
        ev = do(p, "published", cmd="publish", topic="dash/out", payload="hello from the dashboard", qos=1,
                content_type="text/plain", response_topic="dash/reply", expiry=60,
                user_props="room=kitchen\nfloor=1")
        assert ev["status"] == "published 1"
        msgs = s.messages()
    finally:
        s.kill()
    assert len(msgs) == 1, s.lines
    topic, qos, retain, ctype, resp, props, payload = msgs[0]
    assert (topic, qos, retain, ctype, resp, payload) == ("dash/out", "1", "0", "text/plain", "dash/reply",
                                                         "hello from the dashboard"), msgs
    assert "room:kitchen" in props and "floor:1" in props, props

    # the subscribe pane: its own filter, a message from mosquitto_pub in it
    ev = do(p, "subscribed", cmd="subscribe", filter="dash/sub/#", qos=1)
    assert any("dash/sub/#" in c for c in ev["chips"]), ev
    assert mosquitto_pub(b.port, "dash/sub/x", "to the pane", qos=1,
                         args=["-V", "mqttv5", "-D", "publish", "user-property", "k", "v"]).returncode == 0
    ev = do(p, "sub_message", cmd="wait_sub_message", topic="dash/sub/x", text="to the pane")
    assert "QoS 1" in ev["text"] and "k=v" in ev["text"], ev
    # paused, a message waits; resumed, it shows
    assert do(p, "paused", cmd="pause")["pressed"] == "true"
    assert mosquitto_pub(b.port, "dash/sub/y", "held back", qos=1).returncode == 0
    time.sleep(0.5)
    p.send(cmd="wait_sub_message", topic="dash/sub/y", text="held back", timeout_ms=300)
    assert p.expect("error")["message"].startswith("wait_sub_message")
    assert do(p, "paused", cmd="pause")["pressed"] == "false"
    do(p, "sub_message", cmd="wait_sub_message", topic="dash/sub/y", text="held back")
    screenshot(p, tmp_path, "client")
    no_errors(p)


def test_overview_rate_moves_under_load(broker, dash, tmp_path):
    b = ws_broker(broker)
    p = dash(page_url(b.ws_port))
    ov = do(p, "overview", cmd="overview")
    stats = curl(b.ws_port, "/api/v1/stats").json()
    assert ov["version"] == stats["version"] and ov["uptime"].endswith("s")
    rows = {r[0]: r for r in ov["listeners"]}
    assert rows[str(b.port)][1:5] == ["mqtt", "127.0.0.1", "no", "no"], rows
    assert rows[str(b.ws_port)][1:5] == ["websockets", "127.0.0.1", "no", "no"], rows
    assert ov["guard"] == "Encryption guard: off."
    # a quiet baseline first: two points of the chart, near 0 messages/s
    deadline = time.monotonic() + 8
    while True:
        before = do(p, "rate", cmd="rate")
        if before["points"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert before["points"] >= 2 and before["in"] < 100, before

    bench = os.path.join(BUILD, "bin", "midge-bench")
    proc = subprocess.Popen([bench, "pub", "-h", "127.0.0.1", "-p", str(b.port), "-c", "2", "-r", "2000", "-d", "4", "--no-sys"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        ev = do(p, "rate", cmd="wait_rate", min=1000, timeout_ms=12000, timeout=20)
        assert ev["max"] >= 1000 and ev["points"] > before["points"] and ev["canvas"] >= 1, ev
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        screenshot(p, tmp_path, "overview")  # the whole load on the charts
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    no_errors(p)


def test_login_when_anonymous_is_off(broker, dash, tmp_path):
    pw = make_pwfile(tmp_path / "pw", [("admin", "s3cret pass")])
    b, (mqtt_port, ws_port) = custom_broker(
        broker, "listener {p0} 127.0.0.1\nlistener {p1} 127.0.0.1\nprotocol websockets\n"
        "allow_anonymous false\npassword_file %s\n" % pw, nports=2)
    r = curl(ws_port, "/api/v1/stats", headers=["X-Requested-With: XMLHttpRequest"])
    assert r.status == 401 and "www-authenticate" not in r.headers
    p = dash(page_url(ws_port))
    assert p.loaded["login"] is True
    screenshot(p, tmp_path, "login")
    ev = do(p, "login", cmd="login", user="admin", **{"pass": "wrong"})
    assert ev == {"event": "login", "ok": False, "error": "Wrong username or password."}, ev
    # a failure makes the address wait a moment before its next check (test_30's back-off): 100 ms after one
    time.sleep(0.3)
    ev = do(p, "login", cmd="login", user="admin", **{"pass": "s3cret pass"})
    assert ev["ok"] is True, ev
    ov = do(p, "overview", cmd="overview")
    assert ov["version"] and ov["version"] != "–"
    # the page's MQTT connection logged in with the same credentials: the topic explorer fills
    do(p, "view", cmd="view", name="topics")
    do(p, "waiting", cmd="wait_topic", topic="secured/t", value="42")
    assert mosquitto_pub(mqtt_port, "secured/t", "42", args=["-u", "admin", "-P", "s3cret pass"]).returncode == 0
    p.expect("topic")
    no_errors(p, allowed=(LOGIN_401,))


def test_disconnect_button(broker, dash, raw, tmp_path):
    b = ws_broker(broker)
    victim = connect5(raw, b.port, "dash victim/1")
    p = dash(page_url(b.ws_port))
    do(p, "view", cmd="view", name="clients")
    cells = do(p, "client", cmd="wait_client", id="dash victim/1")["cells"]
    assert cells[:2] == ["dash victim/1", "yes"] and cells[2].startswith("127.0.0.1:"), cells
    assert cells[3:5] == ["mqttv5", str(b.port)], cells
    screenshot(p, tmp_path, "clients")
    ev = do(p, "kicked", cmd="kick", id="dash victim/1")
    assert ev["status"] == "disconnected dash victim/1", ev
    expect_disconnect(victim, 0x98)  # Administrative action
    do(p, "client_gone", cmd="wait_client_gone", id="dash victim/1")
    no_errors(p)


@pytest.mark.skipif(not os.access(MOSQUITTO, os.X_OK), reason="Debian's mosquitto is not installed")
def test_bridges_table(broker, remote, dash, tmp_path):
    """The overview lists each bridge with its state, address and counters, refreshed as they move."""
    r = remote()
    closed = free_port()  # nothing listens there
    b = ws_broker(broker, extra=bridge_conf("cloud", "127.0.0.1:%d" % r.port, ["up/# out 1"]) +
                  bridge_conf("dead", "127.0.0.1:%d" % closed, ["lost/# out 1"]))
    p = dash(page_url(b.ws_port))
    ev = do(p, "bridges", cmd="bridges", name="cloud", state="connected", timeout_ms=15000)
    assert not ev["none"] and ev["table"] and ev["tile_shown"] and ev["tile"] == "1 of 2", ev
    rows = {row[0]: row for row in ev["rows"]}
    assert list(rows) == ["cloud", "dead"], ev
    assert rows["cloud"][1:3] == ["connected", "mqtt://127.0.0.1:%d" % r.port], rows
    assert rows["dead"][1] in ("waiting", "connecting") and rows["dead"][2] == "mqtt://127.0.0.1:%d" % closed, rows
    # Name, State, Address, Queued, Connects, Sent, Received, Dropped
    assert rows["cloud"][4] == "1" and rows["dead"][4] == "0", rows
    for i in range(2):
        pub(b.port, "up/t", "m%d" % i, qos=1)

    def sent():
        cloud = [row for row in do(p, "bridges", cmd="bridges", name="cloud")["rows"] if row[0] == "cloud"][0]
        return int(cloud[5]) >= 2
    wait_for(sent, 10, what="the table's sent count")
    screenshot(p, tmp_path, "overview-bridges")
    no_errors(p)
