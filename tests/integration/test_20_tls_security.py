"""20 TLS and security together: the client certificate (or PSK identity) as username with ACLs, the
encryption guard with a real TLS listener (encrypted_only), the start-up and reload warning for an
unguarded configuration, and the `make run` layout (examples/midge.conf with scripts/make-certs)."""
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request

import pytest

import snraw
import wsraw as ws
from netutil import free_udp_port, udp_bound
from conftest import free_port, mosquitto_pub, run_config_check, wait_for
from test_16_tls import certs, client_tls, log_has, mtls_conf, psk_conf, tls_conf  # noqa: F401

pytestmark = pytest.mark.midge_only

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def started(broker, make_text, nports=3):
    """A broker from make_text(ports) with nports free ports; retried when a port was taken meanwhile."""
    for attempt in range(3):
        b = broker(listener=False, start=False)
        ports = [b.port] + [free_port() for _ in range(nports - 1)]
        b.conf_text = "user root\n" + make_text(ports)
        try:
            b.start()
            for p in ports[1:]:
                if ("listener %d" % p) in b.conf_text:
                    wait_for(lambda: ("port %d" % p) in b.log(), 5, what="listener %d" % p)
            return b, ports
        except AssertionError:
            if attempt == 2 or "in use" not in b.log():
                raise
            b.stop(check=False)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    os.chmod(tmp_path, 0o755)
    os.chmod(p, 0o644)
    return str(p)


# ------------------------------------------------------- certificate identity as username

def test_identity_as_username_with_acl(broker, mosq_sub, certs, tmp_path):
    acl = write(tmp_path, "acl", "user midge-client\ntopic readwrite dev/#\n")
    b = broker(mtls_conf(certs, "use_identity_as_username true\nacl_file %s\n" % acl))
    cert = client_tls(certs, "client")
    s = mosq_sub(b.port, "dev/#", 1, qos=1, args=cert)
    # The CONNECT's own username is replaced by the certificate's common name; no password is asked.
    r = mosquitto_pub(b.port, "dev/a", "ok", qos=1, args=cert + ["-u", "mallory", "-P", "x"])
    assert r.returncode == 0, r.stderr
    assert s.wait()[1] == [("dev/a", 1, 0, 2, b"ok")]
    log_has(b, "u'midge-client')")
    assert "u'mallory'" not in b.log()
    # Outside its rules: MQTT 5 hears 0x87 in PUBACK.
    r = mosquitto_pub(b.port, "other/a", "no", qos=1, args=cert + ["-V", "5", "-d"])
    assert b"Not authorized" in r.stdout + r.stderr or b"RC:135" in r.stdout + r.stderr, r.stdout + r.stderr


def test_identity_as_username_skips_password_file(broker, certs, tmp_path):
    pw = write(tmp_path, "pw", "")  # nobody in it, and anonymous clients are refused
    b = broker(mtls_conf(certs, "use_identity_as_username true\npassword_file %s\nallow_anonymous false\n" % pw))
    r = mosquitto_pub(b.port, "t", "x", args=client_tls(certs, "client"))
    assert r.returncode == 0, r.stderr
    log_has(b, "u'midge-client')")


def test_subject_as_username(broker, mosq_sub, certs, tmp_path):
    subject = "CN=midge-client,O=Midge Test,C=FR"
    acl = write(tmp_path, "acl", "user %s\ntopic readwrite subj/#\n" % subject)
    b = broker(mtls_conf(certs, "use_subject_as_username true\nacl_file %s\n" % acl))
    cert = client_tls(certs, "client")
    s = mosq_sub(b.port, "subj/#", 1, args=cert)
    assert mosquitto_pub(b.port, "subj/x", "s", args=cert).returncode == 0
    assert s.wait()[1] == [("subj/x", 0, 0, 1, b"s")]
    log_has(b, "u'%s')" % subject)


def test_identity_needed_when_asked_for(broker, certs):
    # use_identity_as_username without require_certificate: a client without a certificate has no
    # identity and is refused (not authorised), as Mosquitto does.
    b = broker(tls_conf(certs, "cafile %s\nuse_identity_as_username true\n" % certs.p("ca.crt")))
    r = mosquitto_pub(b.port, "t", "x", args=client_tls(certs))
    assert r.returncode != 0
    assert b"not authorised" in r.stderr.lower(), r.stderr
    log_has(b, "refused: no client certificate identity for use_identity_as_username")


def test_psk_identity_as_username(broker, mosq_sub, certs, tmp_path):
    acl = write(tmp_path, "acl", "user alice\ntopic readwrite psk/#\n")
    b = broker(psk_conf(certs, "use_identity_as_username true\nacl_file %s\n" % acl))
    psk = ["--psk", "deadbeef0102", "--psk-identity", "alice"]
    s = mosq_sub(b.port, "psk/#", 1, args=psk)
    assert mosquitto_pub(b.port, "psk/a", "p", args=psk).returncode == 0
    assert s.wait()[1] == [("psk/a", 0, 0, 1, b"p")]
    log_has(b, "u'alice')")


# ------------------------------------------------------- the guard with TLS

def guard_text(certs, extra=""):
    def make(ports):
        tls, exposed, loop = ports
        return ("allow_anonymous true\nlistener %d 127.0.0.1\n%sencrypted_only true\n"
                "listener %d\nlistener %d 127.0.0.1\nsys_interval 1\n%s\n"
                % (tls, tls_conf(certs), exposed, loop, extra))
    return make


def test_encrypted_only_listener_guards_what_it_receives(broker, mosq_sub, certs):
    b, (tls, exposed, loop) = started(broker, guard_text(certs))
    plain_remote = mosq_sub(exposed, "g/#", 1, wait=3)
    plain_local = mosq_sub(loop, "g/#", 2)
    over_tls = mosq_sub(tls, "g/#", 2, args=client_tls(certs))
    # Published over TLS: guarded. Published on the loopback listener: not.
    assert mosquitto_pub(tls, "g/secret", "s", args=client_tls(certs)).returncode == 0
    assert mosquitto_pub(loop, "g/open", "o").returncode == 0
    assert [m[0] for m in over_tls.wait()[1]] == ["g/secret", "g/open"]
    assert [m[0] for m in plain_local.wait()[1]] == ["g/secret", "g/open"]
    rc, msgs = plain_remote.wait()
    assert [m[0] for m in msgs] == ["g/open"]
    log_has(b, "Encryption guard: messages published encrypted are withheld from client")
    # Counted in $SYS (the retained value first, then the next one, a second later at most).
    s = mosq_sub(loop, "$SYS/broker/publish/messages/withheld", 2)
    assert int(s.wait()[1][-1][4]) >= 1


def test_no_warning_when_guarded_or_local(broker, certs):
    b, _ = started(broker, guard_text(certs))
    assert "encryption guard off" not in b.log()
    b.stop()
    # TLS and a loopback-only plain listener: nothing crosses the network in plain text.
    b, _ = started(broker, lambda p: "listener %d 127.0.0.1\n%slistener %d localhost\n" % (p[0], tls_conf(certs), p[1]))
    assert "encryption guard off" not in b.log()


def test_unguarded_configuration_warns_at_start_and_reload(broker, certs, tmp_path):
    text = lambda p: ("allow_anonymous true\nlistener %d 127.0.0.1\n%slistener %d\n" % (p[0], tls_conf(certs), p[1]))
    b, (tls, exposed, _) = started(broker, text)
    line = [l for l in b.log().splitlines() if "encryption guard off" in l]
    assert len(line) == 1, b.log()
    assert "port %d" % tls in line[0] and "port %d" % exposed in line[0]
    assert "Warning:" in line[0]
    # A guard added at reload silences it; removed again, it comes back.
    with open(b.conf_path, "a") as f:
        f.write("encrypted_topic secret/#\n")
    b.proc.send_signal(signal.SIGHUP)
    log_has(b, "Security settings reloaded.")
    assert b.log().count("encryption guard off") == 1
    text_now = open(b.conf_path).read().replace("encrypted_topic secret/#\n", "")
    with open(b.conf_path, "w") as f:
        f.write(text_now)
    b.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: b.log().count("encryption guard off") == 2, 5, what="a second warning")


def test_encrypted_only_needs_tls(tmp_path):
    r = run_config_check(tmp_path, "listener 1883\nencrypted_only true\n")
    assert r.returncode != 0
    assert "encrypted_only is for TLS listeners" in (r.stdout + r.stderr)


# ------------------------------------------------------- the make run layout

def test_make_run_layout(tmp_path, broker, mosq_sub):
    """examples/midge.conf with certificates from scripts/make-certs: 1883 plain on localhost, 8883 TLS,
    8884 TLS with client certificates (their CN as username), as README shows."""
    certdir = tmp_path / "certs"
    out = subprocess.run([os.path.join(ROOT, "scripts", "make-certs"), str(certdir)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "made" in out.stdout
    made = {n: (certdir / n).read_bytes() for n in os.listdir(certdir)}
    again = subprocess.run([os.path.join(ROOT, "scripts", "make-certs"), str(certdir)], capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and again.stdout == ""  # nothing to make the second time
    assert {n: (certdir / n).read_bytes() for n in os.listdir(certdir)} == made
    os.chmod(tmp_path, 0o755)
    for n in os.listdir(certdir):
        os.chmod(certdir / n, 0o644)
    os.chmod(certdir, 0o755)
    example = open(os.path.join(ROOT, "examples", "midge.conf")).read()
    sn_port = free_udp_port()

    def make(p):
        t = example.replace("examples/certs", str(certdir))
        t = t.replace("examples/mqttsn-topics.txt", os.path.join(ROOT, "examples", "mqttsn-topics.txt"))
        t = t.replace("listener 1884 localhost", "listener %d localhost" % sn_port)
        t = t.replace("persistence_location examples/data/", "persistence_location %s/data/" % tmp_path)
        assert "persistence_location %s/data/" % tmp_path in t
        t = t.replace("listener 1883 localhost", "listener %d localhost" % p[0])
        t = t.replace("listener 8883", "listener %d" % p[1]).replace("listener 8884", "listener %d" % p[2])
        t = t.replace("listener 8080 localhost", "listener %d localhost" % p[3])
        t = t.replace("listener 8081", "listener %d" % p[4])
        assert not any(("listener %d" % fixed) in t for fixed in (1883, 8883, 8884, 8080, 8081, 1884)), t
        return t

    b, (plain, tls, mtls, ws_plain, wss) = started(broker, make, nports=5)
    assert "encryption guard off" not in b.log()
    assert (tmp_path / "data" / "midge.db").exists()  # the store is on in the make run layout
    ca = ["--cafile", str(certdir / "ca.crt")]
    s = mosq_sub(tls, "demo/#", 3, args=ca + ["-h", "localhost"])
    assert mosquitto_pub(tls, "demo/tls", "hello", args=ca + ["-h", "localhost"]).returncode == 0
    cert = ca + ["--cert", str(certdir / "client.crt"), "--key", str(certdir / "client.key")]
    assert mosquitto_pub(mtls, "demo/cert", "hello", args=cert + ["-h", "localhost"]).returncode == 0
    assert mosquitto_pub(plain, "demo/plain", "hello", args=["-h", "localhost"]).returncode == 0
    assert [m[0] for m in s.wait()[1]] == ["demo/tls", "demo/cert", "demo/plain"]
    # The MQTT-SN gateway on UDP, with the predefined topics of examples/mqttsn-topics.txt.
    s = mosq_sub(tls, "sensors/#", 1, args=ca + ["-h", "localhost"])
    for _ in range(250):
        if udp_bound(sn_port):
            break
        time.sleep(0.02)
    c = snraw.SNClient(sn_port)
    try:
        c.send(snraw.publish(1, b"21.5", qos=-1, topic_type=snraw.PREDEFINED))
        assert [(m[0], m[4]) for m in s.wait()[1]] == [("sensors/temp", b"21.5")]
        assert c.connect("make-run-sn") == snraw.ACCEPTED
    finally:
        c.close()
    log_has(b, "u'midge-client')")
    # Without a client certificate, 8884 refuses.
    assert mosquitto_pub(mtls, "demo/x", "no", args=ca + ["-h", "localhost"]).returncode != 0
    # 8080 and 8081 speak MQTT over WebSockets (ws on localhost, wss with the same certificates).
    w = ws.WsClient(ws_plain)
    w.connect("ws-demo")
    ctx = ssl.create_default_context(cafile=str(certdir / "ca.crt"))
    w2 = ws.WsClient(wss, tls_context=ctx)
    w2.connect("wss-demo")
    w2.subscribe("demo/#")
    w.publish("demo/ws", b"from the browser side")
    assert w2.recv_publish().payload == b"from the browser side"
    # 8080 also serves the dashboard at / and the HTTP API, as README says (http://localhost:8080/).
    page = urllib.request.urlopen("http://127.0.0.1:%d/" % ws_plain, timeout=10)
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert b"<title>Midge</title>" in page.read()
    stats = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/v1/stats" % ws_plain, timeout=10))
    assert stats["clients"]["connected"] >= 2 and stats["store"] is not None


@pytest.mark.parametrize("lines,message", [
    ("password_file /nonexistent/pw\n", "/nonexistent/pw: No such file or directory"),
    ("acl_file /nonexistent/acl\n", "/nonexistent/acl: No such file or directory"),
    ("listener 8883\ncertfile /nonexistent/s.crt\nkeyfile /nonexistent/s.key\n",
     "listener on port 8883: cannot read certfile '/nonexistent/s.crt'"),
])
def test_test_config_reads_the_files(tmp_path, lines, message):
    # --test-config reads what start-up would read, so a broken file is found before a restart.
    r = run_config_check(tmp_path, "listener 1883\n" + lines)
    assert r.returncode == 3
    assert message in r.stderr, r.stderr
