"""21 TLS in the clients: midge-pub, midge-sub and libmidge (lmclient) over TLS against Midge's TLS
listeners, or Mosquitto's with MIDGE_TEST_BROKER=mosquitto: --cafile, -L mqtts://, client
certificates on a require_certificate listener, a wrong CA and a host name mismatch refused (unless
--insecure) with mosquitto_pub's message and exit code, PSK over TLS 1.2 and 1.3, --tls-version and
--tls-alpn seen by a Python TLS server, the checks of bad combinations compared with mosquitto_pub's,
large payloads, and a reconnect over TLS after the broker restarts.

The PKI is test_16's (its `certs` fixture), plus a server certificate for another name."""
import os
import socket
import ssl
import threading
import time

import pytest

from conftest import mosquitto_pub
from test_13_libmidge import TIMEOUT as LM_TIMEOUT, lm  # noqa: F401 (fixture)
from test_14_tools import Proc, as_mosquitto, env, run  # noqa: F401 (fixture)
from test_16_tls import certs, client_tls, mtls_conf, psk_conf, tls_conf  # noqa: F401 (fixture)

TLS_ERROR = b"Error: A TLS error occurred.\n"
# mosquitto_pub reports a refused handshake either from its connect call or from its loop, whichever
# sees it: both are accepted from it, ours always says the second.
MOSQ_TLS_ERRORS = {(8, TLS_ERROR), (1, b"Unable to connect (A TLS error occurred.).\n")}


@pytest.fixture
def pki(certs):
    """test_16's PKI with a server certificate for wrong.example only (made once per worker)."""
    if not os.path.exists(certs.p("wrongname.crt")):
        certs.signed("wrongname", "/CN=wrong.example", "ca",
                     "basicConstraints=CA:FALSE\nsubjectAltName=DNS:wrong.example\n", 1005)
        for f in ("wrongname.crt", "wrongname.key"):
            os.chmod(certs.p(f), 0o644)
    return certs


def host_args(port, host="localhost"):
    return ["-h", host, "-p", port]


def sub_proc(env, port, args, count=1, topic="ct/#"):
    """A midge-sub -d over TLS, returned once subscribed."""
    p = Proc("sub", host_args(port) + ["-t", topic, "-C", count, "-W", 20, "-d"] + args, env)
    deadline = time.monotonic() + 15
    while b"SUBACK" not in p.output() and time.monotonic() < deadline and p.p.poll() is None:
        time.sleep(0.02)
    assert b"SUBACK" in p.output(), (p.output(), bytes(p.err))
    return p


# ---------------------------------------------------------------- the tools


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_tools_round_trip_with_cafile(broker, env, pki, qos, host):
    """midge-pub -> midge-sub over TLS, the server verified by name or by IP address."""
    b = broker(tls_conf(pki))
    s = sub_proc(env, b.port, client_tls(pki) + ["-q", qos])
    rc, out, err = run("pub", host_args(b.port, host) + ["-t", "ct/a", "-m", "over tls", "-q", qos] + client_tls(pki),
                       env)
    assert (rc, err) == (0, b"")
    rc, out, err = s.wait()
    assert rc == 0 and b"\nover tls\n" in out, (out, err)


def test_tools_interoperate_with_mosquitto_clients(broker, env, pki, mosq_sub):
    b = broker(tls_conf(pki))
    ms = mosq_sub(b.port, "ct/m", 1, qos=1, args=client_tls(pki))
    assert run("pub", host_args(b.port) + ["-t", "ct/m", "-m", "from midge", "-q", 1] + client_tls(pki), env)[0] == 0
    assert ms.wait()[1] == [("ct/m", 1, 0, 10, b"from midge")]
    s = sub_proc(env, b.port, client_tls(pki))
    r = mosquitto_pub(b.port, "ct/x", "from mosquitto", qos=1, args=client_tls(pki))
    assert r.returncode == 0, r.stderr
    rc, out, err = s.wait()
    assert rc == 0 and b"\nfrom mosquitto\n" in out


def test_url_mqtts(broker, env, pki):
    """-L mqtts:// is TLS (the system's CAs unless --cafile), as with mosquitto_pub."""
    b = broker(tls_conf(pki))
    url = "mqtts://localhost:%d/ct/u" % b.port
    assert run("pub", ["-L", url, "-m", "x"] + client_tls(pki), env) == (0, b"", b"")
    assert run("pub", ["-L", url, "-m", "x"], env) == (8, b"", TLS_ERROR)  # our CA is not the system's


def test_client_certificate_required(broker, env, pki):
    b = broker(mtls_conf(pki))
    base = host_args(b.port) + ["-t", "ct/c", "-m", "x", "-q", 1, "--cafile", pki.p("ca.crt")]
    assert run("pub", base + ["--cert", pki.p("client.crt"), "--key", pki.p("client.key")], env) == (0, b"", b"")
    # Without a certificate, or with one of another CA: TLS 1.3 servers refuse after the handshake.
    for extra in ([], ["--cert", pki.p("stranger.crt"), "--key", pki.p("stranger.key")]):
        rc, out, err = run("pub", base + extra, env)
        assert (rc, err) in {(7, b"Error: The connection was lost.\n"), (8, TLS_ERROR),
                             (1, b"Error: Connection reset by peer\n")}, (rc, err)


@pytest.mark.parametrize("kind", ["pub", "sub"])
def test_wrong_ca_refused(broker, env, pki, kind):
    b = broker(tls_conf(pki))
    args = host_args(b.port) + ["-t", "ct/w", "--cafile", pki.p("other_ca.crt")] + (["-m", "x"] if kind == "pub" else [])
    assert run(kind, args, env) == (8, b"", TLS_ERROR)
    rc, out, err = run(kind, args, env, impl="mosquitto")
    assert (rc, err) in MOSQ_TLS_ERRORS
    # -d gives the reason first
    rc, out, err = run(kind, args + ["-d"], env)
    assert rc == 8 and err.endswith(TLS_ERROR) and b"TLS handshake failed: " in err and b"certificate" in err, err


def test_hostname_mismatch_refused_unless_insecure(broker, env, pki):
    b = broker(tls_conf(pki, server="wrongname"))
    args = host_args(b.port) + ["-t", "ct/h", "-m", "x", "--cafile", pki.p("ca.crt")]
    rc, out, err = run("pub", args + ["-d"], env)
    assert rc == 8 and b"hostname mismatch" in err, err
    rc, out, err = run("pub", args, env, impl="mosquitto")
    assert (rc, err) in MOSQ_TLS_ERRORS
    assert run("pub", args + ["--insecure"], env) == (0, b"", b"")
    assert run("pub", args + ["--insecure"], env, impl="mosquitto")[0] == 0


def test_tls_on_plain_port_refused(broker, env, pki):
    b = broker()
    rc, out, err = run("pub", host_args(b.port) + ["-t", "a", "-m", "x", "--cafile", pki.p("ca.crt")], env)
    assert (rc, err) == (8, TLS_ERROR)


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_psk(broker, env, pki, version):
    b = broker(psk_conf(pki))
    psk = ["--psk", "deadbeef0102", "--psk-identity", "alice", "--tls-version", version]
    s = sub_proc(env, b.port, psk)
    assert run("pub", host_args(b.port) + ["-t", "ct/p", "-m", "shared", "-q", 1] + psk, env) == (0, b"", b"")
    rc, out, err = s.wait()
    assert rc == 0 and b"\nshared\n" in out
    bad = host_args(b.port) + ["-t", "ct/p", "-m", "x", "--psk", "0badc0de", "--psk-identity", "alice"]
    assert run("pub", bad, env) == (8, b"", TLS_ERROR)


@pytest.mark.parametrize("args", [
    ["--cert", "c.crt"],
    ["--key", "c.key"],
    ["--psk", "00ff"],
    ["--cafile", "ca.crt", "--psk", "00ff", "--psk-identity", "i"],
    ["--cafile", "/nonexistent/ca.crt"],
    ["--cafile", "CA", "--cert", "/nonexistent/c.crt", "--key", "CA"],
    ["--psk", "zz", "--psk-identity", "i"],
    ["--psk", "0x00ff", "--psk-identity", "i"],
    ["--cafile", "CA", "--tls-version", "tlsv1.0"],
    ["--cafile", "CA", "--keyform", "der", "--key", "CA", "--cert", "CA"],
    ["--keyform", "pem"],
])
def test_bad_combinations_as_mosquitto(env, pki, args):
    """Checked before connecting (port 1 would refuse anyway), with mosquitto_pub's words and codes."""
    args = ["-h", "127.0.0.1", "-p", 1, "-t", "a", "-m", "x"] + [pki.p("ca.crt") if a == "CA" else a for a in args]
    ours = run("pub", args, env)
    theirs = run("pub", args, env, impl="mosquitto")
    assert (ours[0], ours[1], as_mosquitto(ours[2], "pub")) == theirs


def test_settings_openssl_refuses(broker, env, pki):
    """A cipher list or key OpenSSL refuses shows when connecting, as libmosquitto builds its context then."""
    b = broker(tls_conf(pki))
    for extra in (["--ciphers", "NO-SUCH-CIPHER"], ["--cert", pki.p("client.crt"), "--key", pki.p("stranger.key")]):
        args = host_args(b.port) + ["-t", "a", "-m", "x", "--cafile", pki.p("ca.crt")] + extra
        assert run("pub", args, env) == run("pub", args, env, impl="mosquitto") == (
            1, b"", b"Unable to connect (A TLS error occurred.).\n")


def test_large_payloads(broker, env, pki, tmp_path):
    b = broker(tls_conf(pki))
    big = tmp_path / "big"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    s = Proc("sub", host_args(b.port) + ["-t", "ct/big", "-C", 1, "-W", 30, "-F", "%l", "-q", 1, "-d"] + client_tls(pki),
             env)
    deadline = time.monotonic() + 15
    while b"SUBACK" not in s.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run("pub", host_args(b.port) + ["-t", "ct/big", "-f", big, "-q", 1] + client_tls(pki), env)[0] == 0
    rc, out, err = s.wait()
    assert rc == 0 and b"\n%d\n" % big.stat().st_size in out, (out[-300:], err)


# ---------------------------------------------------------------- what the client offers, seen by a server


class TlsServer:
    """A TLS server on a free port for one connection: records the negotiated version, the ALPN
    protocol and the SNI, answers CONNECT with CONNACK and then waits for the client to go."""

    def __init__(self, pki, max_version=None, alpn=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki.p("server.crt"), pki.p("server.key"))
        if max_version:
            self.ctx.maximum_version = max_version
        if alpn:
            self.ctx.set_alpn_protocols(alpn)
        self.sni = None
        self.ctx.sni_callback = self._sni
        self.version = self.alpn = self.error = None
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(20)
        self.port = self.sock.getsockname()[1]
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _sni(self, s, name, ctx):
        self.sni = name

    def _run(self):
        try:
            c, _ = self.sock.accept()
            c.settimeout(10)
            with self.ctx.wrap_socket(c, server_side=True) as t:
                self.version, self.alpn = t.version(), t.selected_alpn_protocol()
                t.recv(4096)
                t.sendall(b"\x20\x02\x00\x00")
                while t.recv(4096):
                    pass
        except (OSError, ssl.SSLError) as e:
            self.error = e

    def close(self):
        self.t.join(15)
        self.sock.close()


@pytest.mark.midge_only
def test_version_alpn_and_sni_offered(env, pki):
    srv = TlsServer(pki, alpn=["mqtt"])
    rc = run("pub", host_args(srv.port) + ["-t", "a", "-m", "x", "--cafile", pki.p("ca.crt"), "--tls-alpn", "mqtt"],
             env)[0]
    srv.close()
    assert rc == 0 and (srv.version, srv.alpn, srv.sni) == ("TLSv1.3", "mqtt", "localhost"), srv.error
    # No SNI for an address; TLS 1.2 when the server goes no higher.
    srv = TlsServer(pki, max_version=ssl.TLSVersion.TLSv1_2)
    rc = run("pub", host_args(srv.port, "127.0.0.1") + ["-t", "a", "-m", "x", "--cafile", pki.p("ca.crt")], env)[0]
    srv.close()
    assert rc == 0 and (srv.version, srv.alpn, srv.sni) == ("TLSv1.2", None, None), srv.error
    # --tls-version tlsv1.3 is a minimum the server cannot meet.
    srv = TlsServer(pki, max_version=ssl.TLSVersion.TLSv1_2)
    args = host_args(srv.port) + ["-t", "a", "-m", "x", "--cafile", pki.p("ca.crt"), "--tls-version", "tlsv1.3"]
    assert run("pub", args, env) == (8, b"", TLS_ERROR)
    srv.close()


# ---------------------------------------------------------------- libmidge


def lm_tls(pki, *more):
    return "tls cafile=%s %s" % (pki.p("ca.crt"), " ".join(more))


@pytest.mark.parametrize("mode", ["thread", "ext"])
def test_libmidge_pubsub(broker, lm, pki, mode):
    b = broker(tls_conf(pki))
    url = "mqtts://localhost:%d" % b.port
    sub = lm("-V", 5, "-i", "tlssub-" + mode, "-c", mode=mode)
    assert sub.cmd(lm_tls(pki))["rc"] == 0
    sub.connect(url, expect_sp=False)
    assert sub.subscribe(1, "ct/lm/#") == [1]
    pub = lm("-V", 4, "-i", "tlspub-" + mode, "-c", mode=mode)
    assert pub.cmd(lm_tls(pki, "alpn=mqtt"))["rc"] == 0
    pub.connect(url)
    assert pub.ok("pubn ct/lm/a 1 200 m")["rc"] == 0
    assert pub.ok("pubbig ct/lm/big 1 2000000")["rc"] == 0
    assert pub.ok("wait published %d" % (LM_TIMEOUT * 1000))["rc"] == 0
    msgs = sub.wait_events("msg", 201)
    assert [m["payload"] for m in msgs[:200]] == [("m-%d" % i).encode().hex() for i in range(200)]
    assert len(msgs[200]["payload"]) == 4000000


def test_libmidge_refusals_have_reasons(broker, lm, pki):
    b = broker(tls_conf(pki))
    c = lm("-V", 4, "-i", "tlsbad", "-c")
    assert c.cmd("tls cafile=%s" % pki.p("other_ca.crt"))["rc"] == 0
    c.ok("connect mqtts://localhost:%d" % b.port)
    assert c.cmd("wait connected 10000")["rc"] == -13  # MIDGE_ERR_TLS
    assert c.cmd("errtext")["text"].startswith("TLS handshake failed: ")
    # a host name mismatch, and --insecure
    w = broker(tls_conf(pki, server="wrongname"))
    assert c.cmd(lm_tls(pki))["rc"] == 0
    c.ok("connect mqtts://localhost:%d" % w.port)
    assert c.cmd("wait connected 10000")["rc"] == -13
    assert c.cmd("errtext")["text"] == "TLS handshake failed: hostname mismatch"
    assert c.cmd(lm_tls(pki, "insecure"))["rc"] == 0
    c.ok("connect mqtts://localhost:%d" % w.port)
    assert c.cmd("wait connected 10000")["rc"] == 0
    # settings refused at once, with the reason
    assert c.cmd("tls cafile=/nonexistent")["rc"] == -13
    assert "cafile '/nonexistent'" in c.cmd("errtext")["text"]
    assert c.cmd(lm_tls(pki, "version=tlsv1.0"))["rc"] == -2
    assert c.cmd(lm_tls(pki, "cert=%s" % pki.p("client.crt")))["rc"] == -2
    assert c.cmd("tls psk=zz pskid=a")["rc"] == -13


def test_libmidge_client_certificate_and_psk(broker, lm, pki):
    b = broker(mtls_conf(pki))
    c = lm("-V", 5, "-i", "tlscert", "-c")
    assert c.cmd(lm_tls(pki, "cert=%s key=%s" % (pki.p("client.crt"), pki.p("client.key"))))["rc"] == 0
    c.connect("ssl://localhost:%d" % b.port)
    p = broker(psk_conf(pki))
    for version in ("tlsv1.2", "tlsv1.3"):
        k = lm("-V", 4, "-i", "tlspsk" + version, "-c")
        assert k.cmd("tls psk=0badc0de pskid=bob version=" + version)["rc"] == 0
        k.connect("mqtts://127.0.0.1:%d" % p.port)


def test_libmidge_reconnects_over_tls_after_restart(broker, lm, pki):
    b = broker(tls_conf(pki))
    url = "mqtts://localhost:%d" % b.port
    sub = lm("-V", 4, "-i", "tlsre", "-P", "-r", "100,500")
    assert sub.cmd(lm_tls(pki))["rc"] == 0
    sub.connect(url)
    assert sub.subscribe(1, "ct/re") == [1]
    b.restart()
    sub.wait_events("connect", 2, timeout=20)
    # the broker kept no session over a restart (no persistence): subscribe again
    sub.ok("sub 1 ct/re")
    assert sub.wait_events("suback", 2)[1]["codes"] == [1]
    pub = lm("-V", 4, "-i", "tlsrepub", "-c")
    assert pub.cmd(lm_tls(pki))["rc"] == 0
    pub.connect(url)
    pub.ok("pub ct/re 1 0 back")
    assert [m["payload"] for m in sub.wait_events("msg", 1)] == [b"back".hex()]
