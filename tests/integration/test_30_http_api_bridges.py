"""30 The HTTP API's bridges (docs/http-api.md): GET /api/v1/bridges, the bridges summary of /api/v1/stats and the
midge_bridge_* metrics, with one bridge to Debian's mosquitto (test_34's Remote) and one to a closed port: the
first connected with counters that move as messages cross it both ways, the second waiting with what it holds
for the remote counted as queued; an empty list without bridges; 405 for other methods; the ACL's say."""
import os
import re

import pytest

from conftest import free_port, mosquitto_pub, wait_for
from test_30_http_api import curl, error_of, get_json, secure_broker, web_broker
from test_34_bridges import MOSQUITTO, bridge_conf, pub, remote, sub  # noqa: F401 (fixtures)

pytestmark = pytest.mark.midge_only
needs_mosquitto = pytest.mark.skipif(not os.access(MOSQUITTO, os.X_OK), reason="Debian's mosquitto is not installed")

FIELDS = {"name", "state", "address", "queued", "connects", "sent", "received", "dropped"}


def bridges(port, **kw):
    return {x["name"]: x for x in get_json(port, "/api/v1/bridges", **kw)["bridges"]}


@needs_mosquitto
def test_bridges_connected_and_waiting(broker, remote, sub):
    r = remote()
    closed = free_port()
    b = web_broker(broker, bridge_conf("cloud", "127.0.0.1:%d" % r.port, ["up/# out 1", "down/# in 1"]) +
                   bridge_conf("dead", "127.0.0.1:%d" % closed, ["lost/# out 1"]))
    wait_for(lambda: bridges(b.port)["cloud"]["state"] == "connected", 15, what="cloud connected in the API")
    got = get_json(b.port, "/api/v1/bridges")
    assert [x["name"] for x in got["bridges"]] == ["cloud", "dead"]  # in the config's order
    for x in got["bridges"]:
        assert set(x) == FIELDS, x
    cloud, dead = got["bridges"]
    assert cloud["address"] == "mqtt://127.0.0.1:%d" % r.port
    assert cloud["connects"] == 1 and cloud["dropped"] == 0
    assert dead["state"] in ("waiting", "connecting"), dead
    assert dead["address"] == "mqtt://127.0.0.1:%d" % closed
    assert dead["connects"] == 0 and dead["sent"] == 0 and dead["queued"] == 0
    st = get_json(b.port, "/api/v1/stats")
    assert st["bridges"] == {"total": 2, "connected": 1}

    # Out through cloud: its sent counter moves by what the remote took.
    rsub = sub(r.port, ["up/#"])
    sent0 = cloud["sent"]
    for i in range(3):
        pub(b.mqtt, "up/t", "m%d" % i, qos=1)
    rsub.wait_count(3)
    wait_for(lambda: bridges(b.port)["cloud"]["sent"] >= sent0 + 3, 10, what="cloud's sent counter")
    # In through cloud: received moves.
    pub(r.port, "down/t", "in", qos=1)
    wait_for(lambda: bridges(b.port)["cloud"]["received"] >= 1, 10, what="cloud's received counter")
    # For the closed port: held for the remote and counted as queued, nothing sent.
    for i in range(2):
        pub(b.mqtt, "lost/t", "q%d" % i, qos=1)
    wait_for(lambda: bridges(b.port)["dead"]["queued"] >= 2, 10, what="dead's queued counter")
    d = bridges(b.port)["dead"]
    assert d["state"] in ("waiting", "connecting") and d["sent"] == 0 and d["connects"] == 0, d
    wait_for(lambda: bridges(b.port)["cloud"]["queued"] == 0, 5, what="cloud's queue empty")

    # The same figures in /metrics, one sample per bridge.
    m = curl(b.port, "/metrics").body
    assert 'midge_bridge_connected{bridge="cloud"} 1\n' in m
    assert 'midge_bridge_connected{bridge="dead"} 0\n' in m
    assert re.search(r'^midge_bridge_messages_sent_total\{bridge="cloud"\} ([3-9]|\d\d+)$', m, re.M), m
    assert re.search(r'^midge_bridge_queued\{bridge="dead"\} ([2-9]|\d\d+)$', m, re.M), m
    assert "# TYPE midge_bridge_messages_sent_total counter\n" in m

    # The remote going away: cloud is no longer connected, and says so.
    r.stop()
    wait_for(lambda: bridges(b.port)["cloud"]["state"] in ("waiting", "connecting"), 15, what="cloud down")
    assert get_json(b.port, "/api/v1/stats")["bridges"] == {"total": 2, "connected": 0}


def test_no_bridges_and_methods(broker):
    b = web_broker(broker)
    assert get_json(b.port, "/api/v1/bridges") == {"bridges": []}
    assert get_json(b.port, "/api/v1/stats")["bridges"] == {"total": 0, "connected": 0}
    assert "midge_bridge_" not in curl(b.port, "/metrics").body
    r = curl(b.port, "/api/v1/bridges", method="POST")
    error_of(r, 405)
    assert r.headers["allow"] == "GET"
    error_of(curl(b.port, "/api/v1/bridges/cloud"), 404)
    assert mosquitto_pub(b.mqtt, "x", "y").returncode == 0  # the broker still answers MQTT


def test_bridges_need_read_access_to_sys(broker, tmp_path):
    b = secure_broker(broker, tmp_path)
    error_of(curl(b.port, "/api/v1/bridges"), 401)
    error_of(curl(b.port, "/api/v1/bridges", user="reader:readerpw"), 403)
    assert get_json(b.port, "/api/v1/bridges", user="admin:adminpw") == {"bridges": []}
