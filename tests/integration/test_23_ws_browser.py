"""23 A browser on a WebSocket listener: headless Debian Chromium (driven by tests/js/browser_test.mjs
with playwright-core) loads tests/web/index.html from the listener's http_dir, served by the broker
itself, and the page's MQTT.js connects back to the same listener at /mqtt. A message published with
mosquitto_pub on the plain TCP listener shows in the page; the page's form publishes to a
mosquitto_sub. Over http + ws, and over https + wss with test_16's server certificate trusted by its
key (Chromium's --ignore-certificate-errors-spki-list). Also http_dir itself: files served with
200, a missing file 404, nothing outside the directory, and the WebSocket handshake's answer.

Skipped as a whole while the broker under test refuses `protocol websockets` (see wsutil.py)."""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import queue
import time

import pytest

from conftest import mosquitto_pub
from test_16_tls import certs, openssl  # noqa: F401 (fixture)
from wsutil import JS_DIR, NODE, WEB_DIR, websockets_supported, ws_broker  # noqa: F401 (fixture)

BROWSER_TEST = os.path.join(JS_DIR, "browser_test.mjs")
MQTT_BUNDLE = os.path.join(JS_DIR, "node_modules", "mqtt", "dist", "mqtt.min.js")


@pytest.fixture
def http_dir():
    """The test page and MQTT.js's browser bundle in a world-readable directory (Mosquitto, started
    as root, reads it after dropping privileges)."""
    d = tempfile.mkdtemp(prefix="midge-www-")
    for name in os.listdir(WEB_DIR):
        shutil.copy(os.path.join(WEB_DIR, name), d)
    shutil.copy(MQTT_BUNDLE, d)
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o644)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def spki_hash(crt):
    """base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's SPKI list wants it."""
    pem = openssl("x509", "-in", crt, "-pubkey", "-noout")
    der = openssl("pkey", "-pubin", "-outform", "der", input=pem)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class Browser:
    """One browser_test.mjs process, or another driver script of tests/js taking the same --url and --profile
    (test_31's dashboard_test.mjs), and its Chromium, found again by its profile directory."""

    def __init__(self, url, args=(), script=BROWSER_TEST):
        self.profile = tempfile.mkdtemp(prefix="midge-chromium-")
        self.proc = subprocess.Popen([NODE, script, "--url", url, "--profile", self.profile]
                                     + list(args), cwd=JS_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.q = queue.Queue()
        self.err = b""
        self.events = []
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            self.events.append(ev)
            self.q.put(ev)

    def _read_err(self):
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.err += chunk

    def expect(self, event, timeout=12):
        deadline = time.monotonic() + timeout
        while True:
            try:
                ev = self.q.get(timeout=0.1)
                break
            except queue.Empty:
                if time.monotonic() < deadline and self.proc.poll() is None:
                    continue
                time.sleep(0.1)  # the reader threads catch up with an exited process
                if not self.q.empty():
                    continue
            raise AssertionError("browser: no %r within %ss (exit %r); stderr:\n%s" % (
                event, timeout, self.proc.poll(), self.err.decode(errors="replace"))) from None
        assert ev.get("event") == event, (ev, self.err)
        return ev

    def send(self, **cmd):
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send(cmd="quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.send_signal(signal.SIGTERM)  # playwright ends its Chromium on SIGTERM
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        # Whatever happened: no Chromium process of this profile outlives the test.
        for pid in chromium_pids(self.profile):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


def chromium_pids(profile):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    if profile.encode() in f.read():
                        pids.append(int(name))
            except OSError:
                pass
    return pids


@pytest.fixture
def browser():
    """Factory: browser(url, *args) -> Browser whose page has connected and subscribed."""
    made = []

    def make(url, *args):
        b = Browser(url, args)
        made.append(b)
        b.expect("ready", timeout=15)
        return b

    yield make
    for b in made:
        b.close()


def round_trip(b, page, mosq_sub):
    """TCP -> page, then page -> TCP."""
    assert mosquitto_pub(b.port, "web/in/t", "hello browser", qos=1).returncode == 0
    page.send(cmd="wait_message", text="web/in/t hello browser")
    assert page.expect("message") == {"event": "message", "text": "web/in/t hello browser", "qos": "1"}
    s = mosq_sub(b.port, "web/out", 1, qos=1)
    page.send(cmd="publish", topic="web/out", payload="hello from chromium", qos=1)
    assert page.expect("published")["status"] == "published 1"
    assert s.wait(10) == (0, [("web/out", 1, 0, 19, b"hello from chromium")])


def test_page_over_http_and_ws(broker, http_dir, browser, mosq_sub):
    b = ws_broker(broker, http_dir=http_dir)
    page = browser("http://127.0.0.1:%d/index.html" % b.ws_port)
    round_trip(b, page, mosq_sub)


def test_page_over_https_and_wss(broker, certs, http_dir, browser, mosq_sub):
    """The page comes over https from the wss listener, whose key Chromium is told to trust; the
    page's MQTT.js then connects to wss:// on the same origin."""
    b = ws_broker(broker, certs=certs, http_dir=http_dir)
    page = browser("https://127.0.0.1:%d/index.html" % b.ws_port,
                   "--spki", spki_hash(certs.p("server.crt")))
    round_trip(b, page, mosq_sub)


def test_untrusted_https_page_not_loaded(broker, certs, http_dir):
    """Without the SPKI trust the test certificate is refused: the https test above trusts it on
    purpose, not by accident."""
    b = ws_broker(broker, certs=certs, http_dir=http_dir)
    page = Browser("https://127.0.0.1:%d/index.html" % b.ws_port)
    try:
        assert page.proc.wait(15) == 2
        assert b"ERR_CERT_AUTHORITY_INVALID" in page.err, page.err
    finally:
        page.close()


# ---------------------------------------------------------------- http_dir and the handshake, raw


def http(port, request, timeout=5):
    """Sends a raw HTTP request; returns (status, headers dict (lower-case names), body) of the
    answer read until the server closes or goes quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(request.encode())
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < head_and_length(data):
            d = s.recv(65536)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body


def head_and_length(data):
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return 1 << 30


def get(port, path):
    return http(port, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (path, port))


def test_http_dir_serves_files(broker, http_dir):
    b = ws_broker(broker, http_dir=http_dir)
    with open(os.path.join(http_dir, "index.html"), "rb") as f:
        page = f.read()
    status, headers, body = get(b.ws_port, "/index.html")
    assert (status, body) == (200, page)
    assert int(headers["content-length"]) == len(page)
    status, headers, body = get(b.ws_port, "/mqtt.min.js")
    assert status == 200 and len(body) == os.path.getsize(MQTT_BUNDLE)


def test_http_dir_missing_file_is_404(broker, http_dir):
    b = ws_broker(broker, http_dir=http_dir)
    assert get(b.ws_port, "/no-such-file.html")[0] == 404


def test_http_dir_nothing_outside(broker, http_dir, tmp_path):
    """A path climbing out of http_dir is not served (Mosquitto answers 404)."""
    secret_dir = tempfile.mkdtemp(prefix="midge-secret-")
    try:
        with open(os.path.join(secret_dir, "secret.txt"), "w") as f:
            f.write("do not serve")
        os.chmod(secret_dir, 0o755)
        os.chmod(os.path.join(secret_dir, "secret.txt"), 0o644)
        b = ws_broker(broker, http_dir=http_dir)
        rel = "/../%s/secret.txt" % os.path.basename(secret_dir)
        for path in (rel, rel.replace("/../", "/%2e%2e/"), "/..%2f" + rel[4:]):
            status, _, body = get(b.ws_port, path)
            assert status != 200 and b"do not serve" not in body, (path, status, body)
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)


def test_websocket_handshake_answer(broker):
    """101 with the RFC 6455 accept key and the subprotocol `mqtt` chosen."""
    b = ws_broker(broker)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s = socket.create_connection(("127.0.0.1", b.ws_port), timeout=5)
    try:
        s.sendall(("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: mqtt\r\n\r\n" % key).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            d = s.recv(4096)
            assert d, "closed: %r" % data
            data += d
    finally:
        s.close()
    lines = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101 ")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers["sec-websocket-protocol"] == "mqtt"
    assert headers["upgrade"].lower() == "websocket"
    assert headers["connection"].lower() == "upgrade"
