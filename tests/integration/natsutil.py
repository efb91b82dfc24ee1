"""A NATS JetStream cluster for the cluster tests (issue 12, docs/cluster.md): N nats-server processes on free
loopback ports, routed to each other, JetStream on with a store per node under the test's tmp dir; and a small
raw NATS text-protocol client (CONNECT, SUB, PUB, PING/PONG, MSG) to drive them without any library.

    def test_x(nats_cluster):
        c = nats_cluster(3)           # started, routes up, JetStream meta leader elected
        c.urls                        # ["nats://127.0.0.1:PORT", ...], one per server
        c.kill(c.leader()); c.start(i); c.wait_ready()

Needs /usr/sbin/nats-server (Debian's nats-server, 2.9), or MIDGE_NATS_SERVER; the fixture skips the test without
it.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from netutil import free_port, port_listening, wait_for

# MIDGE_NATS_SERVER: another nats-server binary (a newer release, say).
NATS_SERVER = os.environ.get("MIDGE_NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"
SKIP_REASON = ("nats-server not found at %s (Debian package nats-server; scripts/install-deps installs it)"
               % NATS_SERVER)
READY_TIMEOUT = 20.0


def available():
    return os.path.isfile(NATS_SERVER) and os.access(NATS_SERVER, os.X_OK)


# ---------------------------------------------------------------- servers

class NatsServer:
    """One nats-server: its ports, config file, store and log stay the same across restarts."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = "%s-n%d" % (cluster.name, index)
        self.port = free_port()          # clients
        self.cluster_port = free_port()  # routes between the servers
        self.http_port = free_port()     # monitoring: /varz /routez /jsz /healthz
        self.dir = os.path.join(cluster.dir, "n%d" % index)
        self.store_dir = os.path.join(self.dir, "js")
        self.conf_path = os.path.join(self.dir, "nats.conf")
        self.log_path = os.path.join(self.dir, "nats.log")
        self.proc = None
        self.starts = 0
        os.makedirs(self.store_dir, exist_ok=True)

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def write_config(self):
        routes = ", ".join('"nats-route://127.0.0.1:%d"' % s.cluster_port
                           for s in self.cluster.servers if s is not self)
        js = ""
        if self.cluster.jetstream:
            # Limits small enough for several clusters on one test machine (the defaults are 75% of RAM and disk).
            js = ('jetstream {\n  store_dir: "%s"\n  max_memory_store: 256MB\n  max_file_store: 1GB\n}\n'
                  % self.store_dir)
        text = ('server_name: "%s"\nlisten: "127.0.0.1:%d"\nhttp: "127.0.0.1:%d"\n%s'
                'cluster {\n  name: "%s"\n  listen: "127.0.0.1:%d"\n  routes: [%s]\n}\n%s'
                % (self.name, self.port, self.http_port, js, self.cluster.name, self.cluster_port, routes,
                   self.cluster.extra_conf))
        with open(self.conf_path, "w") as f:
            f.write(text)

    def start(self, wait=True):
        assert not self.running(), "%s already running" % self.name
        self.write_config()
        self.starts += 1
        with open(self.log_path, "ab") as logf:
            logf.write(b"===== start %d\n" % self.starts)
            logf.flush()
            self.proc = subprocess.Popen([NATS_SERVER, "-c", self.conf_path], stdout=logf,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout=10.0):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s during start-up:\n%s"
                                     % (self.name, self.proc.returncode, self.log()[-4000:]))
            return port_listening(self.port) and port_listening(self.http_port)
        wait_for(up, timeout, what="%s listening on %d" % (self.name, self.port))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stopped(self):
        """True when every thread is in the stopped state (T), False when none is, None in between or not running."""
        if not self.running():
            return None
        states = []
        try:
            for t in os.listdir("/proc/%d/task" % self.proc.pid):
                with open("/proc/%d/task/%s/stat" % (self.proc.pid, t)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
        except OSError:
            return None
        if all(x in "Tt" for x in states):
            return True
        if not any(x in "Tt" for x in states):
            return False
        return None

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def kill(self):
        """SIGKILL and reap."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout=10.0):
        """SIGTERM (after SIGCONT, should it be stopped), SIGKILL past timeout; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def monitor(self, path, timeout=2.0):
        """The JSON of a monitoring endpoint ("/jsz", "/varz", "/routez", "/healthz"), None when unreachable
        or not 200 (e.g. /healthz while JetStream is not current, or a SIGSTOPped server)."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=timeout) as r:
                return json.loads(r.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class NatsCluster:
    """N routed nats-servers. Indices are stable: kill(i) then start(i) brings back the same server (name, ports,
    JetStream store)."""

    def __init__(self, workdir, n=3, jetstream=True, name="midge", extra_conf=""):
        self.dir = workdir
        self.name = name
        self.jetstream = jetstream
        self.extra_conf = extra_conf
        self.servers = []
        self.servers = [NatsServer(self, i) for i in range(n)]
        self.start_seconds = None  # start() to ready, for the reports

    def __len__(self):
        return len(self.servers)

    @property
    def urls(self):
        return [s.url for s in self.servers]

    def url_list(self, indices=None):
        """The comma-separated form NATS clients take ("nats://a:1,nats://b:2")."""
        idx = range(len(self.servers)) if indices is None else indices
        return ",".join(self.servers[i].url for i in idx)

    def start_all(self, timeout=READY_TIMEOUT):
        t0 = time.monotonic()
        for attempt in range(3):
            for s in self.servers:
                s.start(wait=False)
            try:
                for s in self.servers:
                    s.wait_listening()
                break
            except AssertionError:
                # A port taken meanwhile by a parallel test: new ports for all (the routes name them), once more.
                if attempt == 2 or "address already in use" not in self.logs():
                    raise
                self.close()
                for s in self.servers:
                    s.port, s.cluster_port, s.http_port = free_port(), free_port(), free_port()
        self.wait_ready(timeout)
        self.start_seconds = time.monotonic() - t0
        return self

    # ---- fault injection, by index
    def kill(self, i):
        self.servers[i].kill()

    def stop(self, i):
        return self.servers[i].stop()

    def start(self, i, wait=True):
        """Restarts server i (same ports and store); with wait, until it listens (not until it rejoined: wait_ready)."""
        self.servers[i].start(wait=wait)

    def sigstop(self, i):
        """SIGSTOP, and waits until every thread of the server is stopped (the signal is not synchronous: a request
        sent right after could still be answered)."""
        self.servers[i].signal(signal.SIGSTOP)
        wait_for(lambda: self.servers[i].stopped() is True, 5, interval=0.005, what="%s to stop" % self.servers[i].name)

    def sigcont(self, i):
        self.servers[i].signal(signal.SIGCONT)
        wait_for(lambda: self.servers[i].stopped() is False, 5, interval=0.005,
                 what="%s to continue" % self.servers[i].name)

    # ---- state
    def running(self):
        return [i for i, s in enumerate(self.servers) if s.running()]

    def meta(self, i):
        """Server i's view of the JetStream meta group: {"name", "leader", "peer", "cluster_size", "replicas"?...}
        or None."""
        j = self.servers[i].monitor("/jsz")
        return (j or {}).get("meta_cluster")

    def leader(self, among=None):
        """Index of the server leading the JetStream meta group, as the running servers (or `among`) agree;
        None while they do not agree or none knows. (From /jsz's meta_cluster.leader, a server name; the leader
        alone also answers /jsz?leader-only=true with 200, the others with 400.)"""
        idx = self.running() if among is None else among
        names = set()
        for i in idx:
            m = self.meta(i)
            names.add((m or {}).get("leader") or "")
        if len(names) != 1 or "" in names:
            return None
        name = names.pop()
        for i, s in enumerate(self.servers):
            if s.name == name:
                return i
        return None

    def ready(self, among=None):
        """True when each running server (or each of `among`) has routes to all the others running, and, with
        JetStream, they agree on a meta leader and /healthz answers ok (JetStream current)."""
        idx = self.running() if among is None else among
        ids = {}
        for i in idx:
            v = self.servers[i].monitor("/varz")
            if v is None:
                return False
            ids[i] = v["server_id"]  # a new one at each start
        for i in idx:
            r = self.servers[i].monitor("/routez")
            if r is None:
                return False
            # 2.9's /routez names the peer by server id only.
            peers = {x.get("remote_id") for x in r.get("routes") or []}
            if not {ids[k] for k in idx if k != i} <= peers:
                return False
        if not self.jetstream:
            return True
        for i in idx:
            h = self.servers[i].monitor("/healthz")
            if not h or h.get("status") != "ok":
                return False
        return self.leader(idx) is not None

    def wait_ready(self, timeout=READY_TIMEOUT, among=None):
        try:
            wait_for(lambda: self.ready(among), timeout, interval=0.05, what="the NATS cluster to form")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs(4000))) from None

    def wait_leader(self, timeout=READY_TIMEOUT, among=None, not_index=None):
        """Waits for a meta leader the running servers agree on (other than not_index); returns its index."""
        def ok():
            i = self.leader(among)
            return None if i is None or i == not_index else i + 1
        return wait_for(ok, timeout, interval=0.05, what="a JetStream meta leader") - 1

    def logs(self, tail=20000):
        return "\n".join("----- %s (client %d, cluster %d, http %d)\n%s"
                         % (s.name, s.port, s.cluster_port, s.http_port, s.log()[-tail:]) for s in self.servers)

    def close(self):
        for s in self.servers:
            s.signal(signal.SIGCONT)
            s.kill()


@pytest.fixture
def nats_cluster(request, tmp_path):
    """Factory: nats_cluster(n=3, jetstream=True, extra_conf="") starts a cluster and waits until it is ready;
    every server is SIGKILLed at teardown. Skips the test without nats-server."""
    if not available():
        pytest.skip(SKIP_REASON)
    clusters = []
    request.node._nats_clusters = clusters

    def make(n=3, jetstream=True, extra_conf="", start=True):
        c = NatsCluster(str(tmp_path / ("nats%d" % len(clusters))), n=n, jetstream=jetstream,
                        name="midge%d" % len(clusters), extra_conf=extra_conf)
        clusters.append(c)
        if start:
            c.start_all()
        return c

    yield make
    for c in clusters:
        c.close()


# ---------------------------------------------------------------- raw NATS client

class NoResponders(Exception):
    pass


class NatsRaw:
    """A blocking NATS text-protocol client over one socket, every wait bounded. Enough to check the servers and
    to play a NATS-side peer in tests: pub, sub (with a queue group), unsub, request, flush; messages as
    (subject, sid, reply, payload, headers) tuples, headers None or the raw "NATS/1.0..." block."""

    def __init__(self, url_or_port, name="natsraw", timeout=5.0):
        if isinstance(url_or_port, int):
            host, port = "127.0.0.1", url_or_port
        else:
            hp = url_or_port.split("://", 1)[-1]
            host, port = hp.rsplit(":", 1)[0], int(hp.rsplit(":", 1)[1])
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.msgs = []
        self.next_sid = 1
        self.pongs = 0
        line = self._line(timeout)
        assert line.startswith(b"INFO "), line
        self.info = json.loads(line[5:])
        opts = {"verbose": False, "pedantic": True, "name": name, "lang": "python-raw", "version": "0",
                "protocol": 1, "headers": True, "no_responders": True}
        self._send(b"CONNECT " + json.dumps(opts).encode() + b"\r\n")
        self.flush()

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data from the NATS server in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from the NATS server in time") from None
        if not data:
            raise ConnectionError("NATS server closed the connection")
        self.buf += data

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n, deadline):
        while len(self.buf) < n + 2:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read_op(self, timeout):
        """Reads one server operation; queues MSG/HMSG, counts PONGs, answers PINGs; raises on -ERR."""
        deadline = time.monotonic() + timeout
        line = self._line(timeout)
        op = line.split(b" ", 1)[0].upper()
        if op == b"MSG":
            p = line.split()
            subj, sid = p[1].decode(), int(p[2])
            reply = p[3].decode() if len(p) == 5 else None
            self.msgs.append((subj, sid, reply, self._exact(int(p[-1]), deadline), None))
        elif op == b"HMSG":
            p = line.split()
            subj, sid = p[1].decode(), int(p[2])
            reply = p[3].decode() if len(p) == 6 else None
            data = self._exact(int(p[-1]), deadline)
            hlen = int(p[-2])
            self.msgs.append((subj, sid, reply, data[hlen:], data[:hlen]))
        elif op == b"PING":
            self._send(b"PONG\r\n")
        elif op == b"PONG":
            self.pongs += 1
        elif op == b"-ERR":
            raise AssertionError("NATS server error: %s" % line.decode("utf-8", "replace"))
        elif op == b"INFO":
            self.info.update(json.loads(line[5:]))
        return op

    def flush(self, timeout=None):
        """PING, and read until its PONG: the server has processed everything sent before."""
        want = self.pongs + 1
        self._send(b"PING\r\n")
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.pongs < want:
            self._read_op(max(0.001, deadline - time.monotonic()))

    def sub(self, subject, queue=None):
        sid = self.next_sid
        self.next_sid += 1
        self._send(("SUB %s %s%d\r\n" % (subject, queue + " " if queue else "", sid)).encode())
        return sid

    def unsub(self, sid):
        self._send(b"UNSUB %d\r\n" % sid)

    def pub(self, subject, payload=b"", reply=None):
        if isinstance(payload, str):
            payload = payload.encode()
        self._send(("PUB %s %s%d\r\n" % (subject, reply + " " if reply else "", len(payload))).encode()
                   + payload + b"\r\n")

    def next_msg(self, timeout=None, sid=None):
        """The next received message (of sid, when given) as (subject, sid, reply, payload, headers);
        TimeoutError."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for k, m in enumerate(self.msgs):
                if sid is None or m[1] == sid:
                    return self.msgs.pop(k)
            self._read_op(max(0.001, deadline - time.monotonic()))

    def request(self, subject, payload=b"", timeout=None):
        """Publishes with a fresh inbox as reply subject and returns the first reply's payload; NoResponders when
        the server answers 503 in the reply's place (nobody subscribed, e.g. a stream between two leaders)."""
        inbox = "_INBOX.raw%d.%d" % (os.getpid(), self.next_sid)
        sid = self.sub(inbox)
        self.pub(subject, payload, reply=inbox)
        try:
            m = self.next_msg(timeout, sid=sid)
            if m[4] is not None and m[4].startswith(b"NATS/1.0 503"):
                raise NoResponders(subject)
            return m[3]
        finally:
            self.unsub(sid)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def wait_route_interest(pub, sub, subject, sid, timeout=5.0):
    """Publishes probes on `pub` until `sub` (subscribed with sid on another server) receives one: subscription
    interest reaches the other servers over the routes asynchronously, after the subscriber's own PONG. The probes
    are drained; returns how many were sent."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        n += 1
        pub.pub(subject, b"probe")
        pub.flush()
        try:
            sub.next_msg(0.05, sid=sid)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise AssertionError("interest in %s never reached the publisher's server" % subject) from None
    # Probes still on their way arrive before a last marker (one publisher, one route: in order).
    pub.pub(subject, b"probe-end")
    pub.flush()
    while sub.next_msg(timeout, sid=sid)[3] != b"probe-end":
        pass
    return n


def sync_interest(pub, sub, timeout=5.0):
    """Returns once every subscription `sub` made so far (queue groups too, which no probe can reveal) is known to
    `pub`'s server: a probe subscription made after them crosses the same route after them."""
    subject = "_SYNC.%d.%d" % (id(sub), sub.next_sid)
    sid = sub.sub(subject)
    sub.flush()
    wait_route_interest(pub, sub, subject, sid, timeout)
    sub.unsub(sid)
    sub.flush()
