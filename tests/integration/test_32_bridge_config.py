"""32 Bridge configuration (issue 11, first step): Mosquitto's `connection` sections as written in its
documentation and in cloud tutorials (AWS IoT with a client certificate, a HiveMQ-style user name and password
with failover, TLS-PSK, a lazy MQTT 5 bridge) pass `midge --test-config`; the broker starts with them and runs
each bridge (trying its closed remote port, tests/integration/test_34_bridges.py has them connect); bad bridge configurations fail with FILE:LINE and a
non-zero exit. Debian's mosquitto accepts the same good file and refuses the same bad ones (at the same line
where it names one), so the syntax is Mosquitto's.

Every remote address is 127.0.0.1 on a closed port: mosquitto really starts its bridges, and no test may
reach beyond this machine (nor resolve a name)."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import free_port, port_listening, run_config_check, run_expect_failure, wait_for

MOSQUITTO = "/usr/sbin/mosquitto"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# The bridges of the good configuration; {certs} and {rN} (closed remote ports) are filled in.
BRIDGES = """user root

# An edge gateway to AWS IoT Core: TLS with the device certificate, topics moved under edge/01/ there.
connection aws-iot
address 127.0.0.1:{r1}
bridge_protocol_version mqttv311
bridge_insecure false
cleansession true
remote_clientid edge-gateway-01
start_type automatic
notifications false
try_private false
keepalive_interval 60
restart_timeout 5 60
bridge_cafile {certs}/ca.crt
bridge_certfile {certs}/client.crt
bridge_keyfile {certs}/client.key
topic sensors/# out 1 "" edge/01/
topic commands/# in 1 "" edge/01/

# A HiveMQ / EMQX style cloud broker: user name and password, two addresses for failover.
connection hivemq
address 127.0.0.1:{r2} 127.0.0.1:{r3}
round_robin false
remote_username edge01
remote_password s3cret
bridge_capath /etc/ssl/certs
bridge_tls_version tlsv1.2
topic # both 0 local/ edge01/
notification_topic edge01/bridge/state
notifications_local_only true

# TLS-PSK to another Mosquitto.
connection psk-link
address 127.0.0.1:{r4}
bridge_identity edge01
bridge_psk 0a1b2c3d4e5f
topic telemetry/+/temp out 2
topic "" in 1 local/alarm remote/alarm

# A lazy MQTT 5 bridge for a classroom broker, with the old option names Mosquitto still reads.
connection classroom
addresses 127.0.0.1:{r5}
clientid classroom-bridge
username class
password pw
local_clientid classroom-local
local_username bridge
local_password bridgepw
bridge_protocol_version mqttv50
local_cleansession false
start_type lazy
threshold 5
idle_timeout 30
bridge_outgoing_retain false
bridge_attempt_unsubscribe false
bridge_max_packet_size 65536
bridge_bind_address 127.0.0.1
topic classroom/# both 2
"""
NAMES = ("aws-iot", "hivemq", "psk-link", "classroom")
STARTED_BY_MOSQUITTO = ("aws-iot", "hivemq", "psk-link")  # classroom is lazy


def openssl(*args, cwd):
    r = subprocess.run([OPENSSL] + list(args), cwd=cwd, capture_output=True, timeout=60)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace"))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA and a client certificate it signed, like those a cloud console hands out."""
    d = str(tmp_path_factory.mktemp("bridge-certs"))
    for name in ("ca", "client"):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name + ".key", cwd=d)
    openssl("req", "-new", "-x509", "-key", "ca.key", "-subj", "/CN=Bridge Test CA", "-days", "30",
            "-out", "ca.crt", cwd=d)
    openssl("req", "-new", "-key", "client.key", "-subj", "/CN=edge-gateway-01", "-out", "client.csr", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "2",
            "-days", "30", "-out", "client.crt", cwd=d)
    return d


def bridges(certs):
    return BRIDGES.format(certs=certs, **{"r%d" % i: free_port() for i in range(1, 6)})


def good_config(certs, port):
    return "listener %d 127.0.0.1\nallow_anonymous true\n\n" % port + bridges(certs)


# ---------------------------------------------------------------- midge

@pytest.mark.midge_only
def test_test_config_accepts_mosquitto_bridges(tmp_path, certs):
    r = run_config_check(tmp_path, good_config(certs, free_port()))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout


@pytest.mark.midge_only
def test_broker_starts_and_runs_every_bridge(broker, raw, tmp_path, certs):
    b = broker(bridges(certs))
    c = raw(b.port)
    c.connect(client_id="local-client")  # the broker serves its clients as usual
    c.close()
    for name in STARTED_BY_MOSQUITTO:
        wait_for(lambda: re.search(r"Bridge %s connecting to " % re.escape(name), b.log()), 10,
                 what="bridge %s trying its remote" % name)
    # A lazy bridge waits for its threshold of messages.
    assert "Bridge classroom connecting" not in b.log()
    log = b.log()
    # The old names draw a deprecation note; nothing is an error.
    assert "option 'clientid' is deprecated, use 'remote_clientid'" in log
    assert "Error" not in log, log[-3000:]
    # A reload keeps running (bridges cannot be reloaded, as in Mosquitto).
    os.kill(b.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert b.running()


@pytest.mark.midge_only
def test_websocket_bridge_addresses(tmp_path):
    """ws:// and wss:// addresses are Midge's addition."""
    text = ("listener %d 127.0.0.1\nconnection ws\naddress ws://127.0.0.1:%d/mqtt\ntopic a/#\n"
            "connection wss\naddress wss://127.0.0.1:%d\nbridge_capath /etc/ssl/certs\ntopic b/# in 1\n"
            % (free_port(), free_port(), free_port()))
    r = run_config_check(tmp_path, text)
    assert r.returncode == 0, r.stdout + r.stderr


def config_with(port, lines):
    return "listener %d 127.0.0.1\nallow_anonymous true\n" % port + "\n".join(lines) + "\n"


# (id, lines after the 2-line listener header, the line midge names, what its message says, whether Debian's
# mosquitto refuses it too, and whether mosquitto names the same line)
MIN = ["connection b", "address 127.0.0.1:1", "topic a/#"]
BAD = [
    ("qos", ["connection b", "address 127.0.0.1:1", "topic a/# out 3"], 5,
     "invalid QoS '3' for 'topic' (expected 0, 1 or 2)", True, True),
    ("direction", ["connection b", "address 127.0.0.1:1", "topic a/# sideways 1"], 5,
     "invalid direction 'sideways' for 'topic'", True, True),
    ("duplicate-name", MIN + ["connection b"], 6, "duplicate connection name 'b' (first at", True, True),
    ("outside-a-section", ["topic a/# out 0"], 3, "option 'topic' is a bridge option", True, True),
    ("cert-and-psk", MIN + ["bridge_cafile /etc/ssl/certs/ca-certificates.crt", "bridge_identity me"], 7,
     "option 'bridge_identity' cannot be used with bridge_cafile", True, True),
    ("empty-pattern", ["connection b", "address 127.0.0.1:1", 'topic "" both 0 local ""'], 5,
     "an empty pattern (\"\") needs both a local and a remote prefix", True, True),
    ("wildcard-prefix", ["connection b", "address 127.0.0.1:1", "topic a in 0 l/+/ r/"], 5,
     "invalid local prefix 'l/+/' for 'topic'", True, True),
    ("protocol", MIN + ["bridge_protocol_version mqttv4"], 6,
     "invalid value 'mqttv4' for 'bridge_protocol_version'", True, True),
    ("backoff", MIN + ["restart_timeout 30 10"], 6, "the backoff cap 10 is lower than the base 30", True, True),
    ("manual-start", MIN + ["start_type manual"], 6, "'start_type manual' is not supported", True, True),
    ("port", ["connection b", "address 127.0.0.1:70000", "topic a"], 4, "invalid address '127.0.0.1:70000'",
     True, True),
    ("keepalive", MIN + ["keepalive_interval 70000"], 6, "invalid value '70000' for 'keepalive_interval'",
     True, True),
    ("no-topic", ["connection b", "address 127.0.0.1:1"], 3, "connection 'b': no topic given", True, False),
    ("psk-without-identity", MIN + ["bridge_psk 1234"], 3, "connection 'b': bridge_psk needs bridge_identity",
     True, False),
    ("same-local-id", MIN + ["local_clientid x", "connection c", "address 127.0.0.1:1", "topic b",
                             "local_clientid x"], 7, "local client id 'x' is also that of connection 'b'",
     True, False),
    ("tls-on-ws", ["connection b", "address ws://127.0.0.1:1/mqtt", "topic a", "bridge_cafile ca.pem"], 6,
     "option 'bridge_cafile' does not apply to a ws:// address", False, False),
    ("ocsp", MIN + ["bridge_require_ocsp true"], 6, "Midge's TLS client does not check OCSP responses yet",
     False, False),
]


@pytest.mark.midge_only
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_bridge_config_names_file_and_line(tmp_path, case):
    _, lines, line, msg, _, _ = case
    r = run_config_check(tmp_path, config_with(free_port(), lines))
    assert r.returncode != 0
    assert "%s:%d: " % (r.conf_path, line) in r.stderr, r.stderr
    assert msg in r.stderr, r.stderr


@pytest.mark.midge_only
def test_bad_bridge_config_stops_the_broker(tmp_path):
    rc, out = run_expect_failure(tmp_path, config_with(free_port(), MIN + ["threshold lots"]))
    assert rc != 0
    assert ":6: invalid value 'lots' for 'threshold'" in out, out


# ---------------------------------------------------------------- Debian's mosquitto, the reference

need_mosquitto = pytest.mark.skipif(not os.access(MOSQUITTO, os.X_OK), reason="Debian's mosquitto is not installed")


@need_mosquitto
def test_mosquitto_accepts_the_same_config(tmp_path, certs):
    port = free_port()
    path = str(tmp_path / "mosquitto.conf")
    with open(path, "w") as f:
        f.write(good_config(certs, port))
    logpath = str(tmp_path / "mosquitto.log")
    with open(logpath, "wb") as logf:
        proc = subprocess.Popen([MOSQUITTO, "-c", path, "-v"], stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

    def log():
        with open(logpath, "rb") as f:
            return f.read().decode(errors="replace")
    try:
        wait_for(lambda: port_listening(port) or proc.poll() is not None, 10, what="mosquitto listening")
        assert proc.poll() is None, "mosquitto refused the config:\n" + log()
        # It read the bridges: each automatic one starts connecting (to a closed local port).
        wait_for(lambda: all("Connecting bridge (step 1) %s " % n in log() for n in STARTED_BY_MOSQUITTO), 10,
                 what="mosquitto starting its bridges")
        assert "Error found at" not in log(), log()
        assert proc.poll() is None, log()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@need_mosquitto
@pytest.mark.parametrize("case", [c for c in BAD if c[4]], ids=[c[0] for c in BAD if c[4]])
def test_mosquitto_refuses_the_same_mistakes(tmp_path, case):
    _, lines, line, _, _, same_line = case
    path = str(tmp_path / "bad.conf")
    with open(path, "w") as f:
        f.write(config_with(free_port(), lines))
    try:
        r = subprocess.run([MOSQUITTO, "-c", path], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("mosquitto kept running on a config midge refuses")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Error" in out, out
    if same_line:
        assert "Error found at %s:%d." % (path, line) in out, out
