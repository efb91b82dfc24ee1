"""36 The cluster's credentials and TLS to NATS (issue 12): two midge nodes on one nats-server that asks for a user
and password, a token, TLS, or TLS with client certificates route a message between them; with the wrong password,
CA or no certificate a node says why in its log, routes nothing and keeps serving its own clients; files missing or
half a certificate are configuration errors naming the line. Real nats-server processes, real paho clients."""
import re
import time

import pytest

from conftest import run_expect_failure, wait_for
from natsutil import available, SKIP_REASON
from test_16_tls import certs  # noqa: F401 (the session's test PKI: ca, server (127.0.0.1), client, other_ca)
from test_36_cluster import node_conf, pub, settle, sub  # noqa: F401 (sub is a fixture)

pytestmark = [pytest.mark.midge_only, pytest.mark.skipif(not available(), reason=SKIP_REASON)]

PASSWORD = "pa55 w0rd"  # a blank in it: the config line's rest is the password
TOKEN = "t0ken-s3cret"


def connected(node):
    wait_for(lambda: "Cluster: connected to NATS" in node.log(), 10, what="node connected to NATS")


def refused(node, why):
    """The node said why its first connection failed, and is still trying."""
    wait_for(lambda: re.search(r"Cluster: no NATS server of \S+ answers yet: .*%s" % why, node.log()), 10,
             what="node refused by NATS (%s)" % why)


def routes(a, b, sub, topic="auth/x"):
    """A publish on node a reaches a subscriber on node b."""
    s = sub(b.port, [topic], qos=1)
    settle()
    pub(a.port, topic, "across")
    assert s.wait(1)[0][:2] == (topic, "across")


def isolated(a, b, sub, topic="auth/y"):
    """A publish on node a reaches a's own subscriber, not b's: a runs, alone."""
    local, remote = sub(a.port, [topic], qos=1), sub(b.port, [topic], qos=1)
    settle()
    pub(a.port, topic, "stays")
    assert local.wait(1)[0][:2] == (topic, "stays")
    time.sleep(1)
    assert remote.got == []


def no_secret(nodes, *secrets):
    for n in nodes:
        for s in secrets:
            assert s not in n.log(), "secret in the log of node %d" % n.port


def two_nodes(broker, nats, url=None, extra=("", "")):
    conf = [node_conf(nats, "n%d" % i, extra[i]) for i in range(2)]
    if url:
        conf = [c.replace(" ".join(nats.urls), url) for c in conf]
    return [broker(c) for c in conf]


# ---------------------------------------------------------------- user and password, token

USERS = 'authorization {\n  user: "node"\n  password: "%s"\n}\n' % PASSWORD


def test_user_and_password(broker, nats_cluster, sub):
    nats = nats_cluster(1, jetstream=False, extra_conf=USERS)
    creds = "cluster_nats_user node\ncluster_nats_password %s\n" % PASSWORD
    a, b = two_nodes(broker, nats, extra=(creds, creds))
    connected(a), connected(b)
    routes(a, b, sub)
    routes(b, a, sub, "auth/back")
    no_secret([a, b], PASSWORD)


def test_user_and_password_in_the_url(broker, nats_cluster, sub):
    """cnats takes user:password@ from the URL; the node's log shows the URL without it."""
    nats = nats_cluster(1, jetstream=False, extra_conf='authorization {\n  user: "node"\n  password: "s3cret"\n}\n')
    url = "nats://node:s3cret@127.0.0.1:%d" % nats.servers[0].port
    a, b = two_nodes(broker, nats, url=url)
    connected(a), connected(b)
    routes(a, b, sub)
    assert "Cluster: connected to NATS at nats://127.0.0.1:%d." % nats.servers[0].port in a.log()
    no_secret([a, b], "s3cret")


def test_wrong_password(broker, nats_cluster, sub):
    nats = nats_cluster(1, jetstream=False, extra_conf=USERS)
    good = "cluster_nats_user node\ncluster_nats_password %s\n" % PASSWORD
    a, b = two_nodes(broker, nats, extra=("cluster_nats_user node\ncluster_nats_password wr0ng\n", good))
    connected(b)
    refused(a, "Authorization Violation")
    isolated(a, b, sub)
    assert "Cluster: connected to NATS" not in a.log()
    no_secret([a, b], PASSWORD, "wr0ng")


@pytest.mark.parametrize("where", ["option", "url"])
def test_token(broker, nats_cluster, sub, where):
    nats = nats_cluster(1, jetstream=False, extra_conf='authorization {\n  token: "%s"\n}\n' % TOKEN)
    if where == "option":
        a, b = two_nodes(broker, nats, extra=("cluster_nats_token %s\n" % TOKEN,) * 2)
    else:
        a, b = two_nodes(broker, nats, url="nats://%s@127.0.0.1:%d" % (TOKEN, nats.servers[0].port))
    connected(a), connected(b)
    routes(a, b, sub)
    no_secret([a, b], TOKEN)


def test_wrong_token(broker, nats_cluster, sub):
    nats = nats_cluster(1, jetstream=False, extra_conf='authorization {\n  token: "%s"\n}\n' % TOKEN)
    a, b = two_nodes(broker, nats, extra=("cluster_nats_token nope\n", "cluster_nats_token %s\n" % TOKEN))
    connected(b)
    refused(a, "Authorization Violation")
    isolated(a, b, sub)


# ---------------------------------------------------------------- TLS

def tls_server(c, verify=False):
    return ('tls {\n  cert_file: "%s"\n  key_file: "%s"\n  ca_file: "%s"\n%s}\n'
            % (c.p("server.crt"), c.p("server.key"), c.p("ca.crt"), "  verify: true\n" if verify else ""))


@pytest.mark.parametrize("scheme", ["nats", "tls"])
def test_tls(broker, nats_cluster, sub, certs, scheme):  # noqa: F811
    """cluster_nats_cafile asks for TLS on a nats:// URL too."""
    nats = nats_cluster(1, jetstream=False, extra_conf=tls_server(certs))
    ca = "cluster_nats_cafile %s\n" % certs.p("ca.crt")
    a, b = two_nodes(broker, nats, url="%s://127.0.0.1:%d" % (scheme, nats.servers[0].port), extra=(ca, ca))
    connected(a), connected(b)
    routes(a, b, sub)
    # The server saw TLS connections (its /connz says so per connection): two per node, routing and sharing.
    conns = nats.servers[0].monitor("/connz")["connections"]
    assert len(conns) == 4 and all(c.get("tls_version") for c in conns), conns


def test_tls_wrong_ca(broker, nats_cluster, sub, certs):  # noqa: F811
    nats = nats_cluster(1, jetstream=False, extra_conf=tls_server(certs))
    a, b = two_nodes(broker, nats, extra=("cluster_nats_cafile %s\n" % certs.p("other_ca.crt"),
                                          "cluster_nats_cafile %s\n" % certs.p("ca.crt")))
    connected(b)
    refused(a, "SSL handshake error: .*unable to get local issuer certificate")
    isolated(a, b, sub)


def test_tls_client_certificates(broker, nats_cluster, sub, certs):  # noqa: F811
    """verify: true: a node with a certificate of the CA is let in, one without is not."""
    nats = nats_cluster(1, jetstream=False, extra_conf=tls_server(certs, verify=True))
    mine = "cluster_nats_cafile %s\ncluster_nats_certfile %s\ncluster_nats_keyfile %s\n" % (
        certs.p("ca.crt"), certs.p("client.crt"), certs.p("client.key"))
    a, b = two_nodes(broker, nats, extra=(mine, mine))
    connected(a), connected(b)
    routes(a, b, sub)
    c = broker(node_conf(nats, "no-cert", "cluster_nats_cafile %s\n" % certs.p("ca.crt")))
    refused(c, "")
    isolated(c, b, sub, "auth/z")
    assert "Cluster: connected to NATS" not in c.log()


def test_tls_and_password(broker, nats_cluster, sub, certs):  # noqa: F811
    nats = nats_cluster(1, jetstream=False, extra_conf=tls_server(certs) + USERS)
    both = "cluster_nats_cafile %s\ncluster_nats_user node\ncluster_nats_password %s\n" % (certs.p("ca.crt"), PASSWORD)
    a, b = two_nodes(broker, nats, url="tls://127.0.0.1:%d" % nats.servers[0].port, extra=(both, both))
    connected(a), connected(b)
    routes(a, b, sub)


# ---------------------------------------------------------------- configuration errors

def test_config_errors(tmp_path, certs):  # noqa: F811
    url = "cluster_nats_url nats://127.0.0.1:4222\n"
    cases = [
        ("cluster_nats_certfile %s\n" % certs.p("client.crt"),
         r":2: cluster_nats_certfile is set but cluster_nats_keyfile is not"),
        ("cluster_nats_keyfile %s\n" % certs.p("client.key"),
         r":2: cluster_nats_keyfile is set but cluster_nats_certfile is not"),
        ("\ncluster_nats_creds %s/none.creds\n" % tmp_path,
         r":3: cannot read '.*/none.creds' for 'cluster_nats_creds': No such file or directory"),
        ("cluster_nats_cafile /nonexistent/ca.crt\n",
         r":2: cannot read '/nonexistent/ca.crt' for 'cluster_nats_cafile': No such file or directory"),
        ("cluster_nats_password p\n", r":2: cluster_nats_password is set but cluster_nats_user is not"),
        ("cluster_nats_user u\ncluster_nats_token t\n",
         r":3: give only one of cluster_nats_user, cluster_nats_token and cluster_nats_creds"),
    ]
    for extra, want in cases:
        rc, out = run_expect_failure(tmp_path, url + extra)
        assert rc != 0 and re.search(r"check-\d+\.conf" + want, out), (extra, out)


def test_certificate_that_is_no_pem(tmp_path, certs):  # noqa: F811
    """A readable file cnats cannot use stops the start, naming the file (not a node that never joins)."""
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate\n")
    rc, out = run_expect_failure(tmp_path, "cluster_nats_url nats://127.0.0.1:4222\ncluster_nats_cafile %s\n" % bad)
    assert rc != 0 and str(bad) in out, out
