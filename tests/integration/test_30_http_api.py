"""30 The HTTP API and /metrics on the web listener (docs/http-api.md), driven with curl: the JSON of stats,
listeners, clients, subscriptions and retained messages against what MQTT clients did; kicking a client;
Prometheus text; authentication (anonymous, Basic with the password file, the API key), the ACL's say, and
bad requests (400, 401, 403, 404, 405, 409, 413, 431, 501)."""
import base64
import json
import re
import subprocess
import time

import pytest

import mqttraw as m
from conftest import SANITIZE, free_port, mosquitto_pub, wait_for
from test_17_auth import custom_broker, make_pwfile
from v5util import connect5, expect_disconnect

pytestmark = pytest.mark.midge_only


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def curl(port, path, method="GET", headers=(), data=None, user=None, raw_args=()):
    """One request with curl; returns a Response (headers lower-cased)."""
    cmd = ["curl", "-s", "-i", "--max-time", "10", "-X", method]
    for h in headers:
        cmd += ["-H", h]
    if user is not None:
        cmd += ["-u", user]
    if data is not None:
        cmd += ["--data-binary", data]
    cmd += list(raw_args) + ["http://127.0.0.1:%d%s" % (port, path)]
    r = subprocess.run(cmd, capture_output=True, timeout=20)
    assert r.returncode == 0, (cmd, r.returncode, r.stderr)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    assert int(headers["content-length"]) == len(body)
    return Response(status, headers, body.decode("utf-8"))


def web_broker(broker, extra=""):
    """A broker whose fixture listener speaks WebSockets (the API's), with a plain MQTT listener on b.mqtt."""
    mqtt = free_port()
    b = broker("protocol websockets\nlistener %d 127.0.0.1\n%s" % (mqtt, extra))
    b.mqtt = mqtt
    return b


def get_json(port, path, **kw):
    r = curl(port, path, **kw)
    assert r.status == 200, (path, r.status, r.body)
    assert r.headers["content-type"] == "application/json"
    return r.json()


def error_of(r, status):
    assert r.status == status, (r.status, r.body)
    assert r.headers["content-type"] == "application/json"
    e = r.json()["error"]
    assert e["status"] == status and e["message"]
    return e["message"]


# ------------------------------------------------------------------ what the API shows

def test_stats_follow_the_traffic(broker, raw):
    b = web_broker(broker)
    s0 = get_json(b.port, "/api/v1/stats")
    assert s0["version"] and s0["uptime"] >= 0 and s0["time"] > 1700000000
    assert s0["clients"]["connected"] == 0 and s0["store"] is None
    sub = raw(b.mqtt)
    sub.connect("watcher")
    sub.subscribe("t/#", qos=0)
    for i in range(5):
        assert mosquitto_pub(b.mqtt, "t/%d" % i, "x" * 10).returncode == 0
    assert len(sub.drain()) == 5
    mosquitto_pub(b.mqtt, "keep/me", "v", args=["-r"])
    s1 = get_json(b.port, "/api/v1/stats")
    assert s1["clients"]["connected"] == 1 and s1["clients"]["maximum"] >= 2
    assert s1["publish"]["received"] - s0["publish"]["received"] == 6
    assert s1["publish"]["sent"] - s0["publish"]["sent"] == 5
    assert s1["bytes"]["received"] > s0["bytes"]["received"]
    assert s1["subscriptions"] == 1 and s1["retained"] >= 1
    # malloc's own count (mallinfo2); under AddressSanitizer its allocator reports 0
    assert s1["heap"]["maximum"] >= s1["heap"]["current"] >= (0 if SANITIZE else 1)


def test_listeners(broker, raw):
    b = web_broker(broker)
    c = raw(b.mqtt)
    c.connect("one")
    got = get_json(b.port, "/api/v1/listeners")
    by_port = {x["port"]: x for x in got["listeners"]}
    assert by_port[b.port]["protocol"] == "websockets"
    assert by_port[b.mqtt]["protocol"] == "mqtt" and by_port[b.mqtt]["connections"] == 1
    assert not by_port[b.mqtt]["encrypted"] and by_port[b.mqtt]["address"] == "127.0.0.1"
    assert got["guard"]["active"] is False


def test_clients_connected_and_offline(broker, raw):
    b = web_broker(broker)
    keep = raw(b.mqtt)
    keep.connect("keeper", clean=False, keepalive=33)
    keep.subscribe("a/#", qos=1)
    odd = raw(b.mqtt)
    odd.connect("sp ace/slash")
    v5 = connect5(raw, b.mqtt, "five", props=[(m.SESSION_EXPIRY_INTERVAL, 120)])
    clients = {c["id"]: c for c in get_json(b.port, "/api/v1/clients")["clients"]}
    assert set(clients) == {"keeper", "sp ace/slash", "five"}
    k = clients["keeper"]
    assert k["connected"] and k["protocol"] == "mqttv311" and k["listener"] == b.mqtt
    assert k["keepalive"] == 33 and k["clean"] is False and k["subscriptions"] == 1
    assert re.fullmatch(r"127\.0\.0\.1:\d+", k["address"])
    assert clients["five"]["protocol"] == "mqttv5" and clients["five"]["expiry_interval"] == 120
    one = get_json(b.port, "/api/v1/clients/sp%20ace%2Fslash")
    assert one["id"] == "sp ace/slash" and one["subscriptions_list"] == []
    keep.disconnect()
    wait_for(lambda: not get_json(b.port, "/api/v1/clients/keeper")["connected"], 5)
    k = get_json(b.port, "/api/v1/clients/keeper")
    assert k["address"] is None and k["subscriptions_list"] == [{"filter": "a/#", "qos": 1, "share": None}]
    error_of(curl(b.port, "/api/v1/clients/nobody"), 404)
    error_of(curl(b.port, "/api/v1/clients/a/b"), 404)
    assert get_json(b.port, "/api/v1/clients?limit=1")["truncated"] is True
    error_of(curl(b.port, "/api/v1/clients?limit=zero"), 400)


def test_subscriptions_with_shared_groups(broker, raw):
    b = web_broker(broker)
    c = connect5(raw, b.mqtt, "s5")
    c.subscribe([("$share/grp/jobs/#", 1), ("plain/+", 0)])
    subs = get_json(b.port, "/api/v1/subscriptions")["subscriptions"]
    assert sorted((s["client"], s["filter"], s["qos"], s["share"]) for s in subs) == [
        ("s5", "jobs/#", 1, "grp"), ("s5", "plain/+", 0, None)]


def test_retained(broker):
    b = web_broker(broker)
    mosquitto_pub(b.mqtt, "r/text", "hello \"world\"", args=["-r", "-q", "1"])
    mosquitto_pub(b.mqtt, "r/bin", args=["-r", "-s"], stdin=b"\x00\xff\x01")
    mosquitto_pub(b.mqtt, "other/x", "o", args=["-r"])
    got = get_json(b.port, "/api/v1/retained?filter=r/%2B")
    items = {x["topic"]: x for x in got["retained"]}
    assert set(items) == {"r/text", "r/bin"} and got["truncated"] is False
    assert items["r/text"]["payload"] == "hello \"world\"" and items["r/text"]["encoding"] == "utf8"
    assert items["r/text"]["qos"] == 1
    assert base64.b64decode(items["r/bin"]["payload"]) == b"\x00\xff\x01"
    assert items["r/bin"]["encoding"] == "base64"
    # '+' may also be sent as is; the default filter is '#', without '$' topics
    assert {x["topic"] for x in get_json(b.port, "/api/v1/retained?filter=r/+")["retained"]} == set(items)
    everything = get_json(b.port, "/api/v1/retained")["retained"]
    assert {x["topic"] for x in everything} == {"r/text", "r/bin", "other/x"}
    one = get_json(b.port, "/api/v1/retained?limit=1")
    assert len(one["retained"]) == 1 and one["truncated"] is True
    error_of(curl(b.port, "/api/v1/retained?filter=a/%23/b"), 400)
    error_of(curl(b.port, "/api/v1/retained?limit=100000"), 400)


def test_metrics(broker, raw):
    b = web_broker(broker, "persistence true\npersistence_location %s/\n" % "store")
    c = raw(b.mqtt)
    c.connect("m1", clean=False)  # a stored session: the store commits
    mosquitto_pub(b.mqtt, "m/x", "1", args=["-q", "1"])
    wait_for(lambda: get_json(b.port, "/api/v1/stats")["store"]["commits"] >= 1, 5)
    r = curl(b.port, "/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples, types = {}, {}
    for line in r.body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples["midge_clients_connected"] == 1
    assert samples["midge_publish_received_total"] >= 1
    assert samples['midge_listener_connections{port="%d",protocol="mqtt"}' % b.mqtt] == 1
    # the scrape's own connection
    assert samples['midge_listener_connections{port="%d",protocol="websockets"}' % b.port] == 1
    assert samples["midge_store_commits_total"] >= 1
    for name, kind in types.items():
        assert kind == ("counter" if name.endswith("_total") else "gauge"), name
        assert name.startswith("midge_")
    for name in samples:
        assert name.split("{")[0] in types, name


def test_kick(broker, raw, mosq_sub):
    b = web_broker(broker)
    watch = mosq_sub(b.mqtt, "will/#", 1)
    c = connect5(raw, b.mqtt, "victim", will=("will/victim", b"gone", 0, False))
    r = curl(b.port, "/api/v1/clients/victim", method="DELETE")
    assert r.status == 200 and r.json() == {"disconnected": "victim"}
    expect_disconnect(c, 0x98)  # Administrative action
    rc, msgs = watch.wait()
    assert rc == 0 and [(t, p) for t, _, _, _, p in msgs] == [("will/victim", b"gone")]
    assert "Client victim disconnected through the HTTP API (anonymous)." in b.log()
    # a persistent session stays, offline: nothing to disconnect
    p = raw(b.mqtt)
    p.connect("sticky", clean=False)
    p.disconnect()
    wait_for(lambda: not get_json(b.port, "/api/v1/clients/sticky")["connected"], 5)
    error_of(curl(b.port, "/api/v1/clients/sticky", method="DELETE"), 409)
    error_of(curl(b.port, "/api/v1/clients/nobody", method="DELETE"), 404)


# ------------------------------------------------------------------ bad requests

def test_bad_requests(broker):
    b = web_broker(broker, "websockets_headers_size 1024\n")
    error_of(curl(b.port, "/api/v1/nothing"), 404)
    r = curl(b.port, "/api/v1/stats", method="POST", data="x")
    error_of(r, 405)
    assert r.headers["allow"] == "GET"
    r = curl(b.port, "/api/v1/clients/x", method="PUT")
    assert r.status == 405 and r.headers["allow"] == "GET, DELETE"
    r = curl(b.port, "/api/v1/stats", method="POST", data="x" * 70000)
    assert r.status == 413
    r = curl(b.port, "/api/v1/stats", method="POST", headers=["Transfer-Encoding: chunked"], data="x")
    assert r.status == 501
    r = curl(b.port, "/api/v1/stats", headers=["X-Big: " + "y" * 2000])
    assert r.status == 431
    r = curl(b.port, "/api/v1/stats", headers=["Content-Length: 1x"])
    assert r.status == 400
    # a body that is taken is waited for, then the request answered
    r = curl(b.port, "/api/v1/stats", method="GET", data="abc")
    assert r.status == 200
    # the dashboard's files (no http_dir here) still answer for other paths, and the broker serves MQTT all along
    assert curl(b.port, "/index.html").status == 200
    assert curl(b.port, "/no-such-file.html").status == 404
    assert mosquitto_pub(b.mqtt, "still/up", "1").returncode == 0


def test_http_dir_files_beside_the_api(broker, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<h1>hi</h1>")
    b = web_broker(broker)
    b.conf_text = "protocol websockets\nhttp_dir %s\nuser root\nlistener %d 127.0.0.1\n" % (www, b.mqtt)
    b.restart()
    r = curl(b.port, "/")
    assert r.status == 200 and r.body == "<h1>hi</h1>"
    assert get_json(b.port, "/api/v1/stats")["clients"]["connected"] == 0


# ------------------------------------------------------------------ who may ask

ACL = """user admin
topic read $SYS/#
topic write $CONTROL/#
topic readwrite #

user reader
topic read pub/#
"""


def secure_broker(broker, tmp_path, key=None):
    """Passwords and an ACL: p0 the web listener, p1 plain MQTT (b.mqtt)."""
    pw = make_pwfile(tmp_path / "pw", [("admin", "adminpw"), ("reader", "readerpw")])
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    text = ("listener {p0} 127.0.0.1\nprotocol websockets\nlistener {p1} 127.0.0.1\n"
            "allow_anonymous false\npassword_file %s\nacl_file %s\n" % (pw, acl))
    if key:
        text += "http_api_key %s\n" % key
    b, ports = custom_broker(broker, text, 2)
    b.mqtt = ports[1]
    return b


def test_basic_auth_and_acl(broker, tmp_path):
    b = secure_broker(broker, tmp_path)
    mosquitto_pub(b.mqtt, "pub/a", "A", args=["-r", "-u", "admin", "-P", "adminpw"])
    mosquitto_pub(b.mqtt, "secret/b", "B", args=["-r", "-u", "admin", "-P", "adminpw"])
    r = curl(b.port, "/api/v1/stats")
    error_of(r, 401)
    assert r.headers["www-authenticate"] == 'Basic realm="midge"'
    # a page's script asks for no browser dialog
    r = curl(b.port, "/api/v1/stats", headers=["X-Requested-With: XMLHttpRequest"])
    assert r.status == 401 and "www-authenticate" not in r.headers
    error_of(curl(b.port, "/api/v1/stats", user="admin:wrong"), 401)
    error_of(curl(b.port, "/api/v1/stats", headers=["Authorization: Basic !!!!"]), 401)
    error_of(curl(b.port, "/api/v1/stats", headers=["Authorization: Digest x"]), 401)
    # the failure above makes this address wait a moment (test_password_guessing_backs_off)
    wait_for(lambda: curl(b.port, "/api/v1/stats", user="admin:adminpw").status == 200, 5)
    assert get_json(b.port, "/api/v1/stats", user="admin:adminpw")["retained"] >= 2
    assert re.search(r"HTTP API request from 127\.0\.0\.1:\d+ refused on port %d: wrong username or password\."
                     % b.port, b.log())
    # reader may not see the broker's state, only what its ACL reads
    error_of(curl(b.port, "/api/v1/stats", user="reader:readerpw"), 403)
    error_of(curl(b.port, "/metrics", user="reader:readerpw"), 403)
    error_of(curl(b.port, "/api/v1/clients/x", method="DELETE", user="reader:readerpw"), 403)
    got = get_json(b.port, "/api/v1/retained", user="reader:readerpw")["retained"]
    assert [x["topic"] for x in got] == ["pub/a"]
    both = get_json(b.port, "/api/v1/retained", user="admin:adminpw")["retained"]
    assert sorted(x["topic"] for x in both) == ["pub/a", "secret/b"]
    # the API key is not configured: Bearer is refused
    error_of(curl(b.port, "/api/v1/stats", headers=["Authorization: Bearer anything"]), 401)


def test_password_guessing_backs_off(broker, tmp_path):
    """Failed Basic checks count against the address as CONNECT's do: a guesser soon gets 429 and waits."""
    b = secure_broker(broker, tmp_path)
    statuses = []
    for _ in range(12):
        r = curl(b.port, "/api/v1/stats", user="admin:guess")
        statuses.append(r.status)
        if r.status == 429:
            break
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 5
    assert "too many failed logins" in error_of(r, 429)
    assert "HTTP API request from 127.0.0.1:" in b.log()
    # the right password, asked too early, waits too; after the back-off it is let in
    time.sleep(wait)
    wait_for(lambda: curl(b.port, "/api/v1/stats", user="admin:adminpw").status == 200, 10)


def test_api_key(broker, tmp_path):
    b = secure_broker(broker, tmp_path, key="s3cret-key")
    assert get_json(b.port, "/api/v1/stats", headers=["Authorization: Bearer s3cret-key"])["version"]
    error_of(curl(b.port, "/api/v1/stats", headers=["Authorization: Bearer s3cret-kex"]), 401)
    error_of(curl(b.port, "/api/v1/stats", headers=["Authorization: Bearer s3cret-key-longer"]), 401)
    r = curl(b.port, "/api/v1/clients/none", method="DELETE", headers=["Authorization: Bearer s3cret-key"])
    error_of(r, 404)


def test_key_required_even_when_anonymous_is_allowed(broker):
    b = web_broker(broker, "http_api_key k\n")
    error_of(curl(b.port, "/api/v1/stats"), 401)
    assert curl(b.port, "/api/v1/stats", headers=["Authorization: Bearer k"]).status == 200
