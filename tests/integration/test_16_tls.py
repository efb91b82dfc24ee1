"""16 TLS listeners: mosquitto_pub/sub, Paho and openssl s_client against certfile/keyfile,
require_certificate, crlfile, tls_version, ciphers, ALPN and PSK listeners; refusals logged with
their reason; a truncated handshake closed by connect_timeout without stalling others; SIGHUP
swapping certificates under connected clients; large payloads and many messages over TLS.

Certificates are made once per test session (per xdist worker) with the openssl CLI: a CA, a
server certificate for localhost/127.0.0.1, client certificates (good, expired, revoked with a CRL)
and a second, unrelated CA with a client certificate of its own."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import mqttraw as m
from conftest import (IS_MOSQUITTO, MOSQUITTO_PUB, mosquitto_pub, run_config_check, wait_for)

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
CLIENT_SUBJECT = "/C=FR/O=Midge Test/CN=midge-client"

CA_CNF = """[ ca ]
default_ca = ca_default
[ ca_default ]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/newcerts
certificate = {d}/ca.crt
private_key = {d}/ca.key
serial = {d}/serial
crlnumber = {d}/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
unique_subject = no
[ policy_any ]
countryName = optional
organizationName = optional
commonName = supplied
[ client_ext ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
"""


def openssl(*args, cwd=None, input=None):
    r = subprocess.run([OPENSSL] + list(args), cwd=cwd, capture_output=True, timeout=60, input=input)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace"))
    return r.stdout


class Certs:
    """Paths of the test PKI; made by make()."""

    def __init__(self, d):
        self.dir = d

    def p(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.p(name + ".key"))

    def ca(self, name, cn):
        self.key(name)
        openssl("req", "-new", "-x509", "-key", self.p(name + ".key"), "-subj", "/CN=" + cn, "-days", "30",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-out", self.p(name + ".crt"))

    def signed(self, name, subject, ca, ext, serial):
        """name.crt/.key signed by ca with x509 -req (extensions in ext)."""
        self.key(name)
        openssl("req", "-new", "-key", self.p(name + ".key"), "-subj", subject, "-out", self.p(name + ".csr"))
        with open(self.p(name + ".ext"), "w") as f:
            f.write(ext)
        openssl("x509", "-req", "-in", self.p(name + ".csr"), "-CA", self.p(ca + ".crt"), "-CAkey", self.p(ca + ".key"),
                "-set_serial", str(serial), "-days", "30", "-sha256", "-extfile", self.p(name + ".ext"),
                "-out", self.p(name + ".crt"))

    def by_ca(self, name, subject, *dates):
        """name.crt/.key issued by `openssl ca` (which records it, for revocation and odd dates)."""
        self.key(name)
        openssl("req", "-new", "-key", self.p(name + ".key"), "-subj", subject, "-out", self.p(name + ".csr"))
        openssl("ca", "-batch", "-config", self.p("ca.cnf"), "-extensions", "client_ext", "-notext",
                "-in", self.p(name + ".csr"), "-out", self.p(name + ".crt"), *dates)

    def make(self):
        server_ext = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
        self.ca("ca", "Midge Test CA")
        self.signed("server", "/O=First/CN=localhost", "ca", server_ext, 1001)
        self.signed("server2", "/O=Reloaded/CN=localhost", "ca", server_ext, 1002)
        os.makedirs(self.p("newcerts"))
        open(self.p("index.txt"), "w").close()
        with open(self.p("serial"), "w") as f:
            f.write("2000\n")
        with open(self.p("crlnumber"), "w") as f:
            f.write("01\n")
        with open(self.p("ca.cnf"), "w") as f:
            f.write(CA_CNF.format(d=self.dir))
        self.by_ca("client", CLIENT_SUBJECT, "-days", "30")
        self.by_ca("expired", "/CN=midge-expired", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z")
        self.by_ca("revoked", "/CN=midge-revoked", "-days", "30")
        openssl("ca", "-config", self.p("ca.cnf"), "-revoke", self.p("revoked.crt"))
        openssl("ca", "-config", self.p("ca.cnf"), "-gencrl", "-out", self.p("crl.pem"))
        self.ca("other_ca", "Unrelated CA")
        self.signed("stranger", "/CN=midge-stranger", "other_ca",
                    "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n", 3001)
        with open(self.p("psk.txt"), "w") as f:
            f.write("# identity:key\nalice:deadbeef0102\nbob:0badc0de\n")
        return self


@pytest.fixture(scope="session")
def certs():
    # World-readable, outside pytest's private temp dir: a broker started as root may read its
    # files after dropping privileges (Mosquitto does so before loading them).
    d = tempfile.mkdtemp(prefix="midge-pki-")
    os.chmod(d, 0o755)
    c = Certs(d).make()
    for name in os.listdir(d):
        if os.path.isfile(os.path.join(d, name)):
            os.chmod(os.path.join(d, name), 0o644)
    yield c
    shutil.rmtree(d, ignore_errors=True)


def tls_conf(c, extra="", server="server"):
    """Config lines making the fixture's listener a TLS one (they follow its `listener` line)."""
    return "certfile %s\nkeyfile %s\n%s\n" % (c.p(server + ".crt"), c.p(server + ".key"), extra)


def mtls_conf(c, extra=""):
    return tls_conf(c, "cafile %s\nrequire_certificate true\n%s" % (c.p("ca.crt"), extra))


def client_tls(c, cert=None):
    """mosquitto_pub/sub arguments for TLS to the fixture's listener, with an optional client cert."""
    args = ["--cafile", c.p("ca.crt")]
    if cert:
        args += ["--cert", c.p(cert + ".crt"), "--key", c.p(cert + ".key")]
    return args


def tls_paho(paho, port, c, cert=None, context=None, protocol=4, **kw):
    """A connected Paho client over TLS (hostname 127.0.0.1, checked against the SAN)."""
    p = paho(port, connect=False, protocol=protocol, **kw)
    if context is not None:
        p.c.tls_set_context(context)
    else:
        p.c.tls_set(ca_certs=c.p("ca.crt"), certfile=c.p(cert + ".crt") if cert else None,
                    keyfile=c.p(cert + ".key") if cert else None)
    sp, rc = p.connect()
    assert rc == 0
    return p


def s_client(port, *args, data=b"", timeout=10):
    """openssl s_client to 127.0.0.1:port; returns its output (stdout and stderr) as text."""
    cmd = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost"] + list(args)
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    return (r.stdout + r.stderr).decode(errors="replace")


def log_has(b, text, timeout=5):
    wait_for(lambda: text in b.log(), timeout, what="%r in the broker log" % text)


def refused_with(b, reason):
    """The broker logged a refused connection with this reason."""
    log_has(b, "closed before CONNECT completed (TLS handshake failed: %s)" % reason)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_clients_round_trip(broker, mosq_sub, certs, qos):
    b = broker(tls_conf(certs))
    s = mosq_sub(b.port, "tls/t", 1, qos=qos, args=client_tls(certs))
    r = mosquitto_pub(b.port, "tls/t", "hello over tls", qos=qos, args=client_tls(certs))
    assert r.returncode == 0, r.stderr
    rc, msgs = s.wait()
    assert rc == 0
    assert msgs == [("tls/t", qos, 0, 14, b"hello over tls")]


def test_mosquitto_clients_mqtt5(broker, mosq_sub, certs):
    b = broker(tls_conf(certs))
    s = mosq_sub(b.port, "tls/v5", 1, qos=1, args=client_tls(certs) + ["-V", "5"])
    r = mosquitto_pub(b.port, "tls/v5", "five", qos=1, args=client_tls(certs) + ["-V", "5"])
    assert r.returncode == 0, r.stderr
    assert s.wait()[1] == [("tls/v5", 1, 0, 4, b"five")]


def test_client_certificate_required_and_accepted(broker, mosq_sub, certs):
    b = broker(mtls_conf(certs))
    s = mosq_sub(b.port, "m/t", 1, qos=1, args=client_tls(certs, "client"))
    r = mosquitto_pub(b.port, "m/t", "mutual", qos=1, args=client_tls(certs, "client"))
    assert r.returncode == 0, r.stderr
    assert s.wait()[1] == [("m/t", 1, 0, 6, b"mutual")]


def test_paho_over_tls(broker, paho, paho5, certs):
    b = broker(mtls_conf(certs))
    sub = tls_paho(paho, b.port, certs, "client")
    assert sub.subscribe("p/#", 2) == [2]
    pub = tls_paho(paho, b.port, certs, "client")
    for q in (0, 1, 2):
        pub.publish("p/%d" % q, b"q%d" % q, qos=q)
    got = sorted((x.topic, x.payload) for x in sub.get_n(3))
    assert got == [("p/0", b"q0"), ("p/1", b"q1"), ("p/2", b"q2")]


# ---------------------------------------------------------------- refusals


@pytest.mark.midge_only  # the log lines are Midge's
def test_no_client_certificate_refused(broker, certs):
    b = broker(mtls_conf(certs))
    r = mosquitto_pub(b.port, "x", "x", args=client_tls(certs))
    assert r.returncode != 0
    refused_with(b, "peer did not return a certificate")


@pytest.mark.midge_only
def test_certificate_of_another_ca_refused(broker, certs):
    b = broker(mtls_conf(certs))
    r = mosquitto_pub(b.port, "x", "x", args=client_tls(certs, "stranger"))
    assert r.returncode != 0
    refused_with(b, "unable to get local issuer certificate")


@pytest.mark.midge_only
def test_expired_certificate_refused(broker, certs):
    b = broker(mtls_conf(certs))
    r = mosquitto_pub(b.port, "x", "x", args=client_tls(certs, "expired"))
    assert r.returncode != 0
    refused_with(b, "certificate has expired")


@pytest.mark.midge_only
def test_revoked_certificate_refused_by_crl(broker, certs):
    b = broker(mtls_conf(certs, "crlfile %s\n" % certs.p("crl.pem")))
    r = mosquitto_pub(b.port, "x", "x", args=client_tls(certs, "revoked"))
    assert r.returncode != 0
    refused_with(b, "certificate revoked")
    # the CRL does not refuse the others
    r = mosquitto_pub(b.port, "x", "x", args=client_tls(certs, "client"))
    assert r.returncode == 0, r.stderr


@pytest.mark.midge_only
def test_plain_mqtt_on_tls_port(broker, raw, certs):
    b = broker(tls_conf(certs))
    c = raw(b.port)
    c.send(m.connect("plain"))
    c.expect_closed(5)
    refused_with(b, "wrong version number")


@pytest.mark.midge_only
def test_tls_on_plain_port(broker, certs):
    b = broker("")
    r = mosquitto_pub(b.port, "x", "x", args=client_tls(certs))
    assert r.returncode != 0
    log_has(b, "TLS handshake received on plain listener port %d from 127.0.0.1:" % b.port)


@pytest.mark.midge_only  # threads and connect_timeout are Midge's options
def test_truncated_handshake_closed_by_connect_timeout(broker, paho, certs):
    b = broker(tls_conf(certs, "connect_timeout 2\nthreads 1\n"))
    # the first half of a ClientHello, then silence
    hello = s_client_hello_bytes(b.port)
    t0 = time.monotonic()
    stuck = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    stuck.sendall(hello[:len(hello) // 2])
    # the same worker keeps serving another client meanwhile
    p = tls_paho(paho, b.port, certs)
    p.subscribe("alive", 1)
    p.publish("alive", b"yes", qos=1)
    assert p.get().payload == b"yes"
    assert time.monotonic() - t0 < 2, "the other client waited for the stuck handshake"
    stuck.settimeout(10)
    assert stuck.recv(100) == b""  # closed by the broker
    elapsed = time.monotonic() - t0
    stuck.close()
    assert 1.5 <= elapsed < 6, elapsed
    log_has(b, "closed before CONNECT completed (no CONNECT in time)")
    p.publish("alive", b"still", qos=1)
    assert p.get().payload == b"still"


def s_client_hello_bytes(port):
    """A real ClientHello, captured from Python's ssl module (never sent to the broker)."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data[0] == 0x16 and len(data) > 100
    return data


@pytest.mark.midge_only
def test_tls13_minimum_refuses_tls12_client(broker, paho, certs):
    b = broker(tls_conf(certs, "tls_version tlsv1.3\n"))
    out = s_client(b.port, "-tls1_2", "-CAfile", certs.p("ca.crt"))
    assert "Cipher is (NONE)" in out or "alert protocol version" in out, out
    refused_with(b, "unsupported protocol")
    # a TLS 1.2-only Paho is refused too; a TLS 1.3 one is served
    ctx12 = ssl.create_default_context(cafile=certs.p("ca.crt"))
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    p = paho(b.port, connect=False)
    p.c.tls_set_context(ctx12)
    with pytest.raises(ssl.SSLError):
        p.c.connect("127.0.0.1", b.port)
    ctx13 = ssl.create_default_context(cafile=certs.p("ca.crt"))
    ctx13.minimum_version = ssl.TLSVersion.TLSv1_3
    tls_paho(paho, b.port, certs, context=ctx13)


def test_tls12_allowed_by_default(broker, certs):
    b = broker(tls_conf(certs))
    out = s_client(b.port, "-tls1_2", "-CAfile", certs.p("ca.crt"))
    assert "Protocol  : TLSv1.2" in out, out
    assert "Verify return code: 0 (ok)" in out


def test_ciphers(broker, certs):
    b = broker(tls_conf(certs, "ciphers ECDHE-ECDSA-AES256-GCM-SHA384\nciphers_tls1.3 TLS_CHACHA20_POLY1305_SHA256\n"))
    out = s_client(b.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", "-CAfile", certs.p("ca.crt"))
    assert "Cipher is (NONE)" in out, out
    out = s_client(b.port, "-tls1_2", "-CAfile", certs.p("ca.crt"))
    assert "Cipher    : ECDHE-ECDSA-AES256-GCM-SHA384" in out, out
    out = s_client(b.port, "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256", "-CAfile", certs.p("ca.crt"))
    assert "Cipher is (NONE)" in out, out
    out = s_client(b.port, "-tls1_3", "-CAfile", certs.p("ca.crt"))
    assert "Cipher is TLS_CHACHA20_POLY1305_SHA256" in out, out
    r = mosquitto_pub(b.port, "c", "x", args=client_tls(certs) + ["--tls-version", "tlsv1.2", "--ciphers",
                                                                  "ECDHE-ECDSA-AES256-GCM-SHA384"])
    assert r.returncode == 0, r.stderr


@pytest.mark.midge_only  # Mosquitto 2.0 selects no ALPN protocol on its listeners
def test_alpn(broker, certs):
    b = broker(tls_conf(certs))
    out = s_client(b.port, "-alpn", "mqtt", "-CAfile", certs.p("ca.crt"))
    assert "ALPN protocol: mqtt" in out, out
    # another protocol, or none, is not refused: there is simply no ALPN
    out = s_client(b.port, "-alpn", "h2", "-CAfile", certs.p("ca.crt"))
    assert "No ALPN negotiated" in out and "Verify return code: 0 (ok)" in out, out
    r = mosquitto_pub(b.port, "a", "x", args=client_tls(certs) + ["--tls-alpn", "mqtt"])
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- PSK


def psk_conf(c, extra=""):
    return "psk_hint midge\npsk_file %s\n%s" % (c.p("psk.txt"), extra)


def test_psk(broker, mosq_sub, certs):
    b = broker(psk_conf(certs))
    psk = ["--psk", "deadbeef0102", "--psk-identity", "alice"]
    s = mosq_sub(b.port, "psk/t", 1, qos=1, args=psk)
    r = mosquitto_pub(b.port, "psk/t", "shared", qos=1, args=["--psk", "0badc0de", "--psk-identity", "bob"])
    assert r.returncode == 0, r.stderr
    assert s.wait()[1] == [("psk/t", 1, 0, 6, b"shared")]


@pytest.mark.midge_only
def test_psk_wrong_key_or_identity_refused(broker, certs):
    b = broker(psk_conf(certs))
    r = mosquitto_pub(b.port, "x", "x", args=["--psk", "0badc0de", "--psk-identity", "alice"])
    assert r.returncode != 0
    r = mosquitto_pub(b.port, "x", "x", args=["--psk", "0badc0de", "--psk-identity", "mallory"])
    assert r.returncode != 0
    wait_for(lambda: b.log().count("TLS handshake failed") >= 2, 5, what="two refusals logged")


def test_psk_tls12(broker, certs):
    b = broker(psk_conf(certs))
    out = s_client(b.port, "-tls1_2", "-psk", "deadbeef0102", "-psk_identity", "alice",
                   data=bytes(m.connect("psk12")))
    assert "Protocol  : TLSv1.2" in out and "PSK" in out, out


# ---------------------------------------------------------------- reload, volume


@pytest.mark.midge_only  # Mosquitto 2.0 reloads certificates differently
def test_sighup_swaps_certificate(broker, paho, certs, tmp_path):
    crt, key = str(tmp_path / "live.crt"), str(tmp_path / "live.key")
    shutil.copy(certs.p("server.crt"), crt)
    shutil.copy(certs.p("server.key"), key)
    # user root: the files stay readable at reload (as the dropped-to user they would need to be shared)
    b = broker("user root\ncertfile %s\nkeyfile %s\n" % (crt, key))
    p = tls_paho(paho, b.port, certs)
    p.subscribe("r/#", 1)
    assert "O = First" in s_client(b.port, "-CAfile", certs.p("ca.crt"))
    shutil.copy(certs.p("server2.crt"), crt)
    shutil.copy(certs.p("server2.key"), key)
    os.kill(b.pid, signal.SIGHUP)
    log_has(b, "Reloaded TLS certificates of the listener on port %d" % b.port)
    out = s_client(b.port, "-CAfile", certs.p("ca.crt"))
    assert "O = Reloaded" in out and "Verify return code: 0 (ok)" in out, out
    # the connected client kept its session and connection
    p.publish("r/1", b"after reload", qos=1)
    assert p.get().payload == b"after reload"
    assert p.connected.is_set()
    # a broken certificate keeps the last good one
    with open(crt, "w") as f:
        f.write("not a certificate\n")
    os.kill(b.pid, signal.SIGHUP)
    log_has(b, "Error reloading TLS, the listener keeps its certificates")
    assert "O = Reloaded" in s_client(b.port, "-CAfile", certs.p("ca.crt"))


def test_large_payloads_both_ways(broker, paho, certs):
    b = broker(tls_conf(certs, "max_packet_size 4000000\n" if not IS_MOSQUITTO else ""))
    sub = tls_paho(paho, b.port, certs)
    sub.subscribe("big", 1)
    pub = tls_paho(paho, b.port, certs)
    payloads = [os.urandom(1 << 20), bytes(range(256)) * 4096 + b"tail"]
    for data in payloads:
        pub.publish("big", data, qos=1, timeout=20)
    got = [sub.get(20).payload for _ in payloads]
    assert got == payloads


def test_many_messages(broker, mosq_sub, certs):
    # a subscriber slower than the publisher must not lose QoS 1 messages to the queue limit
    b = broker(tls_conf(certs, "max_queued_messages 10000\n"))
    n = 2000
    s = mosq_sub(b.port, "many", n, qos=1, wait=60, args=client_tls(certs))
    lines = b"".join(b"message %d\n" % i for i in range(n))
    r = subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(b.port), "-t", "many", "-q", "1", "-l"]
                       + client_tls(certs), input=lines, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rc, msgs = s.wait(60)
    assert [x[4] for x in msgs] == [b"message %d" % i for i in range(n)]


# ---------------------------------------------------------------- configuration


@pytest.mark.midge_only  # Mosquitto's wording differs
def test_missing_certfile_exits_naming_file_and_line(tmp_path, broker, certs):
    b = broker("certfile %s\nkeyfile %s\n" % (str(tmp_path / "nope.crt"), certs.p("server.key")), start=False)
    b.start(wait=False)
    rc = b.proc.wait(10)
    assert rc != 0
    log = b.log()
    assert "%s:1: listener on port %d: cannot read certfile '%s'" % (b.conf_path, b.port,
                                                                  str(tmp_path / "nope.crt")) in log, log
    assert "No such file or directory" in log


@pytest.mark.midge_only
@pytest.mark.parametrize("lines, message", [
    ("certfile /a.crt\n", "certfile is set but keyfile is not"),
    ("keyfile /a.key\n", "keyfile is set but certfile is not"),
    ("certfile /a.crt\nkeyfile /a.key\nrequire_certificate true\n", "require_certificate needs cafile or capath"),
    ("tls_version tlsv9\n", "invalid value 'tlsv9' for 'tls_version'"),
])
def test_bad_tls_config(tmp_path, lines, message):
    r = run_config_check(tmp_path, "listener 8883 127.0.0.1\n" + lines)
    assert r.returncode != 0
    assert message in r.stdout + r.stderr
    assert "check-" in r.stdout + r.stderr  # the file name is given


@pytest.mark.midge_only
def test_bad_key_named(tmp_path, broker, certs):
    b = broker("certfile %s\nkeyfile %s\n" % (certs.p("server.crt"), certs.p("client.key")), start=False)
    b.start(wait=False)
    assert b.proc.wait(10) != 0
    assert "keyfile '%s' does not match certfile" % certs.p("client.key") in b.log()
