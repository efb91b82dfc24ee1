"""A raw WebSocket client (RFC 6455) for tests: the HTTP upgrade, masked frames of any shape (also wrong
ones), and WsClient, a mqttraw.RawClient whose MQTT bytes travel in binary frames."""
import base64
import hashlib
import os
import socket
import ssl
import struct
import time

import mqttraw as m

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None, key=b"\x37\xfa\x21\x3d"):
    """One frame, masked with key (RFC 6455's example key: fixed, so test ids are the same in every
    pytest-xdist worker); length overrides the length field (to lie about it)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())


def upgrade_request(path="/mqtt", key=None, protocol="mqtt", version="13", extra=None, host="127.0.0.1"):
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Upgrade: websocket", "Connection: Upgrade"]
    if key is not False:
        lines.append("Sec-WebSocket-Key: %s" % (key or base64.b64encode(os.urandom(16)).decode()))
    if version is not None:
        lines.append("Sec-WebSocket-Version: %s" % version)
    if protocol is not None:
        lines.append("Sec-WebSocket-Protocol: %s" % protocol)
    lines += list(extra or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WsClient(m.RawClient):
    """MQTT over WebSocket: send() wraps bytes in one masked binary frame; received binary frames feed the
    MQTT parser. Control frames received are kept: self.closes (codes), self.pongs (payloads)."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, tls_context=None, handshake=True, **kw):
        self.raw = socket.create_connection((host, port), timeout=timeout)
        self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_context is not None:
            self.raw = tls_context.wrap_socket(self.raw, server_hostname="localhost")
        self.sock = self.raw
        self.buf = bytearray()
        self.wsbuf = bytearray()
        self.timeout = timeout
        self.closed = False
        self.pending = []
        self.version = m.MQTT311
        self.closes, self.pongs, self.texts = [], [], []
        self.response = None
        if handshake:
            self.response = self.handshake(**kw)
            assert self.response.status == 101, (self.response.status, self.response.body)

    def send_raw(self, data):
        self.raw.sendall(data)

    def handshake(self, request=None, body=True, **kw):
        """Sends an upgrade request (or `request` bytes as they are) and reads the HTTP response head (and a
        body when Content-Length says so). Returns a Response."""
        req = request if request is not None else upgrade_request(**kw)
        self.key = None
        for line in req.split(b"\r\n"):
            if line.lower().startswith(b"sec-websocket-key:"):
                self.key = line.split(b":", 1)[1].strip().decode()
        self.raw.sendall(req)
        return self.read_http(with_body=body)

    def read_http(self, timeout=None, with_body=True):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.wsbuf:
            self._recv_raw(deadline)
        head, rest = bytes(self.wsbuf).split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, v = l.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0")) if with_body else 0  # no body follows a HEAD's answer
        self.wsbuf = bytearray(rest)
        while len(self.wsbuf) < n:
            self._recv_raw(deadline)
        body, self.wsbuf = bytes(self.wsbuf[:n]), self.wsbuf[n:]
        if status == 101 and self.key:
            assert headers.get("sec-websocket-accept") == accept_for(self.key), headers
        return Response(status, headers, body)

    def _recv_raw(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.raw.settimeout(left)
        try:
            data = self.raw.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            raise m.Closed("connection closed by server")
        self.wsbuf += data

    def recv_frame(self, timeout=None):
        """The next frame from the server as (fin, opcode, payload); the server must not mask."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self._parse_frame()
            if f is not None:
                return f
            self._recv_raw(deadline)

    def _parse_frame(self):
        b = self.wsbuf
        if len(b) < 2:
            return None
        fin, op, masked, n = b[0] & 0x80, b[0] & 0x0F, b[1] & 0x80, b[1] & 0x7F
        assert not masked, "server frames are never masked"
        i = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, i = struct.unpack("!H", bytes(b[2:4]))[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, i = struct.unpack("!Q", bytes(b[2:10]))[0], 10
        if len(b) < i + n:
            return None
        payload = bytes(b[i:i + n])
        del b[:i + n]
        return bool(fin), op, payload

    def send(self, data):
        self._note_connect(data)
        self.raw.sendall(frame(BINARY, data))

    def _fill(self, deadline):
        """MQTT bytes: the payloads of binary frames; control frames are recorded."""
        while True:
            f = self._parse_frame()
            if f is None:
                self._recv_raw(deadline)
                continue
            fin, op, payload = f
            if op in (BINARY, CONT):
                self.buf += payload
                return
            if op == CLOSE:
                self.closes.append(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
                self.closed = True
                raise m.Closed("close frame from server")
            if op == PONG:
                self.pongs.append(payload)
            elif op == TEXT:
                self.texts.append(payload)

    def expect_close(self, code, timeout=3.0):
        """Reads until the server's close frame; asserts its status code and that the TCP connection ends."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fin, op, payload = self.recv_frame(max(0.01, deadline - time.monotonic()))
            except m.Closed:
                raise AssertionError("connection closed without a close frame (wanted %d)" % code)
            if op == CLOSE:
                got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                assert got == code, "close code %r, expected %r (%r)" % (got, code, payload)
                break
        try:
            while True:
                self._recv_raw(deadline)
        except m.Closed:
            return
        except socket.timeout:
            raise AssertionError("the server did not close the connection after its close frame")

    def close(self):
        try:
            self.raw.close()
        except OSError:
            pass
