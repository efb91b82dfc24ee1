"""22 MQTT over WebSockets with real clients: MQTT.js in Node (tests/js/mqttjs_client.mjs) and Paho
Python (transport="websockets", path /mqtt), over ws and wss (test_16's PKI): QoS 0/1/2 both ways,
MQTT 3.1, 3.1.1 and 5 (user properties and content type carried through), retained messages, a will
published when the Node process is killed, a persistent session receiving what was queued while it
was away, and interop with mosquitto_pub/mosquitto_sub on a plain TCP listener of the same broker.

Skipped as a whole while the broker under test refuses `protocol websockets` (see wsutil.py)."""
import signal

import pytest

from conftest import mosquitto_pub
from test_16_tls import certs  # noqa: F401 (fixture)
from wsutil import mqttjs, websockets_supported, ws_broker  # noqa: F401 (fixtures)

SCHEMES = ["ws", "wss"]


@pytest.fixture(params=SCHEMES)
def wsb(request, broker, certs):
    """A broker with a ws or a wss listener (b.ws_url()), and the MQTT.js arguments to trust it."""
    tls = request.param == "wss"
    b = ws_broker(broker, certs=certs if tls else None)
    b.js_args = ["--ca", certs.p("ca.crt")] if tls else []
    return b


def js_sub(mqttjs, b, topic, *args):
    """A running MQTT.js subscriber, returned once its SUBACK arrived."""
    s = mqttjs(b.ws_url(), *(b.js_args + list(args) + ["sub", topic]))
    s.expect("suback")
    return s


def js_pub(mqttjs, b, topic, payload, *args):
    p = mqttjs.run(b.ws_url(), *(b.js_args + list(args) + ["pub", topic, payload]))
    assert p.proc.returncode == 0, (p.events, p.err)
    assert p.events[-1]["event"] == "published", p.events
    return p


def only_message(s):
    assert s.wait() == 0, (s.events, s.err)
    msgs = s.messages()
    assert len(msgs) == 1, msgs
    return msgs[0]


# ---------------------------------------------------------------- MQTT.js <-> MQTT.js


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqttjs_round_trip(wsb, mqttjs, qos, version):
    v = ["--protocol-version", version]
    s = js_sub(mqttjs, wsb, "js/#", "--qos", qos, *v)
    assert s.events[0] == {"event": "connack", "sessionPresent": False, "reasonCode": 0}
    assert s.events[1] == {"event": "suback", "granted": [qos]}
    js_pub(mqttjs, wsb, "js/rt", "hello %d" % qos, "--qos", qos, *v)
    m = only_message(s)
    assert (m["topic"], m["payload"], m["qos"], m["retain"]) == ("js/rt", "hello %d" % qos, qos, False)


def test_mqtt31_over_websockets(wsb, mqttjs):
    """MQTT 3.1 (protocol name MQIsdp; MQTT.js asks for the subprotocol mqttv3.1)."""
    s = js_sub(mqttjs, wsb, "v31/t", "--qos", 1, "--protocol-version", 3)
    js_pub(mqttjs, wsb, "v31/t", "old", "--qos", 1, "--protocol-version", 3)
    assert only_message(s)["payload"] == "old"


def test_v5_properties_round_trip(wsb, mqttjs):
    s = js_sub(mqttjs, wsb, "props/#", "--qos", 1, "--protocol-version", 5)
    js_pub(mqttjs, wsb, "props/t", "{}", "--qos", 1, "--protocol-version", 5,
           "--user-property", "room=kitchen", "--user-property", "unit=°C",
           "--content-type", "application/json")
    props = only_message(s)["properties"]
    assert props["userProperties"] == {"room": "kitchen", "unit": "°C"}
    assert props["contentType"] == "application/json"


def test_large_payload(wsb, mqttjs, tmp_path):
    """A payload over 64 KiB: WebSocket frames with a 64-bit length, or MQTT split over frames."""
    payload = "0123456789" * 20000
    (tmp_path / "big.txt").write_text(payload)
    s = js_sub(mqttjs, wsb, "big", "--qos", 1)
    p = mqttjs.run(wsb.ws_url(), *(wsb.js_args + ["--qos", 1, "--file", tmp_path / "big.txt",
                   "pub", "big"]))
    assert p.proc.returncode == 0, p.err
    m = only_message(s)
    assert m["length"] == 200000 and m["payload"] == payload


# ---------------------------------------------------------------- with mosquitto_pub/sub over TCP


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_tcp_to_websocket(wsb, mqttjs, qos):
    s = js_sub(mqttjs, wsb, "tcp2ws/#", "--qos", qos)
    r = mosquitto_pub(wsb.port, "tcp2ws/t", "from tcp", qos=qos)
    assert r.returncode == 0, r.stderr
    m = only_message(s)
    assert (m["topic"], m["payload"], m["qos"]) == ("tcp2ws/t", "from tcp", qos)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_websocket_to_tcp(wsb, mqttjs, mosq_sub, qos):
    s = mosq_sub(wsb.port, "ws2tcp/#", 1, qos=qos)
    js_pub(mqttjs, wsb, "ws2tcp/t", "from ws", "--qos", qos)
    assert s.wait() == (0, [("ws2tcp/t", qos, 0, 7, b"from ws")])


def test_v5_user_property_to_mosquitto_sub(wsb, mqttjs, mosq_sub):
    s = mosq_sub(wsb.port, "ws2tcp5", 1, qos=1, args=["-V", "5", "-F", "MSG|%t|%q|%r|%l|%P"])
    js_pub(mqttjs, wsb, "ws2tcp5", "p", "--qos", 1, "--protocol-version", 5,
           "--user-property", "k=v")
    assert s.wait() == (0, [("ws2tcp5", 1, 0, 1, b"k:v")])


# ---------------------------------------------------------------- retained, will, session


def test_retained(wsb, mqttjs, mosq_sub):
    js_pub(mqttjs, wsb, "ret/t", "kept", "--qos", 1, "--retain")
    s = js_sub(mqttjs, wsb, "ret/#", "--qos", 1)
    m = only_message(s)
    assert (m["payload"], m["retain"]) == ("kept", True)
    assert mosq_sub(wsb.port, "ret/#", 1).wait() == (0, [("ret/t", 0, 1, 4, b"kept")])
    # An empty retained message clears it, whichever side sends it.
    r = mosquitto_pub(wsb.port, "ret/t", "", qos=1, args=["-r"])
    assert r.returncode == 0
    s = mqttjs(wsb.ws_url(), *(wsb.js_args + ["--timeout", 1, "sub", "ret/#"]))
    assert s.wait() == 3 and s.messages() == [], s.events  # nothing came before the timeout


@pytest.mark.parametrize("version", [4, 5])
def test_will_when_node_is_killed(wsb, mqttjs, mosq_sub, version):
    s = mosq_sub(wsb.port, "will/#", 1, qos=1)
    c = mqttjs(wsb.ws_url(), *(wsb.js_args + ["--protocol-version", version, "--id", "willer",
               "--keepalive", 30, "--will-topic", "will/willer", "--will-payload", "gone",
               "--will-qos", 1, "idle"]))
    c.expect("connack")
    c.proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the TCP connection just ends
    assert s.wait() == (0, [("will/willer", 1, 0, 4, b"gone")])


def test_no_will_after_normal_disconnect(wsb, mqttjs, mosq_sub):
    s = mosq_sub(wsb.port, "will2/#", 1, wait=2)
    c = mqttjs.run(wsb.ws_url(), *(wsb.js_args + ["--will-topic", "will2/x", "--will-payload",
                   "gone", "pub", "other", "x"]))
    assert c.proc.returncode == 0
    rc, msgs = s.wait()
    assert msgs == []


@pytest.mark.parametrize("version", [4, 5])
def test_persistent_session_gets_queued_messages(wsb, mqttjs, version):
    session = ["--protocol-version", version, "--id", "sess-%d" % version, "--no-clean"]
    if version == 5:
        session += ["--session-expiry", 300]
    first = mqttjs.run(wsb.ws_url(), *(wsb.js_args + session + ["--qos", 1, "--count", 0,
                       "sub", "queued/#"]))
    assert first.proc.returncode == 0, first.err
    for i in range(3):
        assert mosquitto_pub(wsb.port, "queued/%d" % i, "m%d" % i, qos=1).returncode == 0
    # Back without subscribing again: the session's subscription and its queue are still there.
    again = mqttjs.run(wsb.ws_url(), *(wsb.js_args + session + ["--count", 3, "sub"]))
    assert again.proc.returncode == 0, (again.events, again.err)
    connack = [e for e in again.events if e["event"] == "connack"]
    assert connack == [{"event": "connack", "sessionPresent": True, "reasonCode": 0}]
    assert [(m["topic"], m["payload"], m["qos"]) for m in again.messages()] == \
        [("queued/0", "m0", 1), ("queued/1", "m1", 1), ("queued/2", "m2", 1)]


# ---------------------------------------------------------------- failures


def test_wss_with_untrusted_server_certificate_fails(broker, certs, mqttjs):
    b = ws_broker(broker, certs=certs)
    c = mqttjs.run(b.ws_url(), "pub", "t", "x")  # no --ca: the test CA is not trusted
    assert c.proc.returncode == 2 and b"certificate" in c.err, (c.events, c.err)
    c = mqttjs.run(b.ws_url(), "--insecure", "pub", "t", "x")
    assert c.proc.returncode == 0, c.err


@pytest.mark.midge_only  # websockets_origin is Midge's own option
def test_origin_allow_list(broker, mqttjs):
    b = ws_broker(broker, extra="websockets_origin http://good.example\n")
    ok = mqttjs.run(b.ws_url(), "--origin", "http://good.example", "pub", "t", "x")
    assert ok.proc.returncode == 0, ok.err
    bad = mqttjs.run(b.ws_url(), "--origin", "http://evil.example", "pub", "t", "x")
    assert bad.proc.returncode == 2 and not bad.events, (bad.events, bad.err)


# ---------------------------------------------------------------- Paho Python


def paho_ws(factory, b, certs, **kw):
    c = factory(b.ws_port, connect=False, transport="websockets", **kw)
    c.c.ws_set_options(path="/mqtt")
    if b.ws_url().startswith("wss:"):
        c.c.tls_set(ca_certs=certs.p("ca.crt"))
    sp, rc = c.connect()
    assert rc == 0
    return c


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_websockets(wsb, certs, paho, mqttjs, qos):
    c = paho_ws(paho, wsb, certs)
    assert c.subscribe("paho/#", qos) == [qos]
    # paho -> paho, MQTT.js -> paho, and mosquitto_pub (TCP) -> paho
    c.publish("paho/self", b"loop", qos=qos)
    js_pub(mqttjs, wsb, "paho/js", "from js", "--qos", qos)
    assert mosquitto_pub(wsb.port, "paho/tcp", "from tcp", qos=qos).returncode == 0
    got = sorted((m.topic, m.payload, m.qos) for m in c.get_n(3))
    assert got == [("paho/js", b"from js", qos), ("paho/self", b"loop", qos),
                   ("paho/tcp", b"from tcp", qos)]


def test_paho5_websockets(wsb, certs, paho5, mqttjs):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    c = paho_ws(paho5, wsb, certs)
    assert c.subscribe("paho5/#", 1) == [1]
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("from", "paho")
    props.ContentType = "text/plain"
    c.publish("paho5/t", b"five", qos=1, properties=props)
    m = c.get()
    assert (m.topic, m.payload, m.qos) == ("paho5/t", b"five", 1)
    assert m.properties.UserProperty == [("from", "paho")]
    assert m.properties.ContentType == "text/plain"
    # and paho (ws) -> MQTT.js (ws) with the properties
    s = js_sub(mqttjs, wsb, "paho5/#", "--qos", 1, "--protocol-version", 5)
    c.publish("paho5/js", b"to js", qos=1, properties=props)
    m = only_message(s)
    assert m["properties"] == {"userProperties": {"from": "paho"}, "contentType": "text/plain"}
