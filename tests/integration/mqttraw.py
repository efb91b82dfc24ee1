"""Raw MQTT 3.1 / 3.1.1 over plain sockets: packet builders, a packet reader with timeouts,
and a small client that lets a test send exactly the bytes it wants and check exactly the
bytes it gets back. No third-party code: socket and struct only."""
import socket
import struct
import time

# Packet types (high nibble of the first byte).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

MQTT31 = 3
MQTT311 = 4


# ---------------------------------------------------------------- encoding

def varint(n):
    """MQTT Remaining Length encoding of n (0 .. 268435455)."""
    assert 0 <= n <= 268435455
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def u16(n):
    return struct.pack("!H", n)


def mstr(s):
    """Length-prefixed string; s may be str (UTF-8 encoded) or bytes (sent as is)."""
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return u16(len(b)) + b


def packet(ptype, flags, body=b""):
    """Fixed header + body. flags is the low nibble of the first byte."""
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + body


def connect(client_id="", clean=True, keepalive=60, proto=MQTT311, will=None,
            username=None, password=None, proto_name=None, flags_extra=0):
    """CONNECT. proto is the protocol level (3 = MQTT 3.1 "MQIsdp", 4 = MQTT 3.1.1 "MQTT").
    will = (topic, payload, qos, retain). proto_name overrides the protocol name."""
    if proto_name is None:
        proto_name = "MQIsdp" if proto == MQTT31 else "MQTT"
    flags = flags_extra
    if clean:
        flags |= 0x02
    payload = mstr(client_id)
    if will is not None:
        wtopic, wpayload, wqos, wretain = will
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        wp = wpayload.encode() if isinstance(wpayload, str) else bytes(wpayload)
        payload += mstr(wtopic) + u16(len(wp)) + wp
    if username is not None:
        flags |= 0x80
        payload += mstr(username)
    if password is not None:
        flags |= 0x40
        pw = password.encode() if isinstance(password, str) else bytes(password)
        payload += u16(len(pw)) + pw
    var = mstr(proto_name) + bytes([proto, flags]) + u16(keepalive)
    return packet(CONNECT, 0, var + payload)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, mid=None):
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = mstr(topic)
    if qos > 0:
        body += u16(mid if mid is not None else 1)
    if isinstance(payload, str):
        payload = payload.encode()
    return packet(PUBLISH, flags, body + bytes(payload))


def puback(mid):
    return packet(PUBACK, 0, u16(mid))


def pubrec(mid):
    return packet(PUBREC, 0, u16(mid))


def pubrel(mid, flags=2):
    return packet(PUBREL, flags, u16(mid))


def pubcomp(mid):
    return packet(PUBCOMP, 0, u16(mid))


def subscribe(mid, filters, flags=2):
    """filters: list of (filter, qos) or a single filter string (QoS 0)."""
    if isinstance(filters, (str, bytes)):
        filters = [(filters, 0)]
    body = u16(mid)
    for f, q in filters:
        body += mstr(f) + bytes([q])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(mid, filters, flags=2):
    if isinstance(filters, (str, bytes)):
        filters = [filters]
    body = u16(mid)
    for f in filters:
        body += mstr(f)
    return packet(UNSUBSCRIBE, flags, body)


def pingreq(flags=0):
    return packet(PINGREQ, flags)


def disconnect():
    return packet(DISCONNECT, 0)


# ---------------------------------------------------------------- decoding

class Packet:
    """One decoded packet. For PUBLISH: topic, payload, qos, retain, dup, mid.
    For acks: mid. For CONNACK: session_present, rc. For SUBACK: mid, granted (list)."""

    def __init__(self, first, body):
        self.first = first
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = body
        self.mid = None
        if self.type == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.retain = bool(self.flags & 1)
            self.dup = bool(self.flags & 8)
            tlen = struct.unpack("!H", body[:2])[0]
            self.topic_bytes = body[2:2 + tlen]
            self.topic = self.topic_bytes.decode("utf-8", "replace")
            pos = 2 + tlen
            if self.qos > 0:
                self.mid = struct.unpack("!H", body[pos:pos + 2])[0]
                pos += 2
            self.payload = body[pos:]
        elif self.type == CONNACK:
            self.session_present = bool(body[0] & 1) if body else None
            self.rc = body[1] if len(body) > 1 else None
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            self.mid = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
        elif self.type == SUBACK:
            self.mid = struct.unpack("!H", body[:2])[0]
            self.granted = list(body[2:])

    @property
    def name(self):
        return NAMES.get(self.type, "?%d" % self.type)

    def __repr__(self):
        if self.type == PUBLISH:
            p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
            return "<PUBLISH %r q%d r%d d%d mid=%s %r>" % (self.topic, self.qos, self.retain,
                                                          self.dup, self.mid, p)
        if self.type == CONNACK:
            return "<CONNACK sp=%s rc=%s>" % (self.session_present, self.rc)
        if self.type == SUBACK:
            return "<SUBACK mid=%s %s>" % (self.mid, self.granted)
        if self.mid is not None:
            return "<%s mid=%s>" % (self.name, self.mid)
        return "<%s flags=%d %r>" % (self.name, self.flags, self.body)


class Closed(Exception):
    """The server closed the connection."""


class RawClient:
    """A TCP connection speaking raw MQTT. Every read has a timeout; nothing blocks forever."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.timeout = timeout
        self.closed = False
        self.pending = []  # packets read while waiting for another one, returned first by recv()

    # -- low level
    def send(self, data):
        self.sock.sendall(data)

    def send_slowly(self, data, delay=0.01):
        """Sends one byte at a time with a small pause between bytes."""
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            time.sleep(delay)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            raise Closed("connection closed by server")
        self.buf += data

    def _try_parse(self):
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ValueError("bad remaining length from server")
        if len(self.buf) < i + length:
            return None
        pkt = Packet(self.buf[0], bytes(self.buf[i:i + length]))
        del self.buf[:i + length]
        return pkt

    def recv(self, timeout=None):
        """Next packet; raises socket.timeout if none arrives in time, Closed if the server closed."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            pkt = self._try_parse()
            if pkt is not None:
                return pkt
            self._fill(deadline)

    def expect(self, ptype, timeout=None):
        pkt = self.recv(timeout)
        assert pkt.type == ptype, "expected %s, got %r" % (NAMES[ptype], pkt)
        return pkt

    def expect_nothing(self, timeout=0.5):
        """Asserts no packet arrives (and the connection stays open) within timeout."""
        try:
            pkt = self.recv(timeout)
        except socket.timeout:
            return
        raise AssertionError("unexpected packet %r" % pkt)

    def expect_closed(self, timeout=3.0):
        """Asserts the server closes the connection within timeout. Packets received before the
        close are returned (a server may answer, e.g. CONNACK, before closing)."""
        deadline = time.monotonic() + timeout
        got, self.pending = self.pending, []
        while True:
            try:
                pkt = self._try_parse()
            except ValueError:
                self.buf.clear()
                pkt = None
            if pkt is not None:
                got.append(pkt)
                continue
            try:
                self._fill(deadline)
            except Closed:
                return got
            except socket.timeout:
                raise AssertionError("server did not close the connection within %.1fs (got %r)"
                                     % (timeout, got))

    def is_open(self, timeout=1.0):
        """Round trip a PINGREQ: True if PINGRESP came back."""
        try:
            self.send(pingreq())
            while True:
                pkt = self.recv(timeout)
                if pkt.type == PINGRESP:
                    return True
        except (Closed, socket.timeout, OSError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- conveniences
    def connect(self, client_id="", expect_rc=0, **kw):
        """Sends CONNECT, reads CONNACK, asserts its return code; returns the CONNACK."""
        self.send(connect(client_id, **kw))
        ack = self.expect(CONNACK)
        if expect_rc is not None:
            assert ack.rc == expect_rc, "CONNACK rc %r, expected %r" % (ack.rc, expect_rc)
        return ack

    def subscribe(self, filters, mid=1, qos=None):
        """SUBSCRIBE and wait for SUBACK (other packets arriving first are kept for later).
        filters: filter string (QoS `qos` or 0), or list of (filter, qos). Returns granted list."""
        if isinstance(filters, str):
            filters = [(filters, qos or 0)]
        self.send(subscribe(mid, filters))
        ack = self.expect(SUBACK)
        assert ack.mid == mid
        return ack.granted

    def unsubscribe(self, filters, mid=1):
        self.send(unsubscribe(mid, filters))
        ack = self.expect(UNSUBACK)
        assert ack.mid == mid
        return ack

    def publish(self, topic, payload=b"", qos=0, retain=False, mid=1, dup=False):
        """PUBLISH and complete the handshake for the QoS (PUBACK, or PUBREC/PUBREL/PUBCOMP).
        Other packets arriving meanwhile (e.g. its own message coming back) are kept for recv()."""
        self.send(publish(topic, payload, qos, retain, dup, mid))
        if qos == 1:
            self.wait_for(PUBACK, mid)
        elif qos == 2:
            self.wait_for(PUBREC, mid)
            self.send(pubrel(mid))
            self.wait_for(PUBCOMP, mid)

    def recv_publish(self, timeout=None, ack=True):
        """Next PUBLISH (asserting that is what arrives). With ack, acknowledges QoS 1 (PUBACK)
        and completes QoS 2 (PUBREC, wait PUBREL, PUBCOMP)."""
        pkt = self.expect(PUBLISH, timeout)
        if ack and pkt.qos == 1:
            self.send(puback(pkt.mid))
        elif ack and pkt.qos == 2:
            self.send(pubrec(pkt.mid))
            rel = self.wait_for(PUBREL, pkt.mid, timeout)
            assert rel.flags == 2
            self.send(pubcomp(pkt.mid))
        return pkt

    def wait_for(self, ptype, mid=None, timeout=None):
        """Reads until a packet of ptype (with packet id mid, if given) arrives; packets of other
        kinds read meanwhile are kept and returned by later recv() calls, in order."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        stash = []
        try:
            while True:
                pkt = self._try_parse()
                if pkt is None:
                    self._fill(deadline)
                    continue
                if pkt.type == ptype and (mid is None or pkt.mid == mid):
                    return pkt
                stash.append(pkt)
        finally:
            self.pending.extend(stash)

    def disconnect(self):
        try:
            self.send(disconnect())
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
