"""24 WebSocket protocol, byte by byte: the upgrade handshake and its refusals, frames (fragmented, split
and packed MQTT packets, control frames between fragments, ping/pong, the close handshake), every bad input
of RFC 6455 with its status or close code, files from http_dir, websockets_origin, and MQTT features over
ws and wss (TLS certificates from test_16)."""
import os
import socket
import ssl
import time

import pytest

import mqttraw as m
import wsraw as ws
from conftest import wait_for
from test_16_tls import certs, tls_conf  # noqa: F401

pytestmark = pytest.mark.midge_only

WS = "protocol websockets\n"


def ws_broker(broker, extra=""):
    return broker(WS + extra)


def connected(port, cid="c", **kw):
    c = ws.WsClient(port, **kw)
    c.connect(cid)
    return c


# ------------------------------------------------------------------ the handshake

def test_upgrade_and_mqtt_round_trip(broker):
    b = ws_broker(broker)
    c = ws.WsClient(b.port)
    assert c.response.header("sec-websocket-protocol") == "mqtt"
    assert c.response.header("upgrade").lower() == "websocket"
    c.connect("sub")
    c.subscribe("ws/#", qos=1)
    p = connected(b.port, "pub")
    assert p.publish("ws/a", b"hello", qos=1, mid=7).type == m.PUBACK
    got = c.recv_publish()
    assert (got.topic, got.payload) == ("ws/a", b"hello")


@pytest.mark.parametrize("offered,answer", [("mqttv3.1", "mqttv3.1"), ("foo, mqtt", "mqtt"), (None, None),
                                            ("MQTT", "mqtt")])
def test_subprotocols(broker, offered, answer):
    b = ws_broker(broker)
    c = ws.WsClient(b.port, protocol=offered)
    assert c.response.header("sec-websocket-protocol") == answer
    c.connect("x")


def test_any_path(broker):
    b = ws_broker(broker)
    for path in ["/", "/mqtt", "/some/where?x=1"]:
        ws.WsClient(b.port, path=path).connect("p")


@pytest.mark.parametrize("kw,status", [
    ({"protocol": "chat"}, 400),
    ({"key": False}, 400),
    ({"key": "c2hvcnQ="}, 400),                      # 5 bytes, not 16
    ({"version": "8"}, 426),
    ({"version": None}, 426),
    ({"extra": ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]}, 400),  # two keys
])
def test_refused_handshakes(broker, kw, status):
    b = ws_broker(broker)
    c = ws.WsClient(b.port, handshake=False)
    r = c.handshake(**kw)
    assert r.status == status, (r.status, r.body)
    if status == 426:
        assert r.header("sec-websocket-version") == "13"
    with pytest.raises(m.Closed):
        c.read_http(timeout=3)
    wait_for(lambda: "WebSocket handshake refused" in b.log(), 5, what="the refusal logged")


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /mqtt HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /mqtt HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET mqtt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"POST /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400),
])
def test_bad_http(broker, request_bytes, status):
    b = ws_broker(broker)
    c = ws.WsClient(b.port, handshake=False)
    assert c.handshake(request=request_bytes).status == status


def test_oversized_headers(broker):
    b = ws_broker(broker, "websockets_headers_size 1024\n")
    c = ws.WsClient(b.port, handshake=False)
    r = c.handshake(extra=["Cookie: " + "a" * 2000])
    assert r.status == 431
    # within the limit it works
    ws.WsClient(b.port, extra=["Cookie: " + "a" * 500]).connect("ok")


def test_slowloris_handshake_closed_by_timeout(broker):
    """A request head sent a line at a time never completes: connect_timeout closes it."""
    b = ws_broker(broker, "connect_timeout 1\n")
    c = ws.WsClient(b.port, handshake=False)
    c.send_raw(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    closed = False
    while not closed and time.monotonic() - t0 < 5:
        try:
            c.send_raw(b"X-a: b\r\n")
            c.raw.settimeout(0.2)
            closed = c.raw.recv(100) == b""
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed = True
    assert closed and time.monotonic() - t0 < 4
    connected(b.port, "fine")  # others unaffected


# ------------------------------------------------------------------ frames

def test_packets_split_across_frames_and_packed_in_one(broker):
    b = ws_broker(broker)
    c = ws.WsClient(b.port)
    pkt = m.connect("split")
    for i in range(len(pkt)):  # one byte per frame
        c.send_raw(ws.frame(ws.BINARY, pkt[i:i + 1]))
    c.expect(m.CONNACK)
    two = m.subscribe(1, [("s/#", 0)]) + m.publish("s/x", b"both")
    c.send_raw(ws.frame(ws.BINARY, two))
    c.expect(m.SUBACK)
    assert c.recv_publish().payload == b"both"


def test_fragmented_message_with_ping_between(broker):
    b = ws_broker(broker)
    c = ws.WsClient(b.port)
    pkt = m.connect("frag")
    c.send_raw(ws.frame(ws.BINARY, pkt[:3], fin=False))
    c.send_raw(ws.frame(ws.PING, b"are you there"))
    c.send_raw(ws.frame(ws.CONT, pkt[3:6], fin=False))
    c.send_raw(ws.frame(ws.CONT, pkt[6:], fin=True))
    c.expect(m.CONNACK)
    assert c.pongs == [b"are you there"]


def test_ping_pong_and_empty_frames(broker):
    b = ws_broker(broker)
    c = connected(b.port)
    c.send_raw(ws.frame(ws.BINARY, b""))
    c.send_raw(ws.frame(ws.PING, b""))
    c.send_raw(ws.frame(ws.PONG, b"unsolicited"))  # ignored
    c.send(m.pingreq())
    c.expect(m.PINGRESP)
    assert c.pongs == [b""]


def test_large_messages_both_ways(broker):
    b = ws_broker(broker)
    c = connected(b.port, "big")
    c.subscribe("big/#", qos=1)
    payload = os.urandom(1 << 20)
    c.publish("big/x", payload, qos=1, mid=3)
    assert c.recv_publish(10).payload == payload


@pytest.mark.parametrize("data,code", ids=["unmasked", "text", "rsv1", "orphan-continuation", "opcode-3",
                                          "long-ping", "fragmented-ping", "close-1005", "close-1-byte",
                                          "close-bad-utf8", "length-top-bit"], argvalues=[
    (ws.frame(ws.BINARY, m.connect("u"), mask=False), 1002),        # unmasked
    (ws.frame(ws.TEXT, b"hello"), 1003),                             # text
    (ws.frame(ws.BINARY, b"x", rsv=4), 1002),                        # RSV1 without an extension
    (ws.frame(ws.CONT, b"x"), 1002),                                 # continuation without a start
    (ws.frame(0x3, b"x"), 1002),                                     # reserved opcode
    (ws.frame(ws.PING, b"p" * 126), 1002),                           # control frame too long
    (ws.frame(ws.PING, b"p", fin=False), 1002),                      # fragmented control frame
    (ws.frame(ws.CLOSE, ws.close_payload(1005)), 1002),              # a code that must not be sent
    (ws.frame(ws.CLOSE, b"\x03"), 1002),                             # 1-byte close payload
    (ws.frame(ws.CLOSE, ws.close_payload(1000, b"\xff\xfe")), 1007),  # reason not UTF-8
    (b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 4, 1002),  # 64-bit length, top bit set
])
def test_bad_frames_get_close_codes(broker, data, code):
    b = ws_broker(broker)
    c = ws.WsClient(b.port)
    c.send_raw(data)
    c.expect_close(code)
    wait_for(lambda: "WebSocket: " in b.log(), 5, what="the reason logged")


def test_binary_inside_fragmented_message(broker):
    b = ws_broker(broker)
    c = ws.WsClient(b.port)
    c.send_raw(ws.frame(ws.BINARY, b"\x10", fin=False) + ws.frame(ws.BINARY, b"\x00"))
    c.expect_close(1002)


def test_too_big_frame_and_message(broker):
    b = ws_broker(broker, "max_packet_size 1000\n")
    c = ws.WsClient(b.port)
    c.send_raw(ws.frame(ws.BINARY, b"", length=5000)[:8])  # the header (with its mask) only: too big
    c.expect_close(1009)
    c = ws.WsClient(b.port)
    c.send_raw(ws.frame(ws.BINARY, b"a" * 600, fin=False) + ws.frame(ws.CONT, b"b" * 600))
    c.expect_close(1009)


def test_lying_length_closed_by_timeout(broker):
    b = ws_broker(broker, "connect_timeout 1\n")
    c = ws.WsClient(b.port)
    c.send_raw(ws.frame(ws.BINARY, b"", length=1000)[:8] + b"\x10\x0c")  # promises 1000, sends 2
    t0 = time.monotonic()
    c.expect_close(1000, timeout=5)  # no CONNECT in time: the broker says goodbye
    assert time.monotonic() - t0 < 4


def test_close_handshake(broker):
    b = ws_broker(broker)
    c = connected(b.port, "bye")
    c.send_raw(ws.frame(ws.CLOSE, ws.close_payload(1000, b"done")))
    c.expect_close(1000)
    wait_for(lambda: "Client bye closed its connection" in b.log(), 5, what="close logged")


def test_broker_says_goodbye_with_a_close_frame(broker):
    b = ws_broker(broker)
    c = connected(b.port, "kicked")
    c.send(m.packet(m.PUBLISH, 6, b"\x00"))  # QoS 3: malformed
    c.expect_close(1000)


# ------------------------------------------------------------------ files, origins

def test_http_dir(broker, tmp_path):
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<h1>midge</h1>")
    (site / "sub" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    os.chmod(tmp_path, 0o755)
    for p in [site, site / "sub"]:
        os.chmod(p, 0o755)
    b = ws_broker(broker, "http_dir %s\nuser root\n" % site)

    def get(target, method="GET"):
        c = ws.WsClient(b.port, handshake=False)
        return c.handshake(request=("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, target)).encode(),
                           body=method != "HEAD")

    r = get("/")
    assert r.status == 200 and r.body == b"<h1>midge</h1>" and r.header("content-type").startswith("text/html")
    r = get("/sub/app.js?v=2")
    assert r.status == 200 and r.header("content-type").startswith("text/javascript")
    assert get("/sub/%61pp.js").status == 200
    assert get("/../secret.txt").status == 404
    assert get("/sub/../../secret.txt").status == 404
    assert get("/%2e%2e/secret.txt").status == 404
    assert get("/nothing").status == 404
    r = get("/", "HEAD")
    assert r.status == 200 and r.body == b""
    assert get("/", "POST").status == 405
    # and the same listener upgrades
    ws.WsClient(b.port).connect("both")


def test_no_http_dir_serves_the_dashboard(broker):
    """Without http_dir the embedded dashboard answers (test_31); any other path is 404."""
    b = ws_broker(broker)
    c = ws.WsClient(b.port, handshake=False)
    assert c.handshake(request=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    c = ws.WsClient(b.port, handshake=False)
    assert c.handshake(request=b"GET /nothing.html HTTP/1.1\r\nHost: x\r\n\r\n").status == 404


def test_websockets_origin(broker):
    b = ws_broker(broker, "websockets_origin http://good.example\nwebsockets_origin https://also.example\n")
    ws.WsClient(b.port, extra=["Origin: http://good.example"]).connect("a")
    ws.WsClient(b.port, extra=["Origin: https://also.example"]).connect("b")
    for extra in (["Origin: http://evil.example"], []):
        c = ws.WsClient(b.port, handshake=False)
        assert c.handshake(extra=extra).status == 403


# ------------------------------------------------------------------ MQTT features over ws and wss

def test_mqtt5_qos2_over_ws(broker):
    b = ws_broker(broker)
    s = ws.WsClient(b.port)
    s.connect("s5", proto=m.MQTT5)
    s.subscribe([("q/#", 2)])
    p = ws.WsClient(b.port)
    p.connect("p5", proto=m.MQTT5)
    assert p.publish("q/2", b"exactly once", qos=2, mid=9).type == m.PUBCOMP
    got = s.recv_publish()
    assert got.payload == b"exactly once" and got.qos == 2


def test_wss(broker, certs):
    b = broker(tls_conf(certs) + WS)
    ctx = ssl.create_default_context(cafile=certs.p("ca.crt"))
    c = ws.WsClient(b.port, tls_context=ctx)
    c.connect("secure")
    c.subscribe("wss/#")
    c.publish("wss/x", b"over tls")
    assert c.recv_publish().payload == b"over tls"


def test_acl_over_ws(broker, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("topic read open/#\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(acl, 0o644)
    b = ws_broker(broker, "acl_file %s\n" % acl)
    c = ws.WsClient(b.port)
    c.connect("a", proto=m.MQTT5)
    assert c.subscribe([("closed/#", 0)]) == [0x87]


def test_idle_clients_are_pinged(broker):
    """websockets_ping_interval: a client quiet that long gets a ping (keepalive 0 too), and stays."""
    b = ws_broker(broker, "websockets_ping_interval 1\n")
    c = ws.WsClient(b.port)
    c.connect("idle", keepalive=0)
    t0 = time.monotonic()
    fin, op, payload = c.recv_frame(timeout=4)
    assert op == ws.PING and time.monotonic() - t0 >= 0.5
    c.send_raw(ws.frame(ws.PONG, payload))
    fin, op, _ = c.recv_frame(timeout=4)  # quiet on: pinged again
    assert op == ws.PING
    c.send(m.pingreq())
    c.expect(m.PINGRESP)


def test_pong_is_prompt(broker):
    """A ping is answered at once, not at the next event (no other traffic, no broker ping)."""
    b = ws_broker(broker, "websockets_ping_interval 0\n")
    c = connected(b.port, "p")
    for i in range(3):
        c.send_raw(ws.frame(ws.PING, b"n%d" % i))
        fin, op, payload = c.recv_frame(timeout=1)
        assert (op, payload) == (ws.PONG, b"n%d" % i)


def test_list_headers_split_over_fields(broker):
    """RFC 7230 3.2.2: Connection and Sec-WebSocket-Protocol may come in several fields."""
    b = ws_broker(broker)
    req = (b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: foo\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
    c = ws.WsClient(b.port, handshake=False)
    r = c.handshake(request=req)
    assert r.status == 101 and r.header("sec-websocket-protocol") == "mqtt"
    c.connect("split-headers")
    # methods are case-sensitive
    c2 = ws.WsClient(b.port, handshake=False)
    assert c2.handshake(request=req.replace(b"GET ", b"get ", 1)).status == 400


def test_big_file_streamed(broker, tmp_path):
    """A file larger than any buffer arrives whole, read in pieces as the socket takes them."""
    site = tmp_path / "site"
    site.mkdir()
    data = os.urandom(3 << 20)
    (site / "big.bin").write_bytes(data)
    b = ws_broker(broker, "http_dir %s\nuser root\n" % site)
    c = ws.WsClient(b.port, handshake=False)
    r = c.handshake(request=b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 200 and r.body == data
    assert r.header("content-type") == "application/octet-stream"
