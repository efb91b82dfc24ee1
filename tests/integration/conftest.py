"""Harness for Midge's end-to-end tests: starts a real broker per test on its own free port,
and gives tests raw-socket, paho and mosquitto_pub/sub clients that never wait without a timeout.

Environment:
  MIDGE_BIN            path of the midge binary (default: <repo>/build/bin/midge)
  MIDGE_TEST_BROKER    "mosquitto" runs /usr/sbin/mosquitto instead, to check the expectations
                       against the reference broker; @pytest.mark.midge_only tests are then skipped
  MIDGE_RUN_MIDGE_ONLY=1  with mosquitto, run the midge_only tests anyway (expected to fail)
  MIDGE_SANITIZE=1     sanitizer exit codes (66/67) or sanitizer reports in the log fail the test
  MIDGE_NATS_SERVER    the nats-server binary of the cluster tests (natsutil.py; default: nats-server on PATH)
"""
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqttraw  # noqa: E402
from netutil import free_port, port_listening, wait_for  # noqa: E402,F401
from natsutil import nats_cluster  # noqa: E402,F401 (the fixture of the cluster tests)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IS_MOSQUITTO = os.environ.get("MIDGE_TEST_BROKER", "") == "mosquitto"
MOSQUITTO_BIN = "/usr/sbin/mosquitto"
SANITIZE = os.environ.get("MIDGE_SANITIZE", "") == "1"
SANITIZER_TEXT = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                  "WARNING: ThreadSanitizer")
START_TIMEOUT = 10.0


def broker_bin():
    if IS_MOSQUITTO:
        return MOSQUITTO_BIN
    path = os.environ.get("MIDGE_BIN") or os.path.join(ROOT, "build", "bin", "midge")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail("midge binary not found at %s (set MIDGE_BIN, or MIDGE_TEST_BROKER=mosquitto)"
                    % path, pytrace=False)
    return path


# ---------------------------------------------------------------- pytest plumbing

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "midge_only: Midge deliberately differs from Mosquitto here, or the option is "
        "Midge's own; skipped when MIDGE_TEST_BROKER=mosquitto")


def pytest_collection_modifyitems(config, items):
    # MIDGE_RUN_MIDGE_ONLY=1 runs them against mosquitto too, to see where and how it differs.
    if not IS_MOSQUITTO or os.environ.get("MIDGE_RUN_MIDGE_ONLY") == "1":
        return
    skip = pytest.mark.skip(reason="midge_only (running against mosquitto)")
    for item in items:
        if "midge_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in getattr(item, "_brokers", []):
            rep.sections.append(("broker log (port %d)" % b.port, b.log()[-30000:]))
        for c in getattr(item, "_nats_clusters", []):
            rep.sections.append(("NATS servers' logs (%s)" % c.name, c.logs(10000)))


# ---------------------------------------------------------------- broker

def connectable(port):
    """True when a TCP connection to 127.0.0.1:port succeeds (a listener on all addresses may show in
    /proc as listening on IPv6 before its IPv4 socket is open)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Broker:
    """One broker process with its own config file, port and log file."""

    def __init__(self, workdir, conf="", args=None, verbose=True, listener=True, port=None,
                 config=True):
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.conf_text = conf
        self.args = list(args or [])
        self.verbose = verbose
        self.listener = listener
        self.config = config  # False: no -c at all (e.g. `-p PORT` only)
        self.port = port or free_port()
        self.proc = None
        self.conf_path = os.path.join(self.dir, "broker.conf")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.starts = 0

    def write_config(self):
        lines = []
        if self.listener:
            lines += ["listener %d 127.0.0.1" % self.port, "allow_anonymous true"]
        text = "\n".join(lines) + "\n" + (self.conf_text or "") + "\n"
        with open(self.conf_path, "w") as f:
            f.write(text)

    def command(self):
        cmd = [broker_bin()]
        if self.config:
            cmd += ["-c", self.conf_path]
        if self.verbose:
            cmd.append("-v")
        return cmd + self.args

    def start(self, wait=True):
        for attempt in range(3):
            if self.config:
                self.write_config()
            logf = open(self.log_path, "ab")
            self.starts += 1
            logf.write(b"===== start %d: %s\n" % (self.starts, " ".join(self.command()).encode()))
            logf.flush()
            self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
            logf.close()
            if not wait:
                return self
            try:
                self.wait_listening()
                return self
            except AssertionError:
                if self.proc.poll() is not None and "in use" in self.log() and attempt < 2:
                    # lost the race for the port to a parallel test
                    new = free_port()
                    self.args = [str(new) if a == str(self.port) else a for a in self.args]
                    self.port = new
                    continue
                raise
        return self

    def wait_listening(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not port_listening(self.port):
            if self.proc.poll() is not None:
                raise AssertionError("broker exited with %s during start-up:\n%s"
                                     % (self.proc.returncode, self.log()[-5000:]))
            if time.monotonic() > deadline:
                raise AssertionError("broker not listening on %d after %.0fs" % (self.port, timeout))
            time.sleep(0.02)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def check_sanitizer(self):
        if not SANITIZE or IS_MOSQUITTO:
            return
        log = self.log()
        for t in SANITIZER_TEXT:
            assert t not in log, "sanitizer report in broker log:\n%s" % log[-10000:]
        assert self.proc.returncode not in (66, 67), "sanitizer exit code %d" % self.proc.returncode

    def stop(self, check=True, timeout=10):
        """SIGTERM, wait, and (with check) assert a clean exit with code 0."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise AssertionError("broker did not exit within %ds of SIGTERM" % timeout)
        rc = self.proc.returncode
        if check:
            self.check_sanitizer()
            assert rc == 0, "broker exit code %s\n%s" % (rc, self.log()[-5000:])
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()


@pytest.fixture
def broker(request, tmp_path):
    """Factory: broker(conf="extra config lines", args=[...], verbose=True) -> started Broker.
    Every broker is stopped at teardown (a non-zero exit code fails the test)."""
    made = []
    request.node._brokers = made

    def make(conf="", args=None, verbose=True, listener=True, start=True, port=None, config=True):
        b = Broker(str(tmp_path / ("broker%d" % len(made))), conf, args, verbose, listener, port,
                   config)
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    errors = []
    for b in made:
        try:
            if b.running():
                b.stop(check=True)
            elif b.proc is not None:
                b.check_sanitizer()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            b.kill()
    if errors:
        pytest.fail("broker teardown: " + "\n".join(errors), pytrace=False)


def check_sanitizer_text(text):
    """With MIDGE_SANITIZE=1, fails on a sanitizer report in a short-lived process's output."""
    if SANITIZE and not IS_MOSQUITTO:
        for t in SANITIZER_TEXT:
            assert t not in text, "sanitizer report:\n%s" % text[-10000:]


def run_config_check(tmp_path, text, args=("--test-config",), timeout=10):
    """Runs `midge -c FILE --test-config` (or other args) on a config text; returns CompletedProcess
    with .stdout/.stderr text. Midge only."""
    path = os.path.join(str(tmp_path), "check-%d.conf" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([broker_bin(), "-c", path] + list(args), capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    r.conf_path = path
    check_sanitizer_text(r.stdout + r.stderr)
    assert r.returncode not in (66, 67) or not SANITIZE, "sanitizer exit code %d" % r.returncode
    return r


def run_expect_failure(tmp_path, conf_text, timeout=10):
    """Starts midge on a config text that must make it exit at start-up; returns (exit status, output)."""
    r = run_config_check(tmp_path, conf_text, args=(), timeout=timeout)
    return r.returncode, r.stdout + r.stderr


# ---------------------------------------------------------------- raw clients

@pytest.fixture
def raw():
    """Factory: raw(port, timeout=5) -> mqttraw.RawClient; all closed at teardown."""
    made = []

    def make(port, timeout=5.0):
        c = mqttraw.RawClient(port, timeout=timeout)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def raw_connected(raw, port, client_id="", **kw):
    c = raw(port)
    c.connect(client_id, **kw)
    return c


# ---------------------------------------------------------------- paho clients

import paho.mqtt.client as mqtt  # noqa: E402


class PahoClient:
    """paho-mqtt client with its network loop in a thread and messages collected in a queue."""

    def __init__(self, port, client_id="", clean_session=True, protocol=mqtt.MQTTv311,
                 keepalive=60, will=None, username=None, password=None, transport="tcp"):
        self.port = port
        self.keepalive = keepalive
        self.c = mqtt.Client(client_id=client_id, clean_session=clean_session, protocol=protocol,
                             transport=transport)
        self.c.reconnect_delay_set(1, 2)
        if will:
            self.c.will_set(*will)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.messages = queue.Queue()
        self.connack = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.subacks = {}
        self.acked = threading.Condition()
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.started = False
        self.connects = 0  # CONNACKs seen: more than one means paho lost its connection and made another

    def _on_connect(self, c, u, flags, rc):
        self.connects += 1
        self.connack = (flags.get("session present", 0), rc)
        self.disconnected.clear()
        self.connected.set()

    def _on_disconnect(self, c, u, rc):
        self.connected.clear()
        self.disconnected.set()

    def _on_subscribe(self, c, u, mid, granted):
        with self.acked:
            self.subacks[mid] = list(granted)
            self.acked.notify_all()

    def _on_unsubscribe(self, c, u, mid):
        with self.acked:
            self.subacks[mid] = True
            self.acked.notify_all()

    def connect(self, timeout=5.0):
        """Connects and waits for CONNACK; returns (session_present, rc)."""
        self.c.connect("127.0.0.1", self.port, self.keepalive)
        self.c.loop_start()
        self.started = True
        assert self.connected.wait(timeout), "paho: no CONNACK within %.1fs" % timeout
        return self.connack

    def _wait_ack(self, mid, timeout):
        with self.acked:
            ok = self.acked.wait_for(lambda: mid in self.subacks, timeout)
            assert ok, "paho: no SUBACK/UNSUBACK for mid %d within %.1fs" % (mid, timeout)
            return self.subacks.pop(mid)

    def subscribe(self, topic, qos=0, timeout=5.0):
        """Subscribes (topic may be a list of (topic, qos)); waits for SUBACK; returns granted QoS list."""
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "paho subscribe rc %d" % rc
        return self._wait_ack(mid, timeout)

    def unsubscribe(self, topic, timeout=5.0):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self._wait_ack(mid, timeout)

    def publish(self, topic, payload=b"", qos=0, retain=False, timeout=5.0):
        """Publishes and, for QoS > 0, waits for the handshake to complete."""
        info = self.c.publish(topic, payload, qos, retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "paho publish rc %d" % info.rc
        if qos > 0:
            info.wait_for_publish(timeout)
            assert info.is_published(), "paho: QoS %d publish not acknowledged within %.1fs" % (qos, timeout)
        return info

    def get(self, timeout=5.0):
        """Next received message (paho MQTTMessage); AssertionError if none within timeout."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho: no message within %.1fs" % timeout) from None

    def get_n(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(n):
            out.append(self.get(max(0.01, deadline - time.monotonic())))
        return out

    def expect_none(self, timeout=0.5):
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("paho: unexpected message %r %r" % (m.topic, m.payload))

    def close(self):
        if self.started:
            try:
                self.c.disconnect()
            except Exception:
                pass
            self.c.loop_stop()
            self.started = False


@pytest.fixture
def paho():
    """Factory: paho(port, client_id="", clean_session=True, protocol=4, keepalive=60, will=None,
    transport="tcp") -> connected PahoClient (connect=False to get it unconnected). All closed at teardown."""
    made = []

    def make(port, connect=True, protocol=4, **kw):
        proto = mqtt.MQTTv31 if protocol == 3 else mqtt.MQTTv311
        c = PahoClient(port, protocol=proto, **kw)
        made.append(c)
        if connect:
            sp, rc = c.connect()
            assert rc == 0, "paho CONNACK rc %d" % rc
        return c

    yield make
    for c in made:
        c.close()


class Paho5Client(PahoClient):
    """paho-mqtt as an MQTT 5 client: CONNECT properties, Clean Start, will properties; the CONNACK
    reason code and properties, SUBACK reason codes and the DISCONNECT reason are recorded."""

    def __init__(self, port, client_id="", clean_start=True, keepalive=60, will=None,
                 will_props=None, connect_props=None, username=None, password=None,
                 transport="tcp"):
        self.port = port
        self.keepalive = keepalive
        self.clean_start = clean_start
        self.connect_props = connect_props
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5, transport=transport)
        self.c.reconnect_delay_set(1, 2)
        if will:
            self.c.will_set(*will, properties=will_props)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.messages = queue.Queue()
        self.connack = None
        self.connack_props = None
        self.disconnect_rc = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.subacks = {}
        self.acked = threading.Condition()
        self.c.on_connect = self._on_connect5
        self.c.on_disconnect = self._on_disconnect5
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = self._on_subscribe5
        self.c.on_unsubscribe = self._on_unsubscribe5
        self.started = False

    def _on_connect5(self, c, u, flags, rc, props=None):
        self.connack = (flags.get("session present", 0), rc.value)
        self.connack_props = props
        self.disconnected.clear()
        self.connected.set()

    def _on_disconnect5(self, c, u, rc, props=None):
        self.disconnect_rc = getattr(rc, "value", rc)
        self.connected.clear()
        self.disconnected.set()

    def _on_subscribe5(self, c, u, mid, reason_codes, props=None):
        with self.acked:
            self.subacks[mid] = [r.value for r in reason_codes]
            self.acked.notify_all()

    def _on_unsubscribe5(self, c, u, mid, props=None, reason_codes=None):
        with self.acked:
            self.subacks[mid] = True
            self.acked.notify_all()

    def connect(self, timeout=5.0):
        """Connects (MQTT 5) and waits for CONNACK; returns (session_present, reason code)."""
        self.c.connect("127.0.0.1", self.port, self.keepalive, clean_start=self.clean_start,
                       properties=self.connect_props)
        self.c.loop_start()
        self.started = True
        assert self.connected.wait(timeout), "paho: no CONNACK within %.1fs" % timeout
        return self.connack

    def subscribe(self, topic, qos=0, options=None, properties=None, timeout=5.0):
        """Subscribes (options: paho SubscribeOptions; topic may be a list of (topic, options));
        waits for SUBACK; returns the reason codes."""
        if options is not None:
            rc, mid = self.c.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos, properties=properties)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "paho subscribe rc %d" % rc
        return self._wait_ack(mid, timeout)

    def unsubscribe(self, topic, properties=None, timeout=5.0):
        rc, mid = self.c.unsubscribe(topic, properties=properties)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self._wait_ack(mid, timeout)

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, timeout=5.0):
        """Publishes (with MQTT 5 properties) and, for QoS > 0, waits for the handshake."""
        info = self.c.publish(topic, payload, qos, retain, properties=properties)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "paho publish rc %d" % info.rc
        if qos > 0:
            info.wait_for_publish(timeout)
            assert info.is_published(), "paho: QoS %d publish not acknowledged within %.1fs" % (qos, timeout)
        return info


@pytest.fixture
def paho5():
    """Factory: paho5(port, client_id="", clean_start=True, keepalive=60, will=None,
    will_props=None, connect_props=None, transport="tcp") -> connected Paho5Client (connect=False to get it
    unconnected). All closed at teardown."""
    made = []

    def make(port, connect=True, **kw):
        c = Paho5Client(port, **kw)
        made.append(c)
        if connect:
            sp, rc = c.connect()
            assert rc == 0, "paho CONNACK reason code %d" % rc
        return c

    yield make
    for c in made:
        c.close()


# ---------------------------------------------------------------- mosquitto_pub / mosquitto_sub

MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
STDBUF = [shutil.which("stdbuf") or "/usr/bin/stdbuf", "-oL"]


def mosquitto_pub(port, topic, message=None, qos=0, args=(), stdin=None, timeout=30):
    """Runs mosquitto_pub to completion; returns CompletedProcess (bytes output)."""
    cmd = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos)]
    if message is not None:
        cmd += ["-m", message]
    cmd += list(args)
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)


class SubProcess:
    """A running mosquitto_sub -d: knows when its SUBACK arrived, collects the messages it prints
    (format MSG|topic|qos|retain|length|payload)."""

    def __init__(self, port, topics, count, qos=0, wait=20, args=()):
        if isinstance(topics, str):
            topics = [topics]
        # stdbuf: mosquitto_sub writes through stdio, fully buffered on a pipe; the SUBACK debug
        # line must reach us as soon as it is printed.
        cmd = STDBUF + [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-q", str(qos), "-d",
               "-C", str(count), "-W", str(wait), "-F", "MSG|%t|%q|%r|%l|%p"]
        for t in topics:
            cmd += ["-t", t]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.subacked = threading.Event()
        self.messages = []
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith(b"MSG|"):
                topic, q, r, length, payload = line[4:].rstrip(b"\n").split(b"|", 4)
                self.messages.append((topic.decode(), int(q), int(r), int(length), payload))
            else:
                self.lines.append(line)
                if b"SUBACK" in line:
                    self.subacked.set()

    def wait_subscribed(self, timeout=10):
        assert self.subacked.wait(timeout), "mosquitto_sub not subscribed: %r" % self.lines[-5:]

    def wait(self, timeout=30):
        """Waits for exit; returns (returncode, messages)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("mosquitto_sub did not exit within %ds" % timeout)
        self.t.join(10)
        return self.proc.returncode, self.messages

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.t.join(5)


@pytest.fixture
def mosq_sub():
    """Factory: mosq_sub(port, topics, count, qos=0, wait=20) -> SubProcess already subscribed."""
    made = []

    def make(port, topics, count, qos=0, wait=20, args=()):
        s = SubProcess(port, topics, count, qos, wait, args)
        made.append(s)
        s.wait_subscribed()
        return s

    yield make
    for s in made:
        s.kill()
