"""Loopback ports for the tests and the scripts that run brokers (crashtest.py): no pytest needed."""
import socket
import time


# Ports this process has handed out. The kernel may give the same free port to two binds in a row once the
# first socket is closed, so a test asking for several ports (a listener each) could get one twice and see
# "duplicate listener" (seen once in CI); a port is handed out at most once per process.
_given = set()


def _free(kind):
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given:
            _given.add(port)
            return port
    raise RuntimeError("no fresh loopback port after 100 binds")


def free_port():
    return _free(socket.SOCK_STREAM)


def free_udp_port():
    return _free(socket.SOCK_DGRAM)


def _in_proc(files, port, state=None):
    """True if a socket in /proc/net/<files> has local port `port` (and, when given, that state)."""
    for name in files:
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if (state is None or parts[3] == state) and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def port_listening(port):
    """True if some socket is in LISTEN state on this TCP port (IPv4 or IPv6), per /proc."""
    return _in_proc(("/proc/net/tcp", "/proc/net/tcp6"), port, "0A")


def udp_bound(port):
    """True if some UDP socket is bound to this port (IPv4 or IPv6), per /proc."""
    return _in_proc(("/proc/net/udp", "/proc/net/udp6"), port)


def wait_for(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)
