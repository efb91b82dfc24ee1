"""13 libmidge over WebSocket (ws://, wss://): the client of test_13 (lmclient) against midge's WebSocket
listener (wsutil.ws_broker), over TLS with test_16's PKI, against Debian's mosquitto, and against scripted
servers on real sockets that send what a broker would not: fragmented messages, pings, close frames, text
and masked frames, refused and invalid upgrades. midge-pub / midge-sub take -L ws:// too."""
import base64
import hashlib
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import free_port, port_listening, wait_for
from test_13_libmidge import TIMEOUT, lm, vargs  # noqa: F401 (fixture)
from test_14_tools import env, run, tool  # noqa: F401 (fixture)
from test_16_tls import certs  # noqa: F401 (fixture)
from wsutil import ws_broker

MOSQUITTO = "/usr/sbin/mosquitto"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ERR_IO, ERR_CLOSED, ERR_PROTOCOL, ERR_TIMEOUT, ERR_TLS = -3, -4, -6, -11, -13
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

# Tests against "the broker under test" are midge_only: run against Debian's mosquitto (MIDGE_TEST_BROKER) they would
# meet its loss of large messages towards WebSocket clients (see test_mosquitto_websockets), which is tested apart.


def ws_url(b, path="/mqtt", host="127.0.0.1", scheme="ws"):
    return "%s://%s:%d%s" % (scheme, host, b.ws_port, path)


def pubsub(sub, pub, qos, n=10, topic="ws/t"):
    """sub subscribes to topic/#, pub publishes n messages at qos: all arrive in order, each completed."""
    assert sub.subscribe(qos, topic + "/#") == [qos]
    mids = [pub.ok("pub %s/%d %d 0 m%d" % (topic, i, qos, i))["mid"] for i in range(n)]
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    assert sorted(e["mid"] for e in pub.wait_events("published", n)) == sorted(mids)
    msgs = sub.wait_events("msg", n)
    time.sleep(0.2)
    msgs = sub.messages()
    assert [m["topic"] for m in msgs] == ["%s/%d" % (topic, i) for i in range(n)]
    assert sub.payloads() == ["m%d" % i for i in range(n)]
    assert all(m["qos"] == qos for m in msgs)


def big_message(sub, pub, size, topic="ws/big"):
    """A message of size bytes ('x' each) goes from pub to sub at QoS 1, intact."""
    n = len(sub.events("msg"))
    assert sub.subscribe(1, topic) == [1]
    pub.ok("pubbig %s 1 %d" % (topic, size))
    assert pub.ok("wait published %d" % (TIMEOUT * 1000))["rc"] == 0
    m = sub.wait_events("msg", n + 1)[n]
    assert m["topic"] == topic and len(m["payload"]) == 2 * size
    assert bytes.fromhex(m["payload"]) == b"x" * size


# ---------------------------------------------------------------- against midge

@pytest.mark.midge_only
@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", [4, 5])
def test_ws_pubsub(broker, lm, version, qos):
    b = ws_broker(broker)
    sub = lm(*vargs(version, "wssub%d%d" % (version, qos)))
    sub.connect(ws_url(b), expect_sp=False)
    pub = lm(*vargs(version, "wspub%d%d" % (version, qos)))
    pub.connect(ws_url(b))
    pubsub(sub, pub, qos)
    pub.ok("disconnect")
    assert pub.ok("wait disconnected 5000")["rc"] == 0
    assert pub.events("disconnect")[-1]["rc"] == 0
    assert pub.cmd("errtext")["text"] == "disconnected by the application"


@pytest.mark.midge_only
@pytest.mark.parametrize("mode", ["thread", "ext"])
def test_ws_large_message_and_modes(broker, lm, mode):
    """1 MB each way spans many frames (64 KiB at most from the client); the default path and an
    explicit one; the external-loop mode too. MQTT over ws and plain MQTT meet."""
    b = ws_broker(broker)
    sub = lm(*vargs(5, "wsbigsub-" + mode), mode=mode)
    sub.connect("ws://127.0.0.1:%d" % b.ws_port)  # path /mqtt by default
    pub = lm(*vargs(4, "wsbigpub-" + mode), mode=mode)
    pub.connect(ws_url(b, "/some/path?x=1"))
    big_message(sub, pub, 1000000)
    tcp = lm(*vargs(4, "wsbigtcp-" + mode), mode=mode)
    tcp.connect("mqtt://127.0.0.1:%d" % b.port)
    big_message(tcp, pub, 300000, topic="ws/big2")


@pytest.mark.midge_only
def test_ws_reconnect_after_restart(broker, lm):
    b = ws_broker(broker)
    sub = lm(*vargs(4, "wsre", "-r", "100,500", persistent=True))
    sub.connect(ws_url(b))
    assert sub.subscribe(1, "ws/re") == [1]
    b.restart()
    ev = sub.wait_events("disconnect", 1)[0]
    assert ev["rc"] == ERR_CLOSED
    sub.wait_events("connect", 2, timeout=20)
    assert sub.events("connect")[-1]["rc"] == 0
    # the broker kept no session over a restart (no persistence): subscribe again
    sub.ok("sub 1 ws/re")
    assert sub.wait_events("suback", 2)[1]["codes"] == [1]
    pub = lm(*vargs(4, "wsrepub"))
    pub.connect(ws_url(b))
    pub.ok("pub ws/re 1 0 back")
    assert sub.wait_events("msg", 1)[0]["payload"] == b"back".hex()


@pytest.mark.midge_only
def test_ws_keepalive_over_midge(broker, lm):
    """Keepalive 1 s: PINGREQs go in frames and PINGRESPs come back; the connection stays up."""
    b = ws_broker(broker)
    c = lm(*vargs(4, "wska", "-k", 1))
    c.connect(ws_url(b))
    time.sleep(3.5)
    assert c.events("disconnect") == []
    assert c.ok("state")["connected"] is True


@pytest.mark.midge_only
def test_wss_pubsub_large_and_refusals(broker, lm, certs):
    """wss:// with midge_client_set_tls's settings: verified against the CA, the host of the URL
    checked (localhost is in the certificate, a wrong CA is a TLS refusal); 1 MB each way."""
    b = ws_broker(broker, certs=certs)
    url = ws_url(b, host="localhost", scheme="wss")
    sub = lm(*vargs(5, "wsssub"))
    assert sub.cmd("tls cafile=%s" % certs.p("ca.crt"))["rc"] == 0
    sub.connect(url)
    pub = lm(*vargs(4, "wsspub"))
    assert pub.cmd("tls cafile=%s" % certs.p("ca.crt"))["rc"] == 0
    pub.connect(url.replace("/mqtt", ""))
    pubsub(sub, pub, 2, topic="wss/t")
    big_message(sub, pub, 1000000, topic="wss/big")
    bad = lm(*vargs(4, "wssbad"))
    assert bad.cmd("tls cafile=%s" % certs.p("other_ca.crt"))["rc"] == 0
    bad.ok("connect " + url)
    assert bad.cmd("wait connected 10000")["rc"] == ERR_TLS
    assert bad.cmd("errtext")["text"].startswith("TLS handshake failed: ")
    # ws:// to the TLS listener: the server wants a ClientHello, not a GET
    plain = lm(*vargs(4, "wssplain", "-T", 3000))
    plain.ok("connect " + ws_url(b))
    assert plain.cmd("wait connected 10000")["rc"] in (ERR_IO, ERR_CLOSED, ERR_PROTOCOL)
    assert plain.cmd("errtext")["text"].startswith("WebSocket handshake failed: ")


@pytest.mark.midge_only
def test_ws_to_plain_mqtt_port(broker, lm):
    """ws:// to an MQTT listener: the broker closes on the GET; the error says so."""
    b = broker()
    c = lm(*vargs(4, "wsplain"))
    c.ok("connect ws://127.0.0.1:%d/mqtt" % b.port)
    assert c.cmd("wait connected 10000")["rc"] == ERR_CLOSED
    assert c.cmd("errtext")["text"] == ("WebSocket handshake failed: the server closed the connection without "
                                        "answering (not a WebSocket server?)")
    assert c.events("disconnect")[-1]["rc"] == ERR_CLOSED


# ---------------------------------------------------------------- tools

@pytest.mark.midge_only
def test_tools_url_ws(broker, env):
    """midge-sub and midge-pub with -L ws://host:port/topic (the WebSocket path is /mqtt)."""
    b = ws_broker(broker)
    sub = subprocess.Popen([tool("sub"), "-L", "ws://127.0.0.1:%d/tool/ws" % b.ws_port, "-C", "1", "-W", "20",
                            "-q", "1", "-i", "wstoolsub"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env)
    try:
        wait_for(lambda: "wstoolsub 1 tool/ws" in b.log(), 10, what="midge-sub's subscription")
        rc, out, err = run("pub", ["-L", "ws://127.0.0.1:%d/tool/ws" % b.ws_port, "-m", "over ws", "-q", "1"],
                           env)
        assert rc == 0, err
        out, err = sub.communicate(timeout=20)
        assert sub.returncode == 0, err
        assert out == b"over ws\n"
    finally:
        sub.kill()
        sub.wait()
    rc, out, err = run("pub", ["-L", "ws://127.0.0.1:%d/tool/ws" % b.port, "-m", "x"], env)
    assert rc != 0


# ---------------------------------------------------------------- against Debian's mosquitto

@pytest.mark.skipif(not os.access(MOSQUITTO, os.X_OK), reason="Debian's mosquitto is not installed")
def test_mosquitto_websockets(lm, tmp_path):
    """Debian's mosquitto (libwebsockets) as the WebSocket server. Its 2.0.11 opens no listener at all
    when a websockets listener is the only one, so the config has a plain one first."""
    port, ws_port = free_port(), free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\nuser root\n"
                    "listener %d 127.0.0.1\nprotocol websockets\n" % (port, ws_port))
    log = tmp_path / "mosquitto.log"
    with open(log, "wb") as lf:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf), "-v"], stdout=lf, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: port_listening(ws_port) or proc.poll() is not None, 10, what="mosquitto listening")
        if proc.poll() is not None:
            pytest.fail("mosquitto exited: %s" % log.read_text()[-2000:])
        url = "ws://127.0.0.1:%d/mqtt" % ws_port
        for qos in (0, 1, 2):
            sub = lm(*vargs(4, "mqsub%d" % qos))
            sub.connect(url)
            pub = lm(*vargs(5, "mqpub%d" % qos))
            pub.connect(url)
            pubsub(sub, pub, qos, topic="mq/%d" % qos)
        # 1 MB in frames to mosquitto, read by a TCP subscriber. Towards a WebSocket subscriber this
        # mosquitto (libwebsockets 4.1.6) loses messages past about 170 kB, for paho's client as for
        # ours: 150 kB there.
        tcp = lm(*vargs(4, "mqtcp"))
        tcp.connect("mqtt://127.0.0.1:%d" % port)
        big_message(tcp, pub, 1000000, topic="mq/big")
        big_message(sub, pub, 150000, topic="mq/big2")
        pub.ok("disconnect")
        assert pub.ok("wait disconnected 5000")["rc"] == 0
    finally:
        proc.terminate()
        proc.wait(10)


# ---------------------------------------------------------------- scripted servers

class WsPeer:
    """The server's end of one connection, for scripts: the upgrade, frames both ways."""

    def __init__(self, conn):
        self.conn = conn
        self.conn.settimeout(TIMEOUT)
        self.buf = b""
        self.masks = []
        self.request = b""

    def _need(self, n):
        while len(self.buf) < n:
            d = self.conn.recv(65536)
            if not d:
                raise EOFError("client closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_request(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.conn.recv(65536)
            if not d:
                raise EOFError("client closed")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.request = head.decode()
        lines = self.request.split("\r\n")
        self.headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        self.request_line = lines[0]
        return self.headers

    def accept_key(self):
        return base64.b64encode(hashlib.sha1(self.headers["sec-websocket-key"].encode() + GUID).digest()).decode()

    def upgrade(self, protocol="mqtt", accept=None):
        self.read_request()
        self.send_raw(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (
                           accept or self.accept_key(),
                           "Sec-WebSocket-Protocol: %s\r\n" % protocol if protocol else "")).encode())

    def send_raw(self, data):
        self.conn.sendall(data)

    def send(self, opcode, payload=b"", fin=True, mask=None):
        n = len(payload)
        hdr = bytes([(0x80 if fin else 0) | opcode])
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr += bytes([mbit | n])
        elif n < 65536:
            hdr += bytes([mbit | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([mbit | 127]) + struct.pack(">Q", n)
        if mask:
            hdr += mask
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        self.send_raw(hdr + payload)

    def frame(self):
        """The client's next frame: (fin, opcode, payload unmasked); every one must be masked."""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._need(8))[0]
        assert b1 & 0x80, "client frame not masked"
        mask = self._need(4)
        self.masks.append(mask)
        data = self._need(n)
        return bool(b0 & 0x80), b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))

    def mqtt_packet(self):
        """The client's next MQTT packet, however its binary frames cut it."""
        stream = b""
        while True:
            # fixed header and remaining length
            if len(stream) >= 2:
                mult, length, i = 1, 0, 1
                while i < len(stream):
                    length += (stream[i] & 0x7F) * mult
                    mult *= 128
                    if not stream[i] & 0x80:
                        break
                    i += 1
                else:
                    i = None
                if i is not None and len(stream) >= i + 1 + length:
                    assert len(stream) == i + 1 + length, "two packets in one frame run: test too simple"
                    return stream
            fin, op, data = self.frame()
            assert op in (OP_BINARY, OP_CONT), op
            stream += data


def scripted(script):
    """A server on a free port whose connections run script(WsPeer) in a thread each; returns
    (port, results) where results collects what scripts return or the exception they raised."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    results = []

    def one(conn):
        try:
            results.append(script(WsPeer(conn)))
        except Exception as e:  # noqa: BLE001 (reported by the test)
            results.append(e)
        finally:
            conn.close()

    def accept():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1], results


CONNACK = b"\x20\x02\x00\x00"


def test_frames_from_the_server(lm):
    """A ping before CONNACK is answered with a pong; a CONNACK cut over a fragmented message with a
    ping inside it; a PUBLISH split over two messages; then the server's close frame: the client
    answers it with the same code and reports it. Every client frame is masked, each with its own mask."""
    def script(p):
        p.upgrade()
        assert p.request_line == "GET /mqtt HTTP/1.1"
        h = p.headers
        assert h["host"] == "127.0.0.1:%d" % port and h["upgrade"] == "websocket"
        assert h["connection"] == "Upgrade" and h["sec-websocket-version"] == "13"
        assert h["sec-websocket-protocol"] == "mqtt" and len(base64.b64decode(h["sec-websocket-key"])) == 16
        connect = p.mqtt_packet()
        assert connect[0] == 0x10 and b"wsfr" in connect
        p.send(OP_PING, b"p1")
        assert p.frame() == (True, OP_PONG, b"p1")
        p.send(OP_BINARY, CONNACK[:1], fin=False)
        p.send(OP_PING, b"")
        p.send(OP_CONT, CONNACK[1:3], fin=False)
        p.send(OP_CONT, CONNACK[3:], fin=True)
        assert p.frame() == (True, OP_PONG, b"")
        publish = b"\x30\x08\x00\x03a/bhey"
        p.send(OP_BINARY, publish[:5])
        p.send(OP_BINARY, b"")
        p.send(OP_BINARY, publish[5:])
        time.sleep(0.3)
        p.send(OP_CLOSE, struct.pack(">H", 1000) + b"bye")
        fin, op, data = p.frame()
        assert (fin, op, data) == (True, OP_CLOSE, struct.pack(">H", 1000))
        return list(p.masks)

    port, results = scripted(script)
    c = lm(*vargs(4, "wsfr", "-L"))
    c.connect("ws://127.0.0.1:%d" % port)
    m = c.wait_events("msg", 1)[0]
    assert m["topic"] == "a/b" and m["payload"] == b"hey".hex()
    ev = c.wait_events("disconnect", 1)[0]
    assert ev["rc"] == ERR_CLOSED
    assert c.cmd("errtext")["text"] == "WebSocket closed by server: 1000 bye"
    assert any("WebSocket closed by server: 1000 bye" in e["line"] for e in c.events("log"))
    wait_for(lambda: results, TIMEOUT, what="the script's end")
    masks = results[0]
    assert not isinstance(masks, Exception), masks
    assert len(masks) >= 4 and len(set(masks)) == len(masks)


@pytest.mark.parametrize("case", ["text", "masked", "continuation", "bad_header"])
def test_protocol_errors_from_the_server(lm, case):
    """A text frame (close 1003), a masked frame, a continuation without a message or a bad header
    (close 1002) end the connection with MIDGE_ERR_PROTOCOL and a clear reason."""
    expect = {
        "text": (1003, "WebSocket protocol error: text frame from the server (MQTT needs binary frames)"),
        "masked": (1002, "WebSocket protocol error: masked frame from the server"),
        "continuation": (1002, "WebSocket protocol error: continuation frame outside a message"),
        "bad_header": (1002, "WebSocket protocol error: bad frame header from the server"),
    }[case]

    def script(p):
        p.upgrade()
        p.mqtt_packet()
        p.send(OP_BINARY, CONNACK)
        time.sleep(0.2)
        if case == "text":
            p.send(OP_TEXT, b"\x30\x00")
        elif case == "masked":
            p.send(OP_BINARY, b"\xd0\x00", mask=b"\x01\x02\x03\x04")
        elif case == "continuation":
            p.send(OP_CONT, b"\xd0\x00")
        else:
            p.send_raw(b"\xc2\x00")  # RSV1 without an extension
        fin, op, data = p.frame()
        return op, struct.unpack(">H", data[:2])[0]

    port, results = scripted(script)
    c = lm(*vargs(4, "wserr" + case))
    c.connect("ws://127.0.0.1:%d/mqtt" % port)
    assert c.wait_events("disconnect", 1)[0]["rc"] == ERR_PROTOCOL
    assert c.cmd("errtext")["text"] == expect[1]
    wait_for(lambda: results, TIMEOUT, what="the script's end")
    assert results[0] == (OP_CLOSE, expect[0])


def http_answer(status_line, extra=""):
    def script(p):
        p.read_request()
        p.send_raw(("%s\r\nContent-Length: 0\r\n%s\r\n" % (status_line, extra)).encode())
        return p.request_line
    return script


@pytest.mark.parametrize("case", ["bad_path", "wrong_accept", "no_protocol", "other_protocol", "not_http"])
def test_refused_upgrades(lm, case):
    """A server that refuses the path (as a web server with MQTT under /mqtt only would), answers with
    a wrong accept key, without the mqtt subprotocol or with another, or not in HTTP at all: the
    attempt ends with MIDGE_ERR_PROTOCOL and a reason naming it."""
    if case == "bad_path":
        def script(p):
            p.read_request()
            if p.request_line != "GET /mqtt HTTP/1.1":
                p.send_raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return p.request_line
            p.send_raw(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
        want = "WebSocket handshake refused: HTTP 404 Not Found"
    elif case == "wrong_accept":
        script = (lambda p: p.upgrade(accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
        want = "WebSocket handshake failed: wrong Sec-WebSocket-Accept"
    elif case == "no_protocol":
        script = (lambda p: p.upgrade(protocol=None))
        want = "WebSocket handshake failed: the server did not accept the subprotocol mqtt"
    elif case == "other_protocol":
        script = (lambda p: p.upgrade(protocol="mqttv3.1"))
        want = "WebSocket handshake failed: the server chose the subprotocol 'mqttv3.1', not mqtt"
    else:
        def script(p):
            p.read_request()
            p.send_raw(CONNACK)
            time.sleep(1)
        want = "WebSocket handshake failed: the answer is not HTTP/1.x (not a WebSocket server?)"
    port, results = scripted(script)
    c = lm(*vargs(4, "wsref" + case, "-r", "100,200", "-L"))
    c.ok("connect ws://127.0.0.1:%d/%s" % (port, "wrong/path" if case == "bad_path" else "mqtt"))
    assert c.cmd("wait connected 10000")["rc"] == ERR_PROTOCOL
    assert c.cmd("errtext")["text"] == want
    assert c.events("disconnect")[0]["rc"] == ERR_PROTOCOL
    assert any(want in e["line"] for e in c.events("log") if e["level"] == 2)
    c.wait_events("disconnect", 2)  # it tries again, as after any failed attempt
    c.ok("disconnect")
    if case == "bad_path":
        assert results[0] == "GET /wrong/path HTTP/1.1"


def test_connect_timeout_and_keepalive(lm):
    """A server that never answers the upgrade: the connect timeout covers it. One that stops
    answering PINGREQ: the keepalive ends the connection, as over TCP."""
    def silent(p):
        p.read_request()
        time.sleep(5)

    port, _ = scripted(silent)
    c = lm(*vargs(4, "wsto", "-T", 700))
    t0 = time.monotonic()
    c.ok("connect ws://127.0.0.1:%d" % port)
    assert c.cmd("wait connected 10000")["rc"] == ERR_TIMEOUT
    assert 0.5 < time.monotonic() - t0 < 4
    assert c.cmd("errtext")["text"] == "no connection to 127.0.0.1 port %d within 700 ms" % port

    def pings(p):
        p.upgrade()
        p.mqtt_packet()
        p.send(OP_BINARY, CONNACK)
        assert p.mqtt_packet() == b"\xc0\x00"
        p.send(OP_BINARY, b"\xd0\x00")
        assert p.mqtt_packet() == b"\xc0\x00"  # and then no PINGRESP
        time.sleep(3)
        return "ok"

    port, results = scripted(pings)
    k = lm(*vargs(4, "wska2", "-k", 1))
    k.connect("ws://127.0.0.1:%d" % port)
    assert k.wait_events("disconnect", 1, timeout=10)[0]["rc"] == ERR_TIMEOUT
    assert k.cmd("errtext")["text"] == "no PINGRESP within 1.5 s"
