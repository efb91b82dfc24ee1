"""34 Bridges at run time (issue 11): midge's `connection` sections connect to Debian's mosquitto as the remote
broker. Messages go out, in and both ways with prefixes at each QoS; TLS with a client certificate; QoS 1 under a
remote outage and across a midge restart with the store on (nothing lost, counted); failover between addresses;
start types; notifications (local and as the remote will); two midges bridged both ways without a loop; MQTT 5
properties carried across. Every remote is a mosquitto on a free loopback port, stopped at teardown."""
import os
import re
import signal
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from conftest import free_port, port_listening, wait_for
from persistutil import store_conf

MOSQUITTO = "/usr/sbin/mosquitto"
pytestmark = [pytest.mark.midge_only,
              pytest.mark.skipif(not os.access(MOSQUITTO, os.X_OK), reason="Debian's mosquitto is not installed")]


class Remote:
    """Debian's mosquitto as the remote broker, on its own port, config and log; optionally persistent (its
    sessions and queues survive a restart, so a subscriber of it loses nothing while it is down)."""

    def __init__(self, d, extra="", persistent=False, port=None):
        self.dir = str(d)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.extra = extra
        self.persistent = persistent
        self.proc = None
        self.log_path = os.path.join(self.dir, "mosquitto.log")

    def start(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        text = "listener %d 127.0.0.1\nallow_anonymous true\nuser root\n" % self.port
        if self.persistent:
            text += "persistence true\npersistence_location %s/\n" % self.dir
        with open(conf, "w") as f:
            f.write(text + self.extra + "\n")
        with open(self.log_path, "ab") as lf:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", conf, "-v"], stdout=lf, stderr=subprocess.STDOUT)
        wait_for(lambda: port_listening(self.port) or self.proc.poll() is not None, 10, what="mosquitto listening")
        assert self.proc.poll() is None, self.log()[-3000:]
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


@pytest.fixture
def remote(tmp_path):
    made = []

    def make(extra="", persistent=False, start=True, port=None):
        r = Remote(tmp_path / ("remote%d" % len(made)), extra, persistent, port)
        made.append(r)
        return r.start() if start else r

    yield make
    for r in made:
        r.stop()


class Sub:
    """A paho subscriber collecting (topic, payload, qos, retain, user properties) in order."""

    def __init__(self, port, topics, qos=1, client_id="", clean=True, v5=False):
        self.port, self.topics, self.qos = port, topics, qos
        self.got = []
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kw = {} if v5 else {"clean_session": clean}
        self.c = mqtt.Client(client_id=client_id, protocol=proto, **kw)
        self.c.reconnect_delay_set(1, 1)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        assert self.subscribed.wait(10), "subscriber on %d: no SUBACK" % port

    def _on_connect(self, c, u, flags, rc, props=None):
        c.subscribe([(t, self.qos) for t in self.topics])

    def _on_message(self, c, u, m):
        up = getattr(m.properties, "UserProperty", None) if getattr(m, "properties", None) else None
        with self.cond:
            self.got.append((m.topic, m.payload.decode(), m.qos, m.retain, up))
            self.cond.notify_all()

    def wait_count(self, n, timeout=15, pred=None):
        def have():
            return len([g for g in self.got if pred is None or pred(g)])
        with self.cond:
            ok = self.cond.wait_for(lambda: have() >= n, timeout)
        assert ok, "subscriber on %d: %d of %d messages after %ss: %s" % (self.port, have(), n, timeout, self.got[-10:])
        return [g for g in self.got if pred is None or pred(g)]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def sub():
    made = []

    def make(*a, **kw):
        s = Sub(*a, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def pub(port, topic, payload, qos=1, retain=False, props=None, v5=False):
    c = mqtt.Client(protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    try:
        info = c.publish(topic, payload, qos, retain, properties=props) if v5 else c.publish(topic, payload, qos, retain)
        if qos:
            info.wait_for_publish(10)
            assert info.is_published(), "publish to %d not acknowledged" % port
    finally:
        c.disconnect()
        c.loop_stop()


def bridge_conf(name, address, topics, extra=""):
    """A `connection` section (with $SYS every second for the counters, set before it in the file)."""
    lines = ["sys_interval 1", "connection %s" % name, "address %s" % address, "restart_timeout 1"]
    lines += ["topic %s" % t for t in topics]
    return "\n".join(lines) + "\n" + extra + "\n"


def wait_connected(b, name, n=1, timeout=15):
    wait_for(lambda: len(re.findall(r"Bridge %s connected to" % re.escape(name), b.log())) >= n, timeout,
             what="bridge %s connected (%d)" % (name, n))


def sys_value(port, topic, timeout=10):
    """One retained $SYS value of the broker on port."""
    got = {}
    ev = threading.Event()
    c = mqtt.Client()

    def on_message(cl, u, m):
        got["v"] = m.payload.decode()
        ev.set()
    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc: cl.subscribe(topic, 0)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    try:
        assert ev.wait(timeout), "no %s on %d" % (topic, port)
    finally:
        c.disconnect()
        c.loop_stop()
    return got["v"]


# ---------------------------------------------------------------- directions, prefixes, QoS

@pytest.mark.parametrize("qos", [0, 1, 2])
def test_out_in_and_both_with_prefixes(broker, remote, sub, qos):
    r = remote()
    b = broker(bridge_conf("cloud", "127.0.0.1:%d" % r.port,
                           ["sensors/# out %d edge/ site1/" % qos, "cmd/# in %d local/ remote/" % qos,
                            "chat/# both %d" % qos]))
    wait_connected(b, "cloud")
    rsub = sub(r.port, ["site1/#", "chat/#", "edge/#", "sensors/#"], qos=2)
    lsub = sub(b.port, ["local/#", "chat/#", "remote/#", "cmd/#"], qos=2)
    time.sleep(0.3)  # the bridge's remote SUBSCRIBE went with its CONNECT; give the remote a moment
    pub(b.port, "edge/sensors/t1", "out-%d" % qos, qos=2)
    pub(r.port, "remote/cmd/reboot", "in-%d" % qos, qos=2)
    pub(b.port, "chat/a", "from-local", qos=2)
    pub(r.port, "chat/b", "from-remote", qos=2)
    got_r = rsub.wait_count(3)
    got_l = lsub.wait_count(3)
    time.sleep(0.5)  # nothing more may come: no echo, no loop
    assert sorted((t, p, q) for t, p, q, _, _ in rsub.got) == sorted(
        [("site1/sensors/t1", "out-%d" % qos, qos), ("chat/a", "from-local", qos), ("chat/b", "from-remote", 2)])
    assert sorted((t, p, q) for t, p, q, _, _ in lsub.got) == sorted(
        [("local/cmd/reboot", "in-%d" % qos, qos), ("chat/a", "from-local", 2), ("chat/b", "from-remote", qos)])
    assert got_r and got_l


def test_retained_messages_and_outgoing_retain(broker, remote, sub):
    r = remote()
    b = broker(bridge_conf("keep", "127.0.0.1:%d" % r.port, ["kept/# out 1"]) +
               bridge_conf("flat", "127.0.0.1:%d" % r.port, ["flat/# out 1"], "bridge_outgoing_retain false"))
    wait_connected(b, "keep")
    wait_connected(b, "flat")
    pub(b.port, "kept/a", "k", qos=1, retain=True)
    pub(b.port, "flat/a", "f", qos=1, retain=True)
    # A subscriber arriving afterwards sees the remote's retained copy of the first only.
    rsub = sub(r.port, ["kept/#", "flat/#"])
    got = rsub.wait_count(1)
    time.sleep(0.5)
    assert [(t, p, ret) for t, p, _, ret, _ in rsub.got] == [("kept/a", "k", True)]
    assert got


def test_mqtt5_bridge_carries_properties(broker, remote, sub):
    r = remote()
    b = broker(bridge_conf("v5", "127.0.0.1:%d" % r.port, ["p/# both 1"], "bridge_protocol_version mqttv50"))
    wait_connected(b, "v5")
    rsub = sub(r.port, ["p/out"], v5=True)
    lsub = sub(b.port, ["p/in"], v5=True)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("origin", "edge")
    pub(b.port, "p/out", "x", qos=1, props=props, v5=True)
    props2 = Properties(PacketTypes.PUBLISH)
    props2.UserProperty = ("origin", "cloud")
    pub(r.port, "p/in", "y", qos=1, props=props2, v5=True)
    assert rsub.wait_count(1)[0][4] == [("origin", "edge")]
    assert lsub.wait_count(1)[0][4] == [("origin", "cloud")]
    assert "(p5," in r.log() or "p5" in r.log()


def test_mqttv31_credentials_and_limits(broker, remote, sub, tmp_path):
    """An MQTT 3.1 bridge with a user name and password (mosquitto's password file), a notification topic of its
    own kept local, bridge_max_packet_size dropping (and counting) what is too large."""
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "edge01", "s3cret"], check=True, capture_output=True)
    os.chmod(pw, 0o644)
    r = remote("allow_anonymous false\npassword_file %s\n" % pw)
    extra = ("bridge_protocol_version mqttv31\nremote_username edge01\nremote_password s3cret\n"
             "notification_topic bridges/old/up\nnotifications_local_only true\nbridge_max_packet_size 200\n")
    b = broker(bridge_conf("old", "127.0.0.1:%d" % r.port, ["m/# out 1"], extra))
    wait_connected(b, "old")
    assert re.search(r"New bridge connected from \S+ as \S+\.old \(p1, c0", r.log()), r.log()[-2000:]
    assert "u'edge01'" in r.log()
    assert sys_value(b.port, "bridges/old/up") == "1"
    c = mqtt.Client()
    c.username_pw_set("edge01", "s3cret")
    got = []
    c.on_message = lambda cl, u, m: got.append(m.topic)
    c.connect("127.0.0.1", r.port, 30)
    c.subscribe("#", 0)
    c.loop_start()
    time.sleep(0.5)
    pub(b.port, "m/big", "x" * 500)
    pub(b.port, "m/small", "y")
    wait_for(lambda: "m/small" in got, 10, what="the small message")
    c.loop_stop()
    c.disconnect()
    assert "m/big" not in got and "bridges/old/up" not in got  # too large; a local-only notification
    assert "larger than bridge_max_packet_size" in b.log()
    wait_for(lambda: sys_value(b.port, "$SYS/broker/bridges/old/messages/dropped") == "1", 10, what="1 dropped")


def test_tls_psk_to_the_remote(broker, remote, sub, tmp_path):
    psk = tmp_path / "psk.txt"
    psk.write_text("edge-psk:deadbeefcafe0123\n")
    os.chmod(psk, 0o644)
    r = remote("psk_hint cloud\npsk_file %s\n" % psk)
    b = broker(bridge_conf("psk", "127.0.0.1:%d" % r.port, ["k/# out 1"],
                           "bridge_identity edge-psk\nbridge_psk deadbeefcafe0123\n"))
    wait_connected(b, "psk")
    assert "connecting to mqtts://127.0.0.1:%d" % r.port in b.log()
    rsub = subprocess.Popen(["mosquitto_sub", "-p", str(r.port), "-h", "127.0.0.1", "--psk-identity", "edge-psk",
                             "--psk", "deadbeefcafe0123", "-t", "k/#", "-C", "1", "-W", "15", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    pub(b.port, "k/1", "psk")
    out, err = rsub.communicate(timeout=20)
    assert out.decode().strip() == "k/1 psk", err


# ---------------------------------------------------------------- TLS

def test_tls_to_the_remote_with_a_client_certificate(broker, remote, sub, tmp_path):
    from test_16_tls import Certs
    d = tmp_path / "pki"
    d.mkdir()
    c = Certs(str(d)).make()
    r = remote("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n" %
               (c.p("ca.crt"), c.p("server.crt"), c.p("server.key")))
    tls = "bridge_cafile %s\nbridge_certfile %s\nbridge_keyfile %s\n" % (c.p("ca.crt"), c.p("client.crt"), c.p("client.key"))
    b = broker(bridge_conf("secure", "127.0.0.1:%d" % r.port, ["t/# out 1"], tls) +
               bridge_conf("nocert", "127.0.0.1:%d" % r.port, ["u/# out 1"], "bridge_cafile %s\n" % c.p("ca.crt")))
    wait_connected(b, "secure")
    assert "Bridge secure connecting to mqtts://127.0.0.1:%d" % r.port in b.log()
    wait_for(lambda: re.search(r"Bridge nocert connection failed", b.log()), 15, what="nocert refused")
    assert "Bridge nocert connected" not in b.log()
    # mosquitto_sub over TLS with its own client certificate sees what the bridge sent.
    rsub = subprocess.Popen(["mosquitto_sub", "-p", str(r.port), "-h", "127.0.0.1", "--cafile", c.p("ca.crt"),
                             "--cert", c.p("client.crt"), "--key", c.p("client.key"), "-t", "t/#", "-C", "1",
                             "-W", "15", "-v", "-q", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    pub(b.port, "t/secret", "over-tls", qos=1)
    out, err = rsub.communicate(timeout=20)
    assert out.decode().strip() == "t/secret over-tls", err


# ---------------------------------------------------------------- losing nothing

def test_remote_outage_under_qos1_load(broker, remote, sub, tmp_path):
    """The remote stops for a while as messages keep coming: none is lost, the bridge counts them all."""
    r = remote(persistent=True)
    rsub = sub(r.port, ["site/#"], qos=1, client_id="cloud-app", clean=False)
    b = broker(bridge_conf("up", "127.0.0.1:%d" % r.port, ["# out 1 load/ site/"]))
    wait_connected(b, "up")
    n = 300
    c = mqtt.Client(client_id="load-gen")
    c.connect("127.0.0.1", b.port, 30)
    c.loop_start()
    infos = []
    for i in range(n):
        infos.append(c.publish("load/m", str(i), 1))
        if i == 100:
            r.stop()
        if i == 200:
            time.sleep(1.5)  # the bridge tries and fails meanwhile
            r.start()
        time.sleep(0.01)
    for info in infos:
        info.wait_for_publish(10)
    c.loop_stop()
    c.disconnect()
    wait_for(lambda: {int(p) for _, p, _, _, _ in list(rsub.got)} == set(range(n)), 30,
             what="all %d at the remote (have %d)" % (n, len({g[1] for g in rsub.got})))
    wait_connected(b, "up", 2)
    assert re.search(r"Bridge up disconnected", b.log())
    wait_for(lambda: sys_value(b.port, "$SYS/broker/bridges/up/messages/sent") == str(n), 10,
             what="$SYS sent count %d" % n)
    assert sys_value(b.port, "$SYS/broker/bridges/up/messages/dropped") == "0"


def test_midge_restart_keeps_queued_bridge_messages(broker, remote, sub, tmp_path):
    """With the store on, messages waiting for a remote that is down survive a midge restart and arrive in
    order once it is back."""
    r = remote(persistent=True)
    # The remote application's session exists before: it is offline while the remote is down.
    first = Sub(r.port, ["site/#"], qos=1, client_id="cloud-app", clean=False)
    first.close()
    r.stop()
    b = broker(store_conf(str(tmp_path / "store")) + bridge_conf("q", "127.0.0.1:%d" % r.port, ["# out 1 q/ site/"]))
    n = 50
    c = mqtt.Client(client_id="edge-app")
    c.connect("127.0.0.1", b.port, 30)
    c.loop_start()
    for i in range(n):
        c.publish("q/m", str(i), 1).wait_for_publish(10)  # acknowledged: committed
    c.loop_stop()
    c.disconnect()
    wait_for(lambda: sys_value(b.port, "$SYS/broker/bridges/q/queued") == str(n), 10,
             what="%d queued (last: %s)" % (n, sys_value(b.port, "$SYS/broker/bridges/q/queued")))
    b.stop()
    b.start()
    r.start()
    wait_connected(b, "q")
    rsub = sub(r.port, ["site/#"], qos=1, client_id="cloud-app", clean=False)
    got = rsub.wait_count(n, timeout=30)
    ids = [int(p) for _, p, _, _, _ in got]
    firsts = sorted(set(ids), key=ids.index)
    assert firsts == list(range(n)), ids


def test_local_side_kicked_under_load(broker, remote, sub):
    """The bridge's own local connection is closed (the HTTP API's kick) while messages flow both ways at QoS 1
    and 2: the bridge starts again and every message still arrives."""
    from test_30_http_api import curl
    r = remote()
    mq = free_port()
    b = broker("protocol websockets\nlistener %d 127.0.0.1\n" % mq +
               bridge_conf("k", "127.0.0.1:%d" % r.port, ["# out 1 load/ site/", "# in 2 back/ rback/"],
                           "local_clientid edge-local"))
    wait_connected(b, "k")
    rsub = sub(r.port, ["site/#"], qos=1)
    lsub = sub(mq, ["back/#"], qos=2)
    time.sleep(0.3)
    n = 200

    def load(port, topic, qos):
        c = mqtt.Client()
        c.connect("127.0.0.1", port, 30)
        c.loop_start()
        infos = []
        for i in range(n):
            infos.append(c.publish(topic, str(i), qos))
            time.sleep(0.005)
        for info in infos:
            info.wait_for_publish(20)
        c.loop_stop()
        c.disconnect()
    ts = [threading.Thread(target=load, args=(mq, "load/m", 1)), threading.Thread(target=load, args=(r.port, "rback/m", 2))]
    for t in ts:
        t.start()
    for _ in range(2):  # twice: a QoS 2 exchange cut the first time must not swallow a later message
        time.sleep(0.4)
        wait_for(lambda: curl(b.port, "/api/v1/clients/edge-local", method="DELETE").status == 200, 10,
                 what="the bridge's local side to kick")
    for t in ts:
        t.join(60)
    for s, side in ((rsub, "remote"), (lsub, "local")):  # at least once: a message may come twice, none may be missing
        wait_for(lambda: {int(p) for _, p, _, _, _ in list(s.got)} == set(range(n)), 30,
                 what="all %d at the %s side (missing %s)" % (n, side, sorted(set(range(n)) - {int(g[1]) for g in s.got})))
    assert "Bridge k: its local connection was closed" in b.log()
    wait_connected(b, "k", 2)


# ---------------------------------------------------------------- addresses and start types

@pytest.mark.parametrize("round_robin", [False, True])
def test_failover_to_the_second_address(broker, remote, sub, round_robin):
    r2 = remote()
    dead = free_port()
    b = broker(bridge_conf("fo", "127.0.0.1:%d 127.0.0.1:%d" % (dead, r2.port), ["f/# out 1"],
                           "round_robin %s" % ("true" if round_robin else "false")))
    wait_connected(b, "fo")
    assert "connecting to mqtt://127.0.0.1:%d" % dead in b.log()
    rsub = sub(r2.port, ["f/#"])
    pub(b.port, "f/x", "via-second")
    assert rsub.wait_count(1)[0][:2] == ("f/x", "via-second")
    r1 = remote(port=dead)
    if round_robin:
        # The second goes away: the bridge moves on to the first.
        r2.stop()
    # Otherwise the first (main) address is back while the second still works: the bridge checks it now and
    # then and goes back to it, as Mosquitto's do.
    wait_connected(b, "fo", 2, timeout=20)
    if not round_robin:
        assert "its first address 127.0.0.1:%d answers again" % dead in b.log()
    s1 = sub(r1.port, ["f/#"])
    pub(b.port, "f/y", "via-first")
    assert s1.wait_count(1)[0][:2] == ("f/y", "via-first")


def test_lazy_start_and_idle_timeout(broker, remote, sub):
    r = remote()
    b = broker(bridge_conf("lazy", "127.0.0.1:%d" % r.port, ["l/# out 1"],
                           "start_type lazy\nthreshold 3\nidle_timeout 2"))
    time.sleep(1)
    pub(b.port, "l/1", "a")
    pub(b.port, "l/2", "b")
    time.sleep(1)
    assert "Bridge lazy connecting" not in b.log()
    rsub = sub(r.port, ["l/#"])
    pub(b.port, "l/3", "c")
    got = rsub.wait_count(3)
    assert [p for _, p, _, _, _ in got] == ["a", "b", "c"]
    wait_for(lambda: "Bridge lazy idle" in b.log(), 10, what="idle after idle_timeout")


def test_start_type_once_tries_once(broker):
    dead = free_port()
    b = broker(bridge_conf("one", "127.0.0.1:%d" % dead, ["o/# out 1"], "start_type once"))
    wait_for(lambda: "Bridge one (start_type once) ended" in b.log(), 10, what="the one attempt")
    time.sleep(2.5)
    assert b.log().count("Bridge one connecting") == 1


@pytest.mark.parametrize("remote_kind", ["midge", "mosquitto"])
def test_bridge_over_websockets(broker, remote, sub, remote_kind):
    """Midge's addition: `address ws://host:port/path`."""
    ws_port = free_port()
    ws_listener = "listener %d 127.0.0.1\nprotocol websockets\n" % ws_port
    # Either keeps a plain listener too (mosquitto opens none when a WebSocket one is its only one).
    far = broker(ws_listener) if remote_kind == "midge" else remote(ws_listener)
    sub_port = far.port
    b = broker(bridge_conf("web", "ws://127.0.0.1:%d/mqtt" % ws_port, ["w/# both 1"]))
    wait_connected(b, "web")
    assert "Bridge web connecting to ws://127.0.0.1:%d/mqtt" % ws_port in b.log()
    rsub = sub(sub_port, ["w/out"])
    lsub = sub(b.port, ["w/in"])
    time.sleep(0.3)
    pub(b.port, "w/out", "over-ws")
    pub(sub_port, "w/in", "back")
    assert rsub.wait_count(1)[0][:2] == ("w/out", "over-ws")
    assert lsub.wait_count(1)[0][:2] == ("w/in", "back")


# ---------------------------------------------------------------- notifications

def test_notifications_locally_and_as_the_remote_will(broker, remote, sub):
    r = remote()
    b = broker(bridge_conf("n", "127.0.0.1:%d" % r.port, ["n/# out 0"], "remote_clientid edge7"))
    wait_connected(b, "n")
    topic = "$SYS/broker/connection/edge7/state"
    wait_for(lambda: sys_value(b.port, topic) == "1", 10, what="local state 1")
    wait_for(lambda: sys_value(r.port, topic) == "1", 10, what="remote state 1")
    # The remote goes: locally 0.
    r.stop()
    wait_for(lambda: sys_value(b.port, topic) == "0", 10, what="local state 0")
    r.start()
    wait_connected(b, "n", 2)
    wait_for(lambda: sys_value(r.port, topic) == "1", 10, what="remote state 1 again")
    # midge dies: the remote publishes the bridge's will.
    b.kill()
    wait_for(lambda: sys_value(r.port, topic) == "0", 10, what="remote state 0 from the will")


# ---------------------------------------------------------------- two midges

def test_two_midges_bridged_both_ways_without_a_loop(broker, sub):
    cloud = broker()
    edge = broker(bridge_conf("to-cloud", "127.0.0.1:%d" % cloud.port, ["room/# both 1"]))
    wait_connected(edge, "to-cloud")
    se = sub(edge.port, ["room/#"])
    sc = sub(cloud.port, ["room/#"])
    time.sleep(0.3)
    pub(edge.port, "room/edge", "e")
    pub(cloud.port, "room/cloud", "c")
    se.wait_count(2)
    sc.wait_count(2)
    time.sleep(1.5)  # a loop would keep them coming
    assert sorted(p for _, p, _, _, _ in se.got) == ["c", "e"]
    assert sorted(p for _, p, _, _, _ in sc.got) == ["c", "e"]
