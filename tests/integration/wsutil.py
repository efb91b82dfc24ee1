"""Helpers shared by the WebSocket tests (test_22, test_23): a broker with a plain MQTT listener
(the fixture's port) and a WebSocket listener (ws_port, optionally TLS and an http_dir), the skip
while the broker under test refuses `protocol websockets`, and MQTT.js (tests/js/mqttjs_client.mjs)
run as a child process whose JSON lines are collected."""
import json
import os
import queue
import shutil
import subprocess
import threading
import time

import pytest

from conftest import IS_MOSQUITTO, ROOT, connectable, free_port, run_config_check

JS_DIR = os.path.join(ROOT, "tests", "js")
WEB_DIR = os.path.join(ROOT, "tests", "web")
NODE = shutil.which("node") or "/usr/bin/node"
MQTTJS_CLIENT = os.path.join(JS_DIR, "mqttjs_client.mjs")


@pytest.fixture(scope="module", autouse=True)
def websockets_supported(tmp_path_factory):
    """Skips the module while the broker under test refuses a WebSocket listener in its config
    (midge until its WebSocket support lands); fails if the Node packages are not installed."""
    if not IS_MOSQUITTO:
        d = tmp_path_factory.mktemp("ws-check")
        r = run_config_check(d, "listener %d 127.0.0.1\nprotocol websockets\n" % free_port())
        if r.returncode != 0:
            first = (r.stderr or r.stdout).strip().splitlines()[:1]
            pytest.skip("the broker refuses `protocol websockets`: %s" % (first[0] if first else
                        "exit status %d" % r.returncode))
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "mqtt")):
        pytest.fail("tests/js/node_modules is missing: run scripts/install-deps", pytrace=False)


def ws_conf(ws_port, certs=None, http_dir=None, extra=""):
    """Config lines of a WebSocket listener (wss with test_16's server certificate if certs)."""
    lines = ["listener %d 127.0.0.1" % ws_port, "protocol websockets"]
    if certs is not None:
        lines += ["certfile " + certs.p("server.crt"), "keyfile " + certs.p("server.key")]
    if http_dir:
        lines.append("http_dir " + http_dir)
    return "\n".join(lines) + "\n" + extra


def ws_broker(broker, certs=None, http_dir=None, conf="", extra=""):
    """A started broker: plain MQTT on b.port (127.0.0.1), WebSocket on b.ws_port. `conf` goes
    before the WebSocket listener (global options), `extra` after it (options of that listener).
    b.ws_url(path="/mqtt") is the ws:// or wss:// address of the WebSocket listener."""
    b = broker(start=False)
    for attempt in range(3):
        b.ws_port = free_port()
        b.conf_text = conf + "\n" + ws_conf(b.ws_port, certs, http_dir, extra)
        b.start()
        try:
            deadline = time.monotonic() + 10
            while not connectable(b.ws_port):
                assert b.running() and time.monotonic() < deadline, \
                    "WebSocket listener %d not open:\n%s" % (b.ws_port, b.log()[-3000:])
                time.sleep(0.02)
            break
        except AssertionError:
            if attempt == 2 or "in use" not in b.log():
                raise
            b.kill()  # lost the WebSocket port to a parallel test: another one
    scheme = "wss" if certs is not None else "ws"
    b.ws_url = lambda path="/mqtt": "%s://127.0.0.1:%d%s" % (scheme, b.ws_port, path)
    return b


class MqttJs:
    """One `node mqttjs_client.mjs ...` process; its stdout JSON lines are collected as events."""

    def __init__(self, args):
        self.args = [str(a) for a in args]
        self.proc = subprocess.Popen([NODE, MQTTJS_CLIENT] + self.args, cwd=JS_DIR,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.events = []
        self.q = queue.Queue()
        self.err = b""
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "junk", "line": line.decode(errors="replace")}
            self.events.append(ev)
            self.q.put(ev)

    def _read_err(self):
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.err += chunk

    def expect(self, event, timeout=10):
        """The next event named `event` (others before it are skipped, still kept in .events)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ev = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("MQTT.js %s: no %r within %ss; events %r, stderr %r, exit %r"
                                     % (self.args, event, timeout, self.events, self.err,
                                        self.proc.poll())) from None
            if ev.get("event") == event:
                return ev

    def wait(self, timeout=15):
        """Waits for exit; returns the exit status."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("MQTT.js %s did not exit within %ss; events %r, stderr %r"
                                 % (self.args, timeout, self.events, self.err)) from None
        self.t_out.join(5)
        self.t_err.join(5)
        return self.proc.returncode

    def messages(self):
        return [e for e in self.events if e.get("event") == "message"]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.t_out.join(5)
        self.t_err.join(5)


@pytest.fixture
def mqttjs():
    """Factory: mqttjs(url, *args) -> running MqttJs (`--url url` then args); all killed at teardown.
    mqttjs.run(url, *args) runs one to completion and returns it (exit status in .proc.returncode)."""
    made = []

    def start(url, *args):
        c = MqttJs(["--url", url] + list(args))
        made.append(c)
        return c

    def run(url, *args, timeout=15):
        c = start(url, *args)
        c.wait(timeout)
        return c

    start.run = run
    yield start
    for c in made:
        c.kill()
