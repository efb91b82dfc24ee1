#!/usr/bin/python3
"""Crash test of durable storage (issue 7): publishers and subscribers with persistent sessions keep
traffic flowing while the broker is killed with SIGKILL and restarted on the same port and store,
round after round; then everything drains and the deliveries are checked against the promise:

    once the broker has sent PUBACK (QoS 1) or PUBREC (QoS 2) for a message, every subscriber that
    was entitled to it receives it, whatever happens to the broker process.

Verdict, per subscriber: every acknowledged (publisher, seq) received (lost = 0); a QoS 2 message
delivered at QoS 2 never received twice; any other second copy must carry DUP=1, or be the
publisher's own resend of a QoS 1 message (a new message to the broker).

A module (run(Options(...)) -> Result; used by test_26_crash.py and scripts/crash-test) that is also
runnable as a script: `tests/integration/crashtest.py --bin build/bin/midge --rounds 20`.
Raw MQTT 3.1.1 and 5 over sockets (mqttraw.py), one thread per client; no third-party code."""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqttraw as m  # noqa: E402
from netutil import free_port, port_listening  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPIC = "crash"
SESSION_FOREVER = 0xFFFFFFFF
SANITIZER_TEXT = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                  "WARNING: ThreadSanitizer")
# Broker log lines worth showing in the report whatever happened.
LOG_WORDS = ("error", "fail", "corrupt", "dropped", "cannot", "warning", "refused")


# ---------------------------------------------------------------- options and results

class Options:
    """What a run does. Every field has a default; pass overrides as keyword arguments."""

    def __init__(self, **kw):
        self.bin = os.path.join(ROOT, "build", "bin", "midge")
        self.rounds = 5              # kills (SIGKILL + restart)
        self.min_up = 0.3            # seconds the broker runs, once listening, before a kill
        self.max_up = 2.0
        self.settle = None           # traffic after the last restart before draining (None: like min/max_up)
        self.seed = None             # None: random, printed in the summary
        self.rate = 200.0            # messages/s per publisher (0: as fast as the window allows)
        self.window = 10             # unacknowledged messages per publisher
        self.payload_size = 48       # bytes per payload (at least the "name:seq" text)
        # Publishers: (name, qos, protocol level). Subscribers: (name, subscription qos, protocol, flaky).
        self.publishers = [("p0", 1, m.MQTT311), ("p1", 1, m.MQTT5),
                           ("p2", 2, m.MQTT311), ("p3", 2, m.MQTT5)]
        self.subscribers = [("s0", 2, m.MQTT311, False), ("s1", 1, m.MQTT5, False),
                            ("s2", 2, m.MQTT5, True), ("s3", 1, m.MQTT311, True)]
        self.flaky_online = (0.2, 1.0)   # a flaky subscriber's time online, then offline, seconds
        self.flaky_offline = (0.2, 1.0)
        self.quiet = 2.0             # drain: no delivery for this long
        self.drain_timeout = 60.0    # drain: give up (and fail) after this long
        self.start_timeout = 30.0    # broker start-up (with its store to load)
        self.signal = signal.SIGKILL  # SIGTERM instead checks the harness against a clean restart
        self.conf = []               # extra config lines
        self.workdir = None          # None: a temporary directory, removed after a passing run
        self.keep = False            # keep the work directory even when the run passes
        self.snapshots = False       # copy the store after each kill (store-after-kill-NNN), for evidence
        self.sanitize = os.environ.get("MIDGE_SANITIZE", "") == "1"
        self.log = None              # progress lines: a callable taking a str, or None
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("unknown option %r" % k)
            setattr(self, k, v)


class Result:
    """What a run saw. ok is True when nothing was lost, no forbidden duplicate arrived and nothing
    else went wrong (problems is empty). summary() is one line; report() the full text."""

    def __init__(self):
        self.ok = False
        self.problems = []     # failures, each one line (details follow in report())
        self.warnings = []     # odd but allowed
        self.details = []      # evidence: lost seqs, broker log excerpts
        self.counts = {}
        self.subs = {}         # subscriber name -> counts
        self.recovery = []     # seconds from restart (spawn) to the first delivery, per restart
        self.listen = []       # seconds from restart to listening, per restart
        self.rounds = 0
        self.seed = None
        self.elapsed = 0.0
        self.exit_code = None
        self.workdir = None

    def summary(self):
        c = self.counts
        d = c.get("dups", {})
        rec = _stats(self.recovery)
        return ("crash-test: %s; %d rounds, %d published, %d acknowledged, %d publisher resends; "
                "received %d of %d expected, lost %d; duplicates %d (%d DUP=1, %d publisher resend, "
                "%d QoS 2 twice, %d unflagged); recovery %s; broker exit %s; %.1fs; seed %s"
                % ("PASS" if self.ok else "FAIL", self.rounds, c.get("published", 0),
                   c.get("acknowledged", 0), c.get("resent", 0), c.get("received", 0),
                   c.get("expected", 0), c.get("lost", 0), sum(d.values()), d.get("dup_flag", 0),
                   d.get("pub_resend", 0), d.get("qos2_twice", 0), d.get("unflagged", 0), rec,
                   self.exit_code, self.elapsed, self.seed))

    def report(self):
        out = []
        for name, s in sorted(self.subs.items()):
            out.append("  %-3s %s: expected %d, received %d (%d deliveries, %d QoS 2 retransmissions "
                       "absorbed), lost %d, duplicates %s, connections %d"
                       % (name, s["kind"], s["expected"], s["received"], s["deliveries"],
                          s["absorbed"], s["lost"], s["dups"], s["connections"]))
        if self.listen:
            out.append("  restart to listening: %s" % _stats(self.listen))
        for p in self.problems:
            out.append("PROBLEM: " + p)
        for w in self.warnings:
            out.append("warning: " + w)
        out.extend(self.details)
        if self.workdir:
            out.append("work directory: %s" % self.workdir)
        out.append(self.summary())
        return "\n".join(out)


def _stats(xs):
    if not xs:
        return "n/a"
    s = sorted(xs)
    return "min %.3fs median %.3fs max %.3fs" % (s[0], s[len(s) // 2], s[-1])


# ---------------------------------------------------------------- the broker process

class Broker:
    """The broker under test: one config, one store directory, one port kept across restarts, and a
    log file per start (broker-NNN.log) so each run of the process can be read on its own."""

    def __init__(self, opts, workdir):
        self.opts = opts
        self.dir = workdir
        self.store = os.path.join(workdir, "store")
        os.makedirs(self.store, mode=0o700, exist_ok=True)
        self.conf_path = os.path.join(workdir, "broker.conf")
        self.port = free_port()
        self.proc = None
        self.starts = 0          # number of starts so far; the current one is starts - 1
        self.spawned = []        # monotonic time of each start
        self.listening = []      # monotonic time each start was seen listening
        self.killed = []         # monotonic time each kill signal was sent
        self.dead = []           # monotonic time each killed process was reaped

    def write_config(self):
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true", "persistence true",
                 "persistence_location %s/" % self.store, "max_queued_messages 0",
                 "max_inflight_messages 20"] + list(self.opts.conf)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def log_path(self, i):
        return os.path.join(self.dir, "broker-%03d.log" % i)

    def log(self, i):
        try:
            with open(self.log_path(i), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self):
        """Starts the broker and waits until it listens; AssertionError with its log if it does not."""
        for attempt in range(3):
            self.write_config()
            i = self.starts
            with open(self.log_path(i), "wb") as logf:
                self.proc = subprocess.Popen([self.opts.bin, "-c", self.conf_path, "-v"], stdout=logf,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             cwd=self.dir)
            t0 = time.monotonic()
            # Counted from the spawn: a client may connect to it before the loop below sees it listen.
            self.starts += 1
            self.spawned.append(t0)
            deadline = t0 + self.opts.start_timeout
            while not port_listening(self.port):
                if self.proc.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError("broker start %d not listening on %d after %.0fs:\n%s"
                                         % (i, self.port, self.opts.start_timeout, self.log(i)[-3000:]))
                time.sleep(0.005)
            if self.proc.poll() is None:
                self.listening.append(time.monotonic())
                return
            log = self.log(i)
            if "in use" in log and attempt < 2:
                self.starts -= 1
                self.spawned.pop()
                # Lost the port to another process between kill and restart: the clients follow.
                os.replace(self.log_path(i), self.log_path(i) + ".port-in-use")
                self.port = free_port()
                continue
            raise AssertionError("broker start %d exited with %s during start-up:\n%s"
                                 % (i, self.proc.returncode, log[-3000:]))

    def kill(self, sig):
        self.killed.append(time.monotonic())
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.dead.append(time.monotonic())
        if self.opts.snapshots:
            shutil.copytree(self.store, self.snapshot(len(self.killed)))

    def snapshot(self, k):
        """The copy of the store as kill k (1-based) left it."""
        return os.path.join(self.dir, "store-after-kill-%03d" % k)

    def stop(self, timeout=30):
        """SIGTERM and wait: the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def reap(self):
        """Kills whatever is still running (the finally of every run)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def epoch(self):
        """Index of the broker start a client connecting now talks to."""
        return self.starts - 1


# ---------------------------------------------------------------- clients

class Shared:
    """What the driver and the client threads share."""

    def __init__(self, opts, broker):
        self.opts = opts
        self.broker = broker
        self.stop = threading.Event()        # client threads end
        self.go = threading.Event()          # publishers start (every subscriber has its SUBACK)
        self.publishing = True               # cleared to drain
        self.hold_online = False             # set to drain: flaky subscribers stay connected
        self.lock = threading.Lock()
        self.problems = []
        self.warnings = []
        self.t0 = time.monotonic()

    def problem(self, text):
        with self.lock:
            self.problems.append("%.3fs %s" % (time.monotonic() - self.t0, text))

    def warn(self, text):
        with self.lock:
            if len(self.warnings) < 200:
                self.warnings.append("%.3fs %s" % (time.monotonic() - self.t0, text))


class Client(threading.Thread):
    """One MQTT client with a persistent session, reconnecting (every 20 ms) whenever its connection
    fails, until shared.stop. Subclasses keep their protocol state across connections."""

    def __init__(self, shared, name, proto):
        super().__init__(name="crashtest-" + name, daemon=True)
        self.sh = shared
        self.cid = "crashtest-" + name
        self.name_ = name
        self.proto = proto
        self.conn = None
        self.connected = False
        self.connections = 0
        self.ever_connected = False
        self.epoch = -1
        self.receive_max = 65535
        self.last_send = 0.0
        self.error = None
        self.periods = []       # [broker start, connected at, disconnected at or None] per connection

    def run(self):
        try:
            while not self.sh.stop.is_set():
                try:
                    self.session()
                except (OSError, m.Closed, ValueError, struct.error, IndexError):
                    pass
                finally:
                    if self.connected:
                        self.periods[-1][2] = time.monotonic()
                    self.connected = False
                    if self.conn is not None:
                        self.conn.close()
                        self.conn = None
                self.sh.stop.wait(self.pause())
        except Exception as e:  # a bug in the harness: say so instead of hanging the drain
            self.error = "%s: %r" % (self.name_, e)
            self.sh.problem("client thread %s died: %r" % (self.name_, e))
            raise

    def pause(self):
        return 0.02

    def open(self):
        """Connects (CONNECT, CONNACK) with clean session/start 0; returns session present."""
        c = m.RawClient(self.sh.broker.port, timeout=10.0)
        self.conn = c
        props = None
        if self.proto == m.MQTT5:
            props = [(m.SESSION_EXPIRY_INTERVAL, SESSION_FOREVER)]
        c.send(m.connect(self.cid, clean=False, keepalive=30, proto=self.proto, props=props))
        ack = c.recv(10.0)
        epoch = self.sh.broker.epoch  # after the CONNACK: the start that answered has been counted
        if ack.type != m.CONNACK:
            raise ValueError("expected CONNACK, got %r" % ack)
        if ack.rc != 0:
            self.sh.warn("%s: CONNACK refused, code 0x%02x" % (self.name_, ack.rc))
            raise m.Closed("refused")
        if self.proto == m.MQTT5:
            self.receive_max = ack.prop(m.RECEIVE_MAXIMUM, 65535)
        if self.ever_connected and not ack.session_present:
            self.sh.problem("%s: session not present on reconnect (broker start %d): the broker lost "
                            "its session" % (self.name_, epoch))
        self.ever_connected = True
        self.connected = True
        self.connections += 1
        self.epoch = epoch
        self.periods.append([epoch, time.monotonic(), None])
        self.last_send = time.monotonic()
        return ack.session_present

    def send(self, data):
        self.conn.send(data)
        self.last_send = time.monotonic()

    def ping_if_idle(self):
        if time.monotonic() - self.last_send > 10:
            self.send(m.pingreq())

    def props(self):
        return [] if self.proto == m.MQTT5 else None


class Publisher(Client):
    """Publishes name:seq payloads on crash/<name> at one QoS, keeping at most opts.window messages
    unacknowledged; on every reconnect resends, in order, each unacknowledged PUBLISH with its packet
    id and DUP=1, and PUBREL for each QoS 2 message that had its PUBREC."""

    def __init__(self, shared, name, qos, proto):
        super().__init__(shared, name, proto)
        self.qos = qos
        self.topic = "%s/%s" % (TOPIC, name)
        self.next_seq = 1
        self.inflight = {}      # pid -> [seq, "pub" | "rel"], in the order first sent
        self.retry = []         # seqs refused with an MQTT 5 error reason: published again
        self.acked = {}         # seq -> (broker start, monotonic time) of its PUBACK / PUBREC
        self.sends = {}         # seq -> times its PUBLISH was sent (more than 1: resent)
        self.sent_log = {}      # seq -> [(broker start, monotonic time, dup), ...] of those PUBLISHes
        self.pids = {}          # seq -> last packet id
        self.refused = 0
        self.next_pid = 1
        self.next_time = 0.0

    @property
    def published(self):
        return self.next_seq - 1

    def done(self):
        return self.connected and not self.inflight and not self.retry

    def payload(self, seq):
        p = ("%s:%d:" % (self.name_, seq)).encode()
        return p + b"x" * max(0, self.sh.opts.payload_size - len(p))

    def alloc_pid(self):
        while True:
            pid = self.next_pid
            self.next_pid = pid % 65535 + 1
            if pid not in self.inflight:
                return pid

    def send_publish(self, pid, seq, dup):
        self.send(m.publish(self.topic, self.payload(seq), self.qos, dup=dup, mid=pid,
                            props=self.props()))
        self.sends[seq] = self.sends.get(seq, 0) + 1
        self.sent_log.setdefault(seq, []).append((self.epoch, time.monotonic(), dup))

    def session(self):
        self.open()
        for pid, (seq, state) in list(self.inflight.items()):
            if state == "pub":
                self.send_publish(pid, seq, True)
            else:
                self.send(m.pubrel(pid))
        self.sh.go.wait()
        while not self.sh.stop.is_set():
            self.publish_more()
            try:
                p = self.conn.recv(self.wait_time())
            except socket.timeout:
                self.ping_if_idle()
                continue
            self.handle(p)

    def window(self):
        return min(self.sh.opts.window, self.receive_max)

    def wait_time(self):
        if self.sh.publishing and len(self.inflight) < self.window() and self.sh.opts.rate > 0:
            return min(0.05, max(0.001, self.next_time - time.monotonic()))
        return 0.05

    def publish_more(self):
        while len(self.inflight) < self.window() and (self.sh.publishing or self.retry):
            now = time.monotonic()
            if self.sh.opts.rate > 0 and not self.retry:
                if now < self.next_time:
                    return
                # no bursts to catch up after a broker outage
                self.next_time = max(self.next_time + 1.0 / self.sh.opts.rate, now - 0.05)
            if self.retry:
                seq = self.retry.pop(0)
            else:
                seq = self.next_seq
                self.next_seq += 1
            pid = self.alloc_pid()
            self.inflight[pid] = [seq, "pub"]
            self.pids[seq] = pid
            self.send_publish(pid, seq, False)

    def handle(self, p):
        f = self.inflight.get(p.mid) if p.mid is not None else None
        if p.type in (m.PUBACK, m.PUBREC):
            want = m.PUBACK if self.qos == 1 else m.PUBREC
            if f is None or f[1] != "pub" or p.type != want:
                self.sh.warn("%s: unexpected %r (in flight: %r)" % (self.name_, p, f))
                if p.type == m.PUBREC and f is not None:
                    self.send(m.pubrel(p.mid))
                return
            seq = f[0]
            if p.reason is not None and p.reason >= 0x80:
                # Not accepted (MQTT 5, e.g. 0x97 when a commit failed): the flow ends; publish it again.
                self.refused += 1
                self.sh.warn("%s: seq %d refused with reason 0x%02x" % (self.name_, seq, p.reason))
                del self.inflight[p.mid]
                self.retry.append(seq)
                return
            if seq not in self.acked:
                self.acked[seq] = (self.epoch, time.monotonic())
            if self.qos == 1:
                del self.inflight[p.mid]
            else:
                f[1] = "rel"
                self.send(m.pubrel(p.mid))
        elif p.type == m.PUBCOMP:
            if f is None or f[1] != "rel":
                self.sh.warn("%s: unexpected %r (in flight: %r)" % (self.name_, p, f))
                return
            del self.inflight[p.mid]
        elif p.type == m.DISCONNECT and p.reason != m.SERVER_SHUTTING_DOWN:
            self.sh.warn("%s: DISCONNECT from the broker %r" % (self.name_, p))
        elif p.type not in (m.PINGRESP, m.DISCONNECT):
            self.sh.warn("%s: unexpected %r" % (self.name_, p))


class Subscriber(Client):
    """Subscribes once (on its first connection, before anything is published) to crash/# and records
    every delivery: got[publisher][seq] = [(qos, dup, broker start), ...]. Acknowledges QoS 1 with
    PUBACK and QoS 2 with PUBREC, then PUBCOMP on PUBREL (for an unknown packet id too); the QoS 2 packet
    ids awaiting PUBREL are kept across connections, so a retransmission of one is not a new delivery.
    A flaky subscriber disconnects and comes back by itself so that messages queue for it offline."""

    def __init__(self, shared, name, qos, proto, flaky, rnd):
        super().__init__(shared, name, proto)
        self.qos = qos
        self.flaky = flaky
        self.rnd = rnd
        self.subscribed = threading.Event()
        self.got = {}           # publisher name -> {seq: [(qos, dup, epoch), ...]}
        self.awaiting = {}      # QoS 2 packet id -> (publisher, seq), awaiting PUBREL
        self.absorbed = 0       # QoS 2 retransmissions of an id awaiting PUBREL
        self.first = {}         # broker start -> monotonic time of the first delivery on it
        self.last_rx = 0.0
        self.deliveries = 0

    def kind(self):
        return "sub QoS %d, MQTT %s%s" % (self.qos, "5" if self.proto == m.MQTT5 else "3.1.1",
                                          ", flaky" if self.flaky else "")

    def pause(self):
        if self.flaky and not self.sh.hold_online and self.ever_connected:
            return self.rnd.uniform(*self.sh.opts.flaky_offline)
        return 0.02

    def idle(self):
        return self.connected and self.subscribed.is_set() and not self.awaiting

    def session(self):
        self.open()
        if not self.subscribed.is_set():
            self.send(m.subscribe(1, [(TOPIC + "/#", self.qos)], props=self.props()))
            while True:
                p = self.conn.recv(10.0)
                if p.type == m.SUBACK:
                    break
                self.handle(p)
            if p.granted != [self.qos]:
                self.sh.problem("%s: SUBACK granted %r, asked QoS %d" % (self.name_, p.granted, self.qos))
            self.subscribed.set()
        online_until = time.monotonic() + self.rnd.uniform(*self.sh.opts.flaky_online)
        while not self.sh.stop.is_set():
            if self.flaky and not self.sh.hold_online and time.monotonic() > online_until:
                if self.rnd.random() < 0.5:
                    self.send(m.disconnect(0 if self.proto == m.MQTT5 else None))
                return  # and the socket is closed: abruptly when no DISCONNECT was sent
            try:
                p = self.conn.recv(0.05)
            except socket.timeout:
                self.ping_if_idle()
                continue
            self.handle(p)

    def handle(self, p):
        now = time.monotonic()
        if p.type == m.PUBLISH:
            self.last_rx = now
            try:
                name, seq, _ = p.payload.split(b":", 2)
                name, seq = name.decode(), int(seq)
            except ValueError:
                self.sh.problem("%s: unexpected payload %r on %r" % (self.name_, p.payload[:60], p.topic))
                self.ack(p)
                return
            if p.qos == 2 and p.mid in self.awaiting:
                prev = self.awaiting[p.mid]
                if prev == (name, seq):
                    self.absorbed += 1
                    if not p.dup:
                        self.sh.problem("%s: %s:%d sent again with packet id %d awaiting PUBREL, "
                                        "without DUP=1 [MQTT-3.3.1-1]" % (self.name_, name, seq, p.mid))
                    self.send(m.pubrec(p.mid))
                    return
                self.sh.problem("%s: %s:%d sent with packet id %d while %s:%d still awaits its PUBREL "
                                "under that id (a real client would drop it)"
                                % (self.name_, name, seq, p.mid, prev[0], prev[1]))
            self.record(name, seq, p.qos, p.dup, now)
            self.ack(p, (name, seq))
        elif p.type == m.PUBREL:
            self.last_rx = now
            self.awaiting.pop(p.mid, None)
            self.send(m.pubcomp(p.mid))
        elif p.type == m.DISCONNECT and p.reason != m.SERVER_SHUTTING_DOWN:
            self.sh.warn("%s: DISCONNECT from the broker %r" % (self.name_, p))
        elif p.type not in (m.PINGRESP, m.DISCONNECT):
            self.sh.warn("%s: unexpected %r" % (self.name_, p))

    def record(self, name, seq, qos, dup, now):
        self.got.setdefault(name, {}).setdefault(seq, []).append((qos, dup, self.epoch))
        self.deliveries += 1
        if self.epoch not in self.first:
            self.first[self.epoch] = now

    def ack(self, p, key=None):
        if p.qos == 1:
            self.send(m.puback(p.mid))
        elif p.qos == 2:
            if key is not None:
                self.awaiting[p.mid] = key
            self.send(m.pubrec(p.mid))


# ---------------------------------------------------------------- the driver

def run(opts=None, **kw):
    """Runs the crash test; returns a Result. Every process it starts is gone when it returns."""
    opts = opts or Options(**kw)
    res = Result()
    res.seed = opts.seed if opts.seed is not None else random.randrange(1 << 31)
    rnd = random.Random(res.seed)
    say = opts.log or (lambda s: None)
    made_dir = opts.workdir is None
    workdir = tempfile.mkdtemp(prefix="midge-crash-") if made_dir else opts.workdir
    os.makedirs(workdir, exist_ok=True)
    res.workdir = workdir
    broker = Broker(opts, workdir)
    sh = Shared(opts, broker)
    pubs = [Publisher(sh, n, q, pr) for n, q, pr in opts.publishers]
    subs = [Subscriber(sh, n, q, pr, fl, random.Random(rnd.random())) for n, q, pr, fl in opts.subscribers]
    t_start = time.monotonic()
    drained = False
    try:
        broker.start()
        say("broker on port %d, work directory %s, seed %d" % (broker.port, workdir, res.seed))
        for c in subs + pubs:
            c.start()
        deadline = time.monotonic() + 20
        for s in subs:
            if not s.subscribed.wait(max(0.1, deadline - time.monotonic())):
                raise AssertionError("subscriber %s got no SUBACK within 20s" % s.name_)
        sh.go.set()
        for r in range(1, opts.rounds + 1):
            up = rnd.uniform(opts.min_up, opts.max_up)
            sh.stop.wait(up)
            before = sum(p.published for p in pubs), sum(len(p.acked) for p in pubs)
            broker.kill(opts.signal)
            res.rounds = r
            broker.start()
            say("round %d/%d: killed after %.2fs up (%d published, %d acknowledged so far); restarted, "
                "listening after %.3fs" % (r, opts.rounds, up, before[0], before[1],
                                            broker.listening[-1] - broker.spawned[-1]))
            for c in pubs + subs:
                if c.error:
                    raise AssertionError(c.error)
        settle = opts.settle if opts.settle is not None else rnd.uniform(opts.min_up, opts.max_up)
        sh.stop.wait(settle)
        # Drain: no new messages, flaky subscribers online, until all is acknowledged and quiet.
        sh.publishing = False
        sh.hold_online = True
        t_drain = time.monotonic()
        while True:
            now = time.monotonic()
            last = max([s.last_rx for s in subs] + [t_drain])
            if (all(p.done() for p in pubs) and all(s.idle() for s in subs)
                    and now - last >= opts.quiet):
                drained = True
                break
            if now - t_drain > opts.drain_timeout or any(c.error for c in pubs + subs):
                break
            time.sleep(0.05)
        if not drained:
            waiting = ["%s: connected %s, %d in flight %s" % (p.name_, p.connected, len(p.inflight),
                                                              sorted(p.inflight.items())[:5])
                       for p in pubs if not p.done()]
            waiting += ["%s: connected %s, subscribed %s, awaiting PUBREL %s"
                        % (s.name_, s.connected, s.subscribed.is_set(), sorted(s.awaiting.items())[:5])
                        for s in subs if not s.idle()]
            sh.problem("did not drain within %.0fs: %s" % (opts.drain_timeout, "; ".join(waiting)))
        say("drained in %.1fs" % (time.monotonic() - t_drain))
        res.exit_code = broker.stop()
        if res.exit_code != 0:
            sh.problem("broker exit code %s on SIGTERM after the last round\n%s"
                       % (res.exit_code, broker.log(broker.starts - 1)[-3000:]))
    except AssertionError as e:
        sh.problem(str(e))
    finally:
        sh.stop.set()
        sh.go.set()
        broker.reap()
        for c in subs + pubs:
            if c.is_alive():
                c.join(5)
        res.elapsed = time.monotonic() - t_start
    verdict(res, opts, sh, broker, pubs, subs)
    if res.ok and made_dir and not opts.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        res.workdir = None
    return res


def _ranges(seqs):
    """'3-7, 12, 15-16' for a sorted list of ints."""
    out, start, prev = [], None, None
    for s in seqs:
        if start is None:
            start = prev = s
        elif s == prev + 1:
            prev = s
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = s
    if start is not None:
        out.append(str(start) if start == prev else "%d-%d" % (start, prev))
    if len(out) > 20:
        return ", ".join(out[:20]) + ", ... (%d ranges)" % len(out)
    return ", ".join(out)


def verdict(res, opts, sh, broker, pubs, subs):
    """Counts, classifies duplicates, finds losses and writes the evidence into res."""
    byname = {p.name_: p for p in pubs}
    c = res.counts
    c["published"] = sum(p.published for p in pubs)
    c["acknowledged"] = sum(len(p.acked) for p in pubs)
    c["resent"] = sum(1 for p in pubs for n in p.sends.values() if n > 1)
    c["refused"] = sum(p.refused for p in pubs)
    c["expected"] = c["received"] = c["lost"] = 0
    dups = {"dup_flag": 0, "pub_resend": 0, "qos2_twice": 0, "unflagged": 0}
    c["dups"] = dups
    lost_rounds = set()
    evidence = []
    for s in subs:
        sd = {"dup_flag": 0, "pub_resend": 0, "qos2_twice": 0, "unflagged": 0}
        lost_n = expected = received = 0
        for name, got in s.got.items():
            p = byname.get(name)
            if p is None:
                sh.problem("%s: messages from an unknown publisher %r" % (s.name_, name))
                continue
            phantom = [q for q in got if q < 1 or q > p.published]
            if phantom:
                sh.problem("%s: %s seqs never published: %s" % (s.name_, name, _ranges(sorted(phantom))))
            want_qos = min(p.qos, s.qos)
            for seq, copies in got.items():
                bad_qos = [q for q, _, _ in copies if q != want_qos]
                if bad_qos:
                    sh.problem("%s: %s:%d delivered at QoS %s, expected QoS %d (publisher QoS %d, "
                               "subscription QoS %d)" % (s.name_, name, seq, bad_qos, want_qos, p.qos, s.qos))
                if len(copies) < 2:
                    continue
                plain_allowed = 1 + (p.sends.get(seq, 1) - 1 if p.qos == 1 else 0)
                plain = 0
                for i, (q, dup, ep) in enumerate(copies):
                    if not dup or q == 2:
                        plain += 1
                    if i == 0:
                        continue
                    if q == 2:
                        kind = "qos2_twice"
                    elif dup:
                        kind = "dup_flag"
                    elif plain <= plain_allowed:
                        kind = "pub_resend"
                    else:
                        kind = "unflagged"
                    sd[kind] += 1
                    if kind in ("qos2_twice", "unflagged"):
                        sh.problem("%s: %s:%d (publisher QoS %d, pid %s) received %d times: %s; publisher "
                                   "sent it %d time(s)" % (s.name_, name, seq, p.qos, p.pids.get(seq),
                                                           len(copies), _copies(copies), p.sends.get(seq, 0)))
        for p in pubs:
            got = s.got.get(p.name_, {})
            missing = sorted(q for q in p.acked if q not in got)
            expected += len(p.acked)
            received += len(got)
            if not missing:
                continue
            lost_n += len(missing)
            sh.problem("LOST %d: subscriber %s (%s) never received %s (QoS %d) seqs %s"
                       % (len(missing), s.name_, s.kind(), p.name_, p.qos, _ranges(missing)))
            for seq in missing[:10]:
                ep, t = p.acked[seq]
                log = p.sent_log.get(seq, [])
                # the crash that matters: the one after its first send, when that was in an earlier start
                lost_rounds.add(log[0][0] if log and log[0][0] < ep else ep)
                sends = "; ".join("%s in start %d at +%.3fs (%s, %s)"
                                  % ("resent DUP=1" if dup else "sent", sep, st - sh.t0,
                                     _to_kill(broker, st), _state_at(s, st, sh.t0))
                                  for sep, st, dup in p.sent_log.get(seq, []))
                hint = ""
                if p.qos == 2 and len(log) > 1 and log[-1][2] and log[-1][0] > log[0][0]:
                    hint = (" [acknowledged on a DUP=1 resend to a restarted broker: had the store kept "
                            "packet id %s as awaiting PUBREL without the message's outgoing rows, the "
                            "resend was not routed again]" % p.pids.get(seq))
                if opts.snapshots and log:
                    hint += _store_facts(broker.snapshot(log[0][0] + 1), p, seq)
                evidence.append("  lost %s <- %s:%d QoS %d pid %s: %s; %s in broker start %d (round %d) at "
                                "+%.3fs, %s, %s; neighbours received: %s%s"
                                % (s.name_, p.name_, seq, p.qos, p.pids.get(seq), sends,
                                   "PUBACK" if p.qos == 1 else "PUBREC", ep, ep, t - sh.t0,
                                   _to_kill(broker, t), _state_at(s, t, sh.t0), _neighbours(got, seq),
                                   hint))
        for k, v in sd.items():
            dups[k] += v
        c["expected"] += expected
        c["received"] += received
        c["lost"] += lost_n
        res.subs[s.name_] = {"kind": s.kind(), "expected": expected, "received": received,
                             "deliveries": s.deliveries, "absorbed": s.absorbed, "lost": lost_n,
                             "dups": {k: v for k, v in sd.items() if v}, "connections": s.connections}
    starts = broker.starts
    for i in range(1, starts):
        res.listen.append(broker.listening[i] - broker.spawned[i])
        first = [s.first[i] for s in subs if i in s.first]
        if first:
            res.recovery.append(min(first) - broker.spawned[i])
    res.details.extend(evidence)
    for ep in sorted(lost_rounds)[:3]:
        res.details.append(_log_excerpt(broker, ep))
    noted = []
    for i in range(starts):
        log = broker.log(i)
        for line in log.splitlines():
            if any(w in line.lower() for w in LOG_WORDS) and "closed its connection" not in line:
                noted.append("  broker start %d: %s" % (i, line))
        if opts.sanitize and any(t in log for t in SANITIZER_TEXT):
            sh.problem("sanitizer report in broker-%03d.log:\n%s" % (i, log[-5000:]))
    if noted:
        res.details.append("broker log lines of note (%d):" % len(noted))
        res.details.extend(noted[:30])
    res.problems = list(sh.problems)
    res.warnings = list(sh.warnings)
    res.ok = not res.problems


def _copies(copies):
    return ", ".join("q%d%s@start%d" % (q, " DUP" if d else "", ep) for q, d, ep in copies)


def _to_kill(broker, t):
    """Where t falls relative to the kills: before one, or while the signal was on its way."""
    for k, d in zip(broker.killed, broker.dead):
        if k <= t < d:
            return "%.1fms after a SIGKILL was sent, %.1fms before the process was reaped" % (
                (t - k) * 1e3, (d - t) * 1e3)
        if t < k:
            return ("%.3fs" % (k - t) if k - t >= 0.01 else "%.1fms" % ((k - t) * 1e3)) + " before the next kill"
    return "no kill after it"


def _store_facts(snap, p, seq):
    """What the store copied after a kill says of p's message seq: its incoming QoS 2 packet id, and which
    sessions have an outgoing row for it."""
    import sqlite3
    db = os.path.join(snap, "midge.db")
    if not os.path.exists(db):
        return " [no store snapshot %s]" % snap
    tmp = tempfile.mkdtemp(prefix="midge-crash-snap-")
    try:
        for f in os.listdir(snap):
            shutil.copy(os.path.join(snap, f), tmp)  # opening recovers the WAL: not in the kept copy
        con = sqlite3.connect(os.path.join(tmp, "midge.db"))
        pid = p.pids.get(seq)
        q2 = con.execute("SELECT count(*) FROM qos2_in WHERE client_id = ? AND pid = ?", (p.cid, pid)).fetchone()[0]
        rows = con.execute("SELECT client_id, state, pid FROM out WHERE substr(payload, 1, ?) = ?",
                           (len(p.payload(seq)), p.payload(seq))).fetchall()
        con.close()
        k = int(os.path.basename(snap)[-3:])
        return (" [store as kill %d (the end of start %d) left it: qos2_in %s (%s, %d); outgoing rows for it: %s]"
                % (k, k - 1, "HAS" if q2 else "has no", p.cid, pid,
                   ", ".join("%s state %d pid %d" % r for r in rows) or "none"))
    except Exception as e:  # evidence only
        return " [store snapshot %s unreadable: %r]" % (snap, e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _state_at(client, t, t0):
    """Whether client was connected at time t, and since when."""
    last = None
    for ep, a, b in client.periods:
        if a <= t and (b is None or t < b):
            return "%s online since +%.3fs" % (client.name_, a - t0)
        if b is not None and b <= t:
            last = b
    if last is None:
        return "%s not connected yet" % client.name_
    return "%s offline since +%.3fs" % (client.name_, last - t0)


def _neighbours(got, seq):
    near = [q for q in range(seq - 3, seq + 4) if q in got]
    return _ranges(near) or "none of %d-%d" % (seq - 3, seq + 3)


def _log_excerpt(broker, ep):
    """The end of the log of broker start ep and the start of the next one."""
    out = ["broker log around round %d (end of start %d, beginning of start %d):" % (ep, ep, ep + 1)]
    out += ["  [%d] %s" % (ep, ln) for ln in broker.log(ep).splitlines()[-15:]]
    out += ["  [%d] %s" % (ep + 1, ln) for ln in broker.log(ep + 1).splitlines()[:15]]
    return "\n".join(out)


# ---------------------------------------------------------------- command line

def parse_signal(s):
    s = s.upper()
    return getattr(signal, s if s.startswith("SIG") else "SIG" + s)


def main(argv=None, prog=None, rounds=20):
    """The command line (this file as a script, and scripts/crash-test with rounds=200): 0 on PASS, 1 on FAIL."""
    ap = argparse.ArgumentParser(prog=prog, description="\n\n".join(__doc__.split("\n\n")[:3]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("MIDGE_BIN") or Options().bin,
                    help="broker binary (default $MIDGE_BIN or build/bin/midge)")
    ap.add_argument("--rounds", type=int, default=rounds, help="kills and restarts (default %d)" % rounds)
    ap.add_argument("--min-up", type=float, default=0.3, help="shortest time up before a kill (s)")
    ap.add_argument("--max-up", type=float, default=2.0, help="longest time up before a kill (s)")
    ap.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    ap.add_argument("--rate", type=float, default=200.0,
                    help="messages/s per publisher, 0 = as fast as the window allows (default 200)")
    ap.add_argument("--window", type=int, default=10, help="unacknowledged messages per publisher")
    ap.add_argument("--payload-size", type=int, default=48)
    ap.add_argument("--quiet", type=float, default=2.0, help="drain: seconds without a delivery")
    ap.add_argument("--drain-timeout", type=float, default=120.0)
    ap.add_argument("--signal", default="KILL", help="signal that crashes the broker (default KILL)")
    ap.add_argument("--conf", action="append", default=[], metavar="LINE",
                    help="extra config line (repeatable), e.g. 'persistence_sync durable'")
    ap.add_argument("--workdir", help="work directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory even on success")
    ap.add_argument("--snapshots", action="store_true",
                    help="copy the store after each kill (store-after-kill-NNN; GBs on long fast runs); a lost "
                         "message's evidence then says what it held")
    ap.add_argument("--json", metavar="FILE", help="also write the counts as JSON")
    ap.add_argument("-q", "--quiet-progress", action="store_true", help="no line per round")
    a = ap.parse_args(argv)
    if not (os.path.isfile(a.bin) and os.access(a.bin, os.X_OK)):
        ap.error("no broker binary at %s (build it, or give --bin)" % a.bin)
    opts = Options(bin=a.bin, rounds=a.rounds, min_up=a.min_up, max_up=a.max_up, seed=a.seed,
                   rate=a.rate, window=a.window, payload_size=a.payload_size, quiet=a.quiet,
                   drain_timeout=a.drain_timeout, signal=parse_signal(a.signal), conf=a.conf,
                   workdir=a.workdir, keep=a.keep, snapshots=a.snapshots,
                   log=None if a.quiet_progress else lambda s: print(s, flush=True))
    res = run(opts)
    print(res.report(), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"ok": res.ok, "seed": res.seed, "rounds": res.rounds, "counts": res.counts,
                       "subscribers": res.subs, "recovery": res.recovery, "listen": res.listen,
                       "exit_code": res.exit_code, "problems": res.problems,
                       "warnings": res.warnings, "elapsed": res.elapsed}, f, indent=1)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
