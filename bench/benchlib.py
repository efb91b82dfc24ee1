"""Shared pieces of the bench/ measurement scripts: raw MQTT 3.1.1 encoders and a packet reader over plain
sockets (no paho: the client must not be the bottleneck), brokers (midge or mosquitto) started on a free
loopback port with a fresh temporary store and always killed, /proc readings (CPU, RSS), percentiles.

Not a test helper: nothing here asserts; the scripts report what they see."""
import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOSQUITTO = "/usr/sbin/mosquitto"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------- MQTT 3.1.1 encoding

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 4, 8, 9, 14


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes((first,)) + varint(len(body)) + body


def mqtt_str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


def connect_pkt(client_id, clean=True, keepalive=60):
    flags = 0x02 if clean else 0x00
    return packet(0x10, mqtt_str("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + mqtt_str(client_id))


def subscribe_pkt(pid, filters, qos=1):
    body = struct.pack("!H", pid) + b"".join(mqtt_str(f) + bytes((qos,)) for f in filters)
    return packet(0x82, body)


def puback_pkt(pid):
    return b"\x40\x02" + struct.pack("!H", pid)


DISCONNECT_PKT = b"\xe0\x00"


class Qos1Publisher:
    """Builds QoS 1 PUBLISH packets for one topic fast: the fixed header and topic are encoded once."""

    def __init__(self, topic, payload_len):
        t = mqtt_str(topic)
        self.payload_len = payload_len
        self.prefix = b"\x32" + varint(len(t) + 2 + payload_len) + t

    def encode(self, pid, payload):
        return self.prefix + struct.pack("!H", pid) + payload


# The payload every script sends: publisher id, sequence (per publisher and topic), send time
# (time.monotonic_ns(), one clock for all processes on Linux), padded to the payload size.
STAMP = struct.Struct("!IQQ")


def stamp(pub, seq, payload_len, pad):
    return STAMP.pack(pub, seq, time.monotonic_ns()) + pad


def padding(payload_len):
    if payload_len < STAMP.size:
        raise SystemExit("--payload must be at least %d bytes (publisher id, sequence, timestamp)" % STAMP.size)
    return b"x" * (payload_len - STAMP.size)


class Reader:
    """Splits a socket's byte stream into MQTT packets; reads in large chunks."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.timeout = None

    def fill(self, timeout=None):
        """Reads what is there (waiting at most timeout s; None = the socket's own). False on EOF."""
        if timeout is not None and timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout
        try:
            data = self.sock.recv(1 << 20)
        except (socket.timeout, BlockingIOError):
            return True
        if not data:
            return False
        self.buf += data
        return True

    def packets(self):
        """Returns [(first byte, body as bytes)] for every whole packet in the buffer, and consumes them."""
        buf = self.buf
        n = len(buf)
        pos = 0
        out = []
        while n - pos >= 2:
            i, rl, shift, whole = pos + 1, 0, 0, False
            while i < n and i < pos + 5:
                b = buf[i]
                i += 1
                rl |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    whole = True
                    break
            if not whole or i + rl > n:
                break
            out.append((buf[pos], bytes(buf[i:i + rl])))
            pos = i + rl
        if pos:
            del buf[:pos]
        return out


def mqtt_connect(port, client_id, clean=True, keepalive=60, timeout=10.0):
    """A connected, CONNACKed socket and its Reader. Raises on refusal."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(connect_pkt(client_id, clean, keepalive))
    r = Reader(s)
    deadline = time.monotonic() + timeout
    while not r.buf or len(r.buf) < 4:
        if time.monotonic() > deadline or not r.fill(1.0):
            raise RuntimeError("no CONNACK for %s" % client_id)
    if r.buf[0] != 0x20 or r.buf[3] != 0:
        raise RuntimeError("CONNECT refused for %s: %r" % (client_id, bytes(r.buf[:4])))
    session_present = bool(r.buf[2] & 1)
    del r.buf[:4]
    return s, r, session_present


def subscribe(sock, reader, filters, qos=1, timeout=10.0):
    sock.sendall(subscribe_pkt(1, filters, qos))
    deadline = time.monotonic() + timeout
    while True:
        for first, body in reader.packets():
            if first >> 4 == SUBACK:
                if any(c == 0x80 for c in body[2:]):
                    raise RuntimeError("SUBSCRIBE refused: %r" % body)
                return
            raise RuntimeError("unexpected packet %#x before SUBACK" % first)
        if time.monotonic() > deadline or not reader.fill(1.0):
            raise RuntimeError("no SUBACK")


# ---------------------------------------------------------------- processes

_libc = None


def die_with_parent():
    """This process gets SIGKILL when its parent dies (even by SIGKILL): no broker or load process is
    ever left behind. Used as preexec_fn and at the start of every worker process."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def ignore_sigint():
    """Worker processes leave Ctrl-C to the parent, which stops them in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()


def sigterm_as_exit():
    """SIGTERM runs the parent's cleanup (finally blocks) like Ctrl-C does."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat, all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Broker:
    """A broker on a free loopback port with its store in a fresh temporary directory.

    kind: "midge" or "mosquitto"; options: configuration lines (the listener, anonymous access and the
    store location are added here); sys_interval: seconds between $SYS updates (both brokers take the
    option), None for the broker's default (10 s). Use as a context manager: the process is killed and the
    directory removed on exit, whatever happened."""

    def __init__(self, kind, binary, options, label=None, keep_dir=False, sys_interval=None):
        self.kind = kind
        self.binary = binary
        self.options = list(options)
        self.sys_interval = sys_interval
        self.label = label or kind
        self.keep_dir = keep_dir
        self.dir = None
        self.proc = None
        self.port = None

    @property
    def store_dir(self):
        return os.path.join(self.dir, "store")

    def store_bytes(self):
        """Bytes of the files in the store directory (database, WAL, shared memory index)."""
        total = 0
        try:
            for name in os.listdir(self.store_dir):
                try:
                    total += os.path.getsize(os.path.join(self.store_dir, name))
                except OSError:
                    pass
        except OSError:
            pass
        return total

    def store_files(self):
        out = {}
        try:
            for name in sorted(os.listdir(self.store_dir)):
                try:
                    out[name] = os.path.getsize(os.path.join(self.store_dir, name))
                except OSError:
                    pass
        except OSError:
            pass
        return out

    def _config(self):
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true"]
        if self.sys_interval is not None:
            lines.append("sys_interval %d" % self.sys_interval)
        if os.geteuid() == 0:
            # Both brokers started as root change to user "mosquitto" by default: it could not write our store
            # directory, the two would not run alike, and the change of user cancels die_with_parent.
            lines.append("user root")
        if self.kind == "mosquitto":
            lines.append("persistence_location %s/" % self.store_dir)
        elif "persistence true" in self.options:
            lines.append("persistence_location %s" % self.store_dir)
        return "\n".join(lines + self.options) + "\n"

    def start(self, timeout=15.0):
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise SystemExit("%s: no executable at %s" % (self.label, self.binary))
        self.dir = tempfile.mkdtemp(prefix="midge-bench-")
        os.makedirs(self.store_dir, mode=0o700)
        for attempt in range(3):
            self.port = free_port()
            with open(os.path.join(self.dir, "broker.conf"), "w") as f:
                f.write(self._config())
            if self._spawn(timeout):
                return self
            if "in use" not in self.log():
                break
        text = self.log()[-3000:]
        self.stop()
        raise RuntimeError("%s exited during start-up:\n%s" % (self.label, text))

    def _spawn(self, timeout):
        """Runs the broker on the configuration in self.dir; True once it listens, False if it exited first."""
        conf = os.path.join(self.dir, "broker.conf")
        log = open(os.path.join(self.dir, "broker.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "-c", conf], stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.dir, preexec_fn=die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s not listening on %d after %.0fs" % (self.label, self.port, timeout))
            time.sleep(0.02)
        return False

    def restart(self, down=0.0, timeout=15.0):
        """Stops the broker with SIGTERM (Mosquitto saves its store on the way out), leaves it down for `down`
        seconds and starts it again on the same port, configuration and directory."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        time.sleep(down)
        if not self._spawn(timeout):
            raise RuntimeError("%s exited on restart:\n%s" % (self.label, self.log()[-3000:]))

    def log(self):
        try:
            with open(os.path.join(self.dir, "broker.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited with %s:\n%s" % (self.label, self.proc.returncode, self.log()[-3000:]))

    @property
    def pid(self):
        return self.proc.pid

    def cpu(self):
        return proc_cpu_seconds(self.proc.pid)

    def rss_kb(self):
        return proc_rss_kb(self.proc.pid)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        if self.dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def midge_binary(path):
    if path:
        return os.path.abspath(path)
    return os.path.join(ROOT, "build", "bin", "midge")


def stop_processes(procs, timeout=5.0):
    """Stops multiprocessing workers: terminate, then kill the ones that remain."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


# ---------------------------------------------------------------- statistics

def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2.0


def fmt(v, spec="%.0f", none="-"):
    return none if v is None else spec % v


def table(headers, rows):
    """A plain text table, columns right-aligned except the first."""
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
