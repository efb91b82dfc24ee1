"""Loopback ports for the tests and the scripts that run brokers (crashtest.py): no pytest needed."""
import socket


def _free(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
