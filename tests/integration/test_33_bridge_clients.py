"""33 Bridges connecting to midge: a CONNECT whose 3.x protocol level carries 0x80 (Mosquitto's try_private,
on by default in its bridges) is a bridge. Its subscriptions get back neither its own messages (a loop between
two brokers) nor lose retain flags (Retain As Published). Checked with raw clients, and with Debian's
mosquitto bridging to midge both ways on one topic: each message arrives once on each side."""
import os
import subprocess
import time

import pytest

import mqttraw as m
from conftest import free_port, port_listening, wait_for

MOSQUITTO = "/usr/sbin/mosquitto"
pytestmark = pytest.mark.midge_only


def bridge_client(raw, port, cid, version=0x84):
    c = raw(port)
    c.connect(cid, proto=version, proto_name="MQIsdp" if version == 0x83 else "MQTT")
    return c


@pytest.mark.parametrize("version", [0x84, 0x83])
def test_bridge_gets_no_echo_and_retain_as_published(broker, raw, version):
    b = broker()
    br = bridge_client(raw, b.port, "br", version)
    br.subscribe("s/#", qos=1)
    plain = raw(b.port)
    plain.connect("plain")
    plain.subscribe("s/#", qos=1)
    # what the bridge publishes reaches the others, not the bridge itself
    br.publish("s/from-bridge", b"x", qos=1, mid=5)
    got = plain.recv_publish(3)
    assert (got.topic, got.payload) == ("s/from-bridge", b"x")
    # a retained message published now: the bridge sees its retain flag, a plain client does not [MQTT-3.3.1-9]
    pub = raw(b.port)
    pub.connect("pub")
    pub.publish("s/kept", b"k", qos=1, retain=True, mid=6)
    to_bridge = br.recv_publish(3)
    assert (to_bridge.topic, to_bridge.retain) == ("s/kept", True)
    to_plain = plain.recv_publish(3)
    assert (to_plain.topic, to_plain.retain) == ("s/kept", False)
    assert br.drain(0.5) == []  # nothing else, above all not its own s/from-bridge


def test_bridge_level_is_not_for_mqtt5(broker, raw):
    b = broker()
    c = raw(b.port)
    c.send(m.connect("x", proto=0x85, proto_name="MQTT"))
    ack = c.expect(m.CONNACK)
    assert ack.rc == 0x01  # unacceptable protocol version, as for any unknown level


def test_shared_subscription_of_a_bridge_is_not_no_local(broker, raw):
    b = broker()
    br = bridge_client(raw, b.port, "br2")
    br.subscribe("$share/g/q/#", qos=1)
    br.publish("q/1", b"own", qos=1, mid=3)
    got = br.recv_publish(3)
    assert (got.topic, got.payload) == ("q/1", b"own")


@pytest.mark.skipif(not os.access(MOSQUITTO, os.X_OK), reason="Debian's mosquitto is not installed")
def test_mosquitto_bridge_both_ways_without_a_loop(broker, tmp_path, mosq_sub):
    b = broker()
    mport = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\nuser root\n"
                    "connection to-midge\naddress 127.0.0.1:%d\ntopic loop/# both 1\n"
                    "restart_timeout 1\nnotifications false\n" % (mport, b.port))
    log = tmp_path / "mosquitto.log"
    with open(log, "wb") as lf:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf), "-v"], stdout=lf, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: port_listening(mport), 10, what="mosquitto listening")
        # the bridge is in when midge has its subscription
        wait_for(lambda: "to-midge" in b.log() and "loop/#" in b.log(), 10, what="the bridge's SUBSCRIBE")
        assert "refused: unsupported protocol version" not in b.log()  # it came in with try_private at once
        # each waits for a third message that must not come: an echo through the other broker
        on_midge = mosq_sub(b.port, "loop/#", 3, qos=1, wait=4)
        on_mosq = mosq_sub(mport, "loop/#", 3, qos=1, wait=4)
        subprocess.run(["mosquitto_pub", "-p", str(b.port), "-t", "loop/from-midge", "-m", "a", "-q", "1"],
                       check=True, timeout=10)
        subprocess.run(["mosquitto_pub", "-p", str(mport), "-t", "loop/from-mosquitto", "-m", "b", "-q", "1"],
                       check=True, timeout=10)
        for s in (on_midge, on_mosq):
            _, msgs = s.wait(15)  # ends at its -W timeout, with what came
            assert sorted((t, p) for t, _, _, _, p in msgs) == [("loop/from-midge", b"a"),
                                                                 ("loop/from-mosquitto", b"b")]
    finally:
        proc.terminate()
        proc.wait(10)
