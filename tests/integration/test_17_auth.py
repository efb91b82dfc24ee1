"""Authentication: allow_anonymous, password_file (files made by midge-passwd and by Debian's
mosquitto_passwd), per_listener_settings, the per-address back-off after failed checks, password
checks off the event loop, start-up errors in the password file, and SIGHUP reloads."""
import itertools
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import mqttraw as m
from conftest import ROOT, SANITIZE, connectable, free_port, mosquitto_pub, run_expect_failure, wait_for

BUILD = os.environ.get("MIDGE_BUILD") or os.path.join(ROOT, "build")
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
TIMEOUT = 40 if SANITIZE else 20
midge_only = pytest.mark.midge_only



# ---------------------------------------------------------------- helpers

def midge_passwd():
    path = os.path.join(BUILD, "bin", "midge-passwd")
    if not os.access(path, os.X_OK):
        pytest.fail("%s not built (set MIDGE_BUILD)" % path, pytrace=False)
    return path


def make_pwfile(path, users, tool="midge", hash_args=()):
    """Writes a password file with `tool` (midge or mosquitto) in batch mode; users is a list of
    (username, password) with str or bytes passwords. Returns the path as a str."""
    prog = midge_passwd() if tool == "midge" else MOSQUITTO_PASSWD
    path = str(path)
    for i, (user, pw) in enumerate(users):
        args = [prog] + list(hash_args) + (["-c"] if i == 0 else []) + ["-b", path, user, pw]
        r = subprocess.run(args, capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, (args, r.stderr)
    os.chmod(path, 0o644)
    return path


def custom_broker(broker, text, nports=1):
    """A broker whose whole config is `text`, formatted with p0, p1, ... (free ports); waits until
    every port listens. Returns (broker, [ports]). `user root`: started as root, the broker would
    otherwise drop privileges and could not re-read the test's private files on SIGHUP."""
    for attempt in range(3):
        b = broker(listener=False, start=False)
        ports = [b.port] + [free_port() for _ in range(nports - 1)]
        b.conf_text = "user root\n" + text.format(**{"p%d" % i: p for i, p in enumerate(ports)})
        try:
            # A free port can be taken meanwhile by a parallel test (a client's ephemeral port): retry.
            b.start()
            for p in ports[1:]:
                wait_for(lambda: connectable(p), 3, what="port %d listening" % p)
            return b, ports
        except AssertionError:
            if attempt == 2:
                raise
            b.stop(check=False)


def pw_broker(broker, pwfile, anon=False, extra=""):
    return custom_broker(broker, "listener {p0} 127.0.0.1\nallow_anonymous %s\npassword_file %s\n%s\n"
                         % ("true" if anon else "false", pwfile, extra))[0]


_source = itertools.count()


def raw_from(raw, port, src, timeout=5.0):
    """A RawClient (closed at teardown with the raw fixture's) connected from source address src."""
    c = raw(port, timeout=timeout)
    c.sock.close()
    c.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def fresh_source():
    """A loopback source address not used before in this process: failures from one address make
    its next checks wait, so tests that are not about the back-off spread their attempts."""
    n = next(_source)
    return "127.1.%d.%d" % (n // 250 % 250, n % 250 + 1)


def try_connect(raw, port, proto=m.MQTT311, client_id="", timeout=5.0, src=None, **kw):
    """Sends CONNECT (from src, or else from a fresh loopback address), returns (CONNACK return code /
    reason code, client)."""
    c = raw_from(raw, port, src or fresh_source(), timeout)
    c.send(m.connect(client_id, proto=proto, **kw))
    ack = c.expect(m.CONNACK, timeout)
    return ack.rc, c


def assert_refused(raw, port, code311, code5, **kw):
    """3.1.1 and MQTT 5 CONNECTs are both refused with the given codes and the connection closes."""
    rc, c = try_connect(raw, port, m.MQTT311, **kw)
    assert rc == code311
    c.expect_closed()
    rc, c = try_connect(raw, port, m.MQTT5, **kw)
    assert rc == code5, "MQTT 5 CONNACK reason 0x%02x, expected 0x%02x" % (rc, code5)
    c.expect_closed()


def assert_accepted(raw, port, **kw):
    """3.1.1 and MQTT 5 CONNECTs are both accepted; the MQTT 5 client is kept and returned after a
    publish/subscribe round trip."""
    rc, c = try_connect(raw, port, m.MQTT311, **kw)
    assert rc == 0
    assert c.is_open()
    c.disconnect()
    rc, c = try_connect(raw, port, m.MQTT5, **kw)
    assert rc == 0
    c.subscribe([("auth/rt", 1)])
    c.publish("auth/rt", b"x", qos=1, mid=3)
    assert c.recv_publish().payload == b"x"
    return c


def reloads(b):
    return b.log().count("Security settings reloaded.")


def sighup(b, what="Security settings reloaded."):
    before = b.log().count(what)
    os.kill(b.pid, signal.SIGHUP)
    wait_for(lambda: b.log().count(what) > before, 5, what=repr(what))


def pub_311(port, *args):
    r = mosquitto_pub(port, "auth/pub", "hello", args=list(args), timeout=TIMEOUT)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


# ---------------------------------------------------------------- anonymous

def test_anonymous_allowed(broker, raw):
    b = broker()  # the fixture's config says allow_anonymous true
    assert_accepted(raw, b.port)
    rc, out = pub_311(b.port)
    assert rc == 0, out


@midge_only
def test_anonymous_refused_when_unset_with_listener(broker, raw):
    """A config file with a listener and no allow_anonymous: anonymous clients are refused."""
    b, _ = custom_broker(broker, "listener {p0} 127.0.0.1\n")
    assert_refused(raw, b.port, 5, m.NOT_AUTHORIZED)
    # A username is enough when no password_file is configured (Mosquitto 2).
    assert_accepted(raw, b.port, username="someone")


@midge_only
def test_anonymous_refused(broker, raw, paho5):
    b = broker("allow_anonymous false")
    rc, out = pub_311(b.port)
    assert rc == 5 and "not authorised" in out, out
    rc, c = try_connect(raw, b.port, m.MQTT311, client_id="anon311")
    assert rc == 5
    assert c.expect_closed() == []
    rc, c = try_connect(raw, b.port, m.MQTT31, client_id="anon31")
    assert rc == 5
    c.expect_closed()
    rc, c = try_connect(raw, b.port, m.MQTT5, client_id="anon5")
    assert rc == m.NOT_AUTHORIZED
    c.expect_closed()
    p = paho5(b.port, connect=False, client_id="anonpaho")
    assert p.connect()[1] == m.NOT_AUTHORIZED
    line = re.compile(r"Client anon311 from 127\.[0-9.]+:\d+ refused: not authorised \(anonymous\)\.")
    wait_for(lambda: line.search(b.log()), 5, what="the refusal log line")
    assert "Client anon5 from 127." in b.log()
    # Nothing published by the refused clients: the broker still works for a named client.
    assert_accepted(raw, b.port, username="named")


@midge_only
def test_username_without_password_file(broker, raw):
    """allow_anonymous false and no password_file: any username is let in, whatever its password."""
    b = broker("allow_anonymous false")
    assert_accepted(raw, b.port, username="u1")
    assert_accepted(raw, b.port, username="u2", password="anything")
    rc, out = pub_311(b.port, "-u", "u3", "-P", "x")
    assert rc == 0, out
    assert_refused(raw, b.port, 5, m.NOT_AUTHORIZED)


# ---------------------------------------------------------------- password files

@midge_only
@pytest.mark.parametrize("tool,hash_args,prefix", [
    ("midge", (), "$7$2000$"),
    ("midge", ("-H", "sha512"), "$6$"),
    ("midge", ("-I", "5"), "$7$5$"),
    ("mosquitto", (), "$7$101$"),
    ("mosquitto", ("-H", "sha512-pbkdf2"), "$7$101$"),
    ("mosquitto", ("-H", "sha512"), "$6$"),
], ids=["midge-default", "midge-sha512", "midge-I5", "mosquitto-default", "mosquitto-pbkdf2",
        "mosquitto-sha512"])
def test_password_file(broker, raw, tmp_path, tool, hash_args, prefix):
    pw = make_pwfile(tmp_path / "pw", [("alice", "alice-secret"), ("bob", "b0b:pass word"),
                                       ("carol", "\u00e9t\u00e9")], tool, hash_args)
    lines = open(pw).read().splitlines()
    assert len(lines) == 3 and all(l.split(":", 1)[1].startswith(prefix) for l in lines), lines
    b = pw_broker(broker, pw)
    assert_accepted(raw, b.port, username="alice", password="alice-secret")
    assert_accepted(raw, b.port, username="bob", password="b0b:pass word")
    assert_accepted(raw, b.port, username="carol", password="\u00e9t\u00e9")
    rc, out = pub_311(b.port, "-u", "alice", "-P", "alice-secret")
    assert rc == 0, out
    # wrong password, another user's password, unknown user, empty password
    rc, out = pub_311(b.port, "-u", "alice", "-P", "alice-secreT")
    assert rc == 4 and "bad user name or password" in out, out
    assert_refused(raw, b.port, 4, 0x86, client_id="c-wrong", username="alice", password="b0b:pass word")
    assert_refused(raw, b.port, 4, 0x86, client_id="c-eve", username="eve", password="alice-secret")
    assert_refused(raw, b.port, 4, 0x86, client_id="c-empty", username="carol", password="")
    # no username at all: anonymous, refused as such
    assert_refused(raw, b.port, 5, m.NOT_AUTHORIZED, password=None)
    log = b.log()
    assert re.search(r"Client c-eve from 127\.[0-9.]+:\d+ refused: bad username or password "
                     r"\(username 'eve'; \d+ failures? from this address\)\.", log), log[-3000:]
    assert "refused: bad username or password (username 'alice'; 1 failure from this address)." in log


@midge_only
def test_paho_v5_password(broker, tmp_path, paho5, paho):
    pw = make_pwfile(tmp_path / "pw", [("alice", "s3cret")], "mosquitto")
    b = pw_broker(broker, pw)
    ok = paho5(b.port, connect=False, client_id="p5ok", username="alice", password="s3cret")
    assert ok.connect()[1] == 0
    bad = paho5(b.port, connect=False, client_id="p5bad", username="alice", password="nope")
    assert bad.connect()[1] == 0x86
    ok3 = paho(b.port, connect=False, client_id="p3ok", username="alice", password="s3cret")
    assert ok3.connect()[1] == 0
    bad3 = paho(b.port, connect=False, client_id="p3bad", username="alice", password="nope")
    assert bad3.connect()[1] == 4


@midge_only
def test_username_without_password_flag(broker, raw, tmp_path):
    """A client naming a user of the password file without sending a password is refused."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "secret")])
    b = pw_broker(broker, pw)
    assert_refused(raw, b.port, 4, 0x86, client_id="nopass", username="alice")
    assert_refused(raw, b.port, 4, 0x86, username="nobody")
    rc, out = pub_311(b.port, "-u", "alice")
    assert rc == 4, out
    assert "refused: bad username or password (username 'alice';" in b.log()


@midge_only
def test_no_password_flag_does_not_match_empty_password(broker, raw, tmp_path):
    pw = make_pwfile(tmp_path / "pw", [("blank", "")], "mosquitto")
    b = pw_broker(broker, pw)
    rc, c = try_connect(raw, b.port, m.MQTT311, username="blank")
    assert rc == 4


@midge_only
def test_binary_password_bytes(broker, raw, tmp_path):
    """Passwords are binary data in MQTT: bytes that are not UTF-8 work when the file holds them;
    a password holding a NUL byte never matches."""
    secret = b"\xff\xfe\x01bin\x80ary\x7f"
    pw = make_pwfile(tmp_path / "pw", [("bin", secret), ("bin2", b"ab")], "mosquitto")
    b = pw_broker(broker, pw)
    assert_accepted(raw, b.port, username="bin", password=secret)
    assert_refused(raw, b.port, 4, 0x86, username="bin", password=secret[:-1])
    assert_refused(raw, b.port, 4, 0x86, username="bin", password=secret + b"\x00")
    assert_refused(raw, b.port, 4, 0x86, username="bin2", password=b"ab\x00")
    assert_refused(raw, b.port, 4, 0x86, username="bin2", password=b"a\x00b")
    assert_accepted(raw, b.port, username="bin2", password=b"ab")


@midge_only
def test_password_file_and_anonymous_allowed(broker, raw, tmp_path):
    """allow_anonymous true with a password_file: no username gets in, a username needs its password."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "secret")])
    b = pw_broker(broker, pw, anon=True)
    assert_accepted(raw, b.port)
    assert_accepted(raw, b.port, username="alice", password="secret")
    assert_refused(raw, b.port, 4, 0x86, username="alice", password="wrong")
    assert_refused(raw, b.port, 4, 0x86, username="mallory", password="x")


@midge_only
def test_per_listener_settings(broker, raw, tmp_path):
    pw1 = make_pwfile(tmp_path / "pw1", [("alice", "one")])
    pw2 = make_pwfile(tmp_path / "pw2", [("alice", "two"), ("bob", "bob2")], "mosquitto")
    b, (p0, p1, p2) = custom_broker(broker, """per_listener_settings true
listener {p0} 127.0.0.1
allow_anonymous true
listener {p1} 127.0.0.1
password_file %s
listener {p2} 127.0.0.1
allow_anonymous false
password_file %s
""" % (pw1, pw2), nports=3)
    # p0: anonymous, no password file: any username gets in
    assert_accepted(raw, p0)
    assert_accepted(raw, p0, username="alice", password="whatever")
    # p1: allow_anonymous unset there -> refused; its own password file
    assert_refused(raw, p1, 5, m.NOT_AUTHORIZED)
    assert_accepted(raw, p1, username="alice", password="one")
    assert_refused(raw, p1, 4, 0x86, username="alice", password="two")
    assert_refused(raw, p1, 4, 0x86, username="bob", password="bob2")
    # p2: the other file
    assert_refused(raw, p2, 5, m.NOT_AUTHORIZED)
    assert_accepted(raw, p2, username="alice", password="two")
    assert_accepted(raw, p2, username="bob", password="bob2")
    assert_refused(raw, p2, 4, 0x86, username="alice", password="one")
    # All listeners share one topic space.
    rc, s = try_connect(raw, p0, m.MQTT311, client_id="s0")
    s.subscribe("plx/#", qos=1)
    rc, pub = try_connect(raw, p2, m.MQTT311, client_id="pub2", username="bob", password="bob2")
    assert rc == 0
    pub.publish("plx/a", b"from-p2", qos=1)
    assert s.recv_publish().payload == b"from-p2"


# ---------------------------------------------------------------- back-off

@midge_only
def test_backoff_after_failures(broker, raw, tmp_path):
    """Wrong passwords from one address make its next checks wait: 100 ms after the first failure,
    doubling. A right password afterwards still gets in, after its turn, but does not wipe the record."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "right")])
    b = pw_broker(broker, pw)
    src = fresh_source()
    took = []
    for i in range(4):
        t0 = time.monotonic()
        rc, c = try_connect(raw, b.port, m.MQTT311, client_id="guess%d" % i, username="alice",
                            password="wrong%d" % i, timeout=10, src=src)
        took.append(time.monotonic() - t0)
        assert rc == 4
        c.close()
    # 1st: immediate; 2nd waits ~0.1 s after the first failure, 3rd ~0.2 s, 4th ~0.4 s
    assert took[3] >= 0.3, took
    assert took[2] >= 0.15, took
    assert took[3] > took[0] and took[3] > took[1], took
    assert "(username 'alice'; 4 failures from this address)." in b.log()
    t0 = time.monotonic()
    rc, c = try_connect(raw, b.port, m.MQTT311, client_id="right", username="alice", password="right",
                        timeout=10, src=src)
    waited = time.monotonic() - t0
    assert rc == 0
    assert c.is_open()
    assert waited >= 0.6, waited  # its turn came ~0.8 s after the 4th failure
    # A success does not reset the count (a guesser could otherwise reset it with an account of its
    # own between guesses): the next wrong password waits its turn again and is the 5th failure.
    t0 = time.monotonic()
    rc, c = try_connect(raw, b.port, m.MQTT311, client_id="again", username="alice", password="bad",
                        timeout=10, src=src)
    assert rc == 4
    assert time.monotonic() - t0 >= 0.6
    wait_for(lambda: "(username 'alice'; 5 failures from this address)." in b.log(), 5)


@midge_only
def test_parallel_guesses_are_throttled_and_bounded(broker, raw, tmp_path):
    """Many guesses at once from one address: at most a few are checked before the first failures
    count, the rest wait their turns, and past the waiting room (or a turn beyond connect_timeout) they
    are refused at once as busy (3.1.1 return code 3) instead of holding memory."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "right")])
    b = pw_broker(broker, pw, extra="connect_timeout 3")
    src = fresh_source()
    clients = []
    t0 = time.monotonic()
    for i in range(120):
        c = raw_from(raw, b.port, src, timeout=10)
        c.send(m.connect("burst%d" % i, username="alice", password="wrong%d" % i))
        clients.append(c)
    codes, slow = [], 0
    for c in clients:
        try:
            ack = c.expect(m.CONNACK, 10)
            codes.append(ack.rc)
        except Exception:
            codes.append(None)  # closed by connect_timeout while waiting its turn
    took = time.monotonic() - t0
    assert 0 not in codes
    assert codes.count(3) >= 40, codes        # refused as busy, at once
    assert 4 <= codes.count(4) <= 40, codes   # checked: a handful, then one per growing delay
    assert took >= 1.0, took                  # the checks that ran were spread out
    assert "too many password checks pending from this address" in b.log()
    # a right password from another address is not held up by any of it
    rc, c = try_connect(raw, b.port, m.MQTT311, client_id="other", username="alice", password="right")
    assert rc == 0


@midge_only
def test_reload_cannot_switch_per_listener_settings(broker, raw, tmp_path):
    """per_listener_settings decides which settings apply to which listener: changing it needs a
    restart, and a reload that tries keeps the old settings rather than mixing them up."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "right")])
    b, (p0, p1) = custom_broker(broker, "per_listener_settings true\nlistener {p0} 127.0.0.1\n"
                                "allow_anonymous true\nlistener {p1} 127.0.0.1\nallow_anonymous false\n"
                                "password_file %s\n" % pw, nports=2)
    assert try_connect(raw, p1, m.MQTT311)[0] == 5
    with open(b.conf_path, "w") as f:
        f.write("user root\nper_listener_settings false\nallow_anonymous true\nlistener %d 127.0.0.1\n"
                "listener %d 127.0.0.1\n" % (p0, p1))
    sighup(b, "per_listener_settings cannot change without a restart")
    assert try_connect(raw, p1, m.MQTT311)[0] == 5
    assert try_connect(raw, p0, m.MQTT311)[0] == 0


@midge_only
def test_reload_keeps_anonymous_default_with_port_flag(broker, raw, tmp_path):
    """`midge -c FILE -p PORT` with a file that defines no listener: the -p listener is configured, so
    anonymous clients are refused, before a reload and after it."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "right")])
    b = broker(listener=False, start=False)
    b.conf_text = "user root\npassword_file %s\n" % pw
    b.args = ["-p", str(b.port)]
    b.start()
    assert try_connect(raw, b.port, m.MQTT311)[0] == 5
    sighup(b)
    assert try_connect(raw, b.port, m.MQTT311)[0] == 5
    assert try_connect(raw, b.port, m.MQTT311, username="alice", password="right")[0] == 0


@midge_only
def test_backoff_does_not_delay_anonymous_or_other_connections(broker, raw, tmp_path):
    """While wrong passwords from one address wait for their turn, clients that need no password
    check connect at once (from that address too) and existing clients keep working; a right password
    from another address is checked at once."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "right")])
    b = pw_broker(broker, pw, anon=True)
    src = fresh_source()
    sub = try_connect(raw, b.port, m.MQTT311, client_id="sub")[1]
    sub.subscribe("bo/#")
    for i in range(4):
        rc, c = try_connect(raw, b.port, m.MQTT311, username="alice", password="x%d" % i, timeout=10,
                            src=src)
        assert rc == 4
    # three more guesses in parallel: they queue up ~0.8 s, 1.6 s, ... apart
    pending = [raw_from(raw, b.port, src, timeout=15) for _ in range(3)]
    for c in pending:
        c.send(m.connect("", username="alice", password="again"))
    t0 = time.monotonic()
    rc, anon = try_connect(raw, b.port, m.MQTT311, client_id="anon", src=src)
    assert rc == 0 and time.monotonic() - t0 < 0.5
    t0 = time.monotonic()
    rc, good = try_connect(raw, b.port, m.MQTT311, client_id="good", username="alice", password="right")
    assert rc == 0 and time.monotonic() - t0 < 0.5
    anon.publish("bo/x", b"live", qos=0)
    assert sub.recv_publish(timeout=2).payload == b"live"
    for c in pending:
        c.sock.settimeout(15)
        assert c.expect(m.CONNACK, 15).rc == 4


# ---------------------------------------------------------------- checks off the loop

@midge_only
def test_concurrent_logins_do_not_block_delivery(broker, raw, paho, tmp_path):
    """50 clients log in at once with a slow hash (100000 iterations, ~50 ms each): all get in, and a
    connected subscriber keeps receiving messages while the checks run."""
    pw = make_pwfile(tmp_path / "pw", [("user%d" % i, "pw%d" % i) for i in range(5)], "midge",
                     ("-I", "100000"))
    b = pw_broker(broker, pw, anon=True)
    rc, sub = try_connect(raw, b.port, m.MQTT311, client_id="watcher")
    sub.subscribe("live/#")
    rc, pub = try_connect(raw, b.port, m.MQTT311, client_id="ticker")
    received = []
    stop = threading.Event()

    def ticker():
        i = 0
        while not stop.is_set():
            pub.send(m.publish("live/t", b"%d" % i))
            i += 1
            time.sleep(0.02)

    def reader():
        while not stop.is_set():
            try:
                p = sub.recv(0.2)
            except Exception:
                continue
            if p.type == m.PUBLISH:
                received.append(time.monotonic())

    threads = [threading.Thread(target=ticker, daemon=True), threading.Thread(target=reader, daemon=True)]
    for t in threads:
        t.start()
    try:
        clients = [paho(b.port, connect=False, client_id="login%d" % i, username="user%d" % (i % 5),
                        password="pw%d" % (i % 5)) for i in range(50)]
        t0 = time.monotonic()
        for c in clients:
            c.c.connect_async("127.0.0.1", b.port, 60)
            c.c.loop_start()
            c.started = True
        for c in clients:
            assert c.connected.wait(20), "a login did not complete"
            assert c.connack[1] == 0
        t1 = time.monotonic()
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    during = [r for r in received if t0 <= r <= t1]
    # The checks took a while (50 x ~50 ms over a few threads); messages kept flowing meanwhile.
    assert t1 - t0 >= 0.2, t1 - t0
    assert len(during) >= 0.3 * (t1 - t0) / 0.02, (len(during), t1 - t0)
    gaps = [b2 - a for a, b2 in zip(during, during[1:])]
    assert not gaps or max(gaps) < max(0.5, (t1 - t0) / 2), max(gaps)
    assert b.log().count("New client connected from") >= 52


# ---------------------------------------------------------------- errors at start-up

@midge_only
def test_malformed_password_file_at_start(tmp_path):
    good = make_pwfile(tmp_path / "good", [("alice", "a")])
    entry = open(good).read().strip()
    bad = tmp_path / "bad"
    bad.write_text("# users\n%s\nbob-without-hash\n" % entry)
    rc, out = run_expect_failure(tmp_path, "listener %d 127.0.0.1\npassword_file %s\n"
                                        % (free_port(), bad))
    assert rc != 0
    assert "Error: %s:3: " % bad in out, out
    bad.write_text("%s\ncarol:$5$abc$def\n" % entry)
    rc, out = run_expect_failure(tmp_path, "listener %d 127.0.0.1\npassword_file %s\n"
                                        % (free_port(), bad))
    assert rc != 0
    assert "Error: %s:2: " % bad in out and "carol" in out, out


@midge_only
def test_missing_password_file_at_start(tmp_path):
    missing = tmp_path / "no-such-file"
    rc, out = run_expect_failure(tmp_path, "listener %d 127.0.0.1\nallow_anonymous false\n"
                                        "password_file %s\n" % (free_port(), missing))
    assert rc != 0
    assert "%s: No such file or directory" % missing in out, out


# ---------------------------------------------------------------- SIGHUP

@midge_only
def test_sighup_reloads_password_file(broker, raw, tmp_path):
    pwfile = tmp_path / "pw"
    make_pwfile(pwfile, [("alice", "old"), ("bob", "bobpw")])
    b = pw_broker(broker, str(pwfile))
    rc, alice = try_connect(raw, b.port, m.MQTT311, client_id="alice-conn", username="alice", password="old")
    assert rc == 0
    alice.subscribe("hup/#", qos=1)
    rc, bob = try_connect(raw, b.port, m.MQTT5, client_id="bob-conn", username="bob", password="bobpw")
    assert rc == 0
    # alice's password changes, bob is removed
    make_pwfile(pwfile, [("alice", "new"), ("carol", "carolpw")], "mosquitto")
    sighup(b)
    assert_accepted(raw, b.port, username="alice", password="new")
    assert_refused(raw, b.port, 4, 0x86, username="alice", password="old")
    assert_refused(raw, b.port, 4, 0x86, username="bob", password="bobpw")
    assert_accepted(raw, b.port, username="carol", password="carolpw")
    # the clients already connected stay connected and keep working
    assert alice.is_open() and bob.is_open()
    bob.publish("hup/x", b"still here", qos=1, mid=9)
    assert alice.recv_publish().payload == b"still here"


@midge_only
def test_sighup_with_broken_password_file_keeps_old(broker, raw, tmp_path):
    pwfile = tmp_path / "pw"
    make_pwfile(pwfile, [("alice", "old")])
    b = pw_broker(broker, str(pwfile))
    rc, alice = try_connect(raw, b.port, m.MQTT311, client_id="alice-conn", username="alice", password="old")
    entry = open(pwfile).read().strip()
    pwfile.write_text("%s\nthis line is broken\n" % entry.replace("alice", "newuser"))
    sighup(b, "Error reloading security settings, the old ones stay:")
    assert re.search(r"Error reloading security settings, the old ones stay: %s:2: " % re.escape(str(pwfile)),
                     b.log()), b.log()[-2000:]
    assert reloads(b) == 0
    assert_accepted(raw, b.port, username="alice", password="old")
    assert_refused(raw, b.port, 4, 0x86, username="newuser", password="old")
    assert alice.is_open()
    # a missing file on reload: the same
    os.unlink(pwfile)
    sighup(b, "Error reloading security settings, the old ones stay: %s: No such file or directory" % pwfile)
    assert_accepted(raw, b.port, username="alice", password="old")
    # fixed: the next SIGHUP takes it
    make_pwfile(pwfile, [("newuser", "fresh")])
    sighup(b)
    assert_accepted(raw, b.port, username="newuser", password="fresh")
    assert_refused(raw, b.port, 4, 0x86, username="alice", password="old")
    assert b.running()


# ---------------------------------------------------------------- pipelining and early closes

@midge_only
def test_packets_pipelined_behind_connect_wait_for_the_check(broker, raw, tmp_path):
    """A PUBLISH sent in the same write as the CONNECT is handled only after the password check: routed
    when the password is right, never when it is wrong."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "right")], "midge", ("-I", "20000"))
    b = pw_broker(broker, pw, anon=True)
    rc, sub = try_connect(raw, b.port, m.MQTT311, client_id="watch")
    sub.subscribe("pipe/#")
    bad = raw_from(raw, b.port, fresh_source())
    bad.send(m.connect("bad", username="alice", password="wrong") +
             m.publish("pipe/bad", b"must not pass", qos=1, mid=1) + m.subscribe(2, [("pipe/#", 0)]))
    got = bad.expect_closed()
    assert [p.type for p in got] == [m.CONNACK] and got[0].rc == 4, got
    good = raw_from(raw, b.port, fresh_source())
    good.send(m.connect("good", username="alice", password="right") +
              m.publish("pipe/good", b"ok", qos=1, mid=1))
    assert good.expect(m.CONNACK).rc == 0
    assert good.wait_for(m.PUBACK, 1).mid == 1
    assert sub.recv_publish().payload == b"ok"
    with pytest.raises(socket.timeout):
        sub.recv(0.3)


@midge_only
def test_clients_closing_during_the_check(broker, raw, tmp_path):
    """Clients that go away while their password is being checked leave nothing behind."""
    pw = make_pwfile(tmp_path / "pw", [("alice", "right")], "midge", ("-I", "50000"))
    b = pw_broker(broker, pw)
    for i in range(20):
        c = raw_from(raw, b.port, fresh_source())
        c.send(m.connect("gone%d" % i, username="alice", password="right" if i % 2 else "wrong"))
        c.close()
    time.sleep(0.5)
    assert b.running()
    assert_accepted(raw, b.port, username="alice", password="right")
    # a session id used by a vanished client is free
    rc, c = try_connect(raw, b.port, m.MQTT311, client_id="gone1", username="alice", password="right")
    assert rc == 0 and c.is_open()


@midge_only
def test_sighup_changes_allow_anonymous(broker, raw, tmp_path):
    b, _ = custom_broker(broker, "listener {p0} 127.0.0.1\nallow_anonymous false\n")
    assert_refused(raw, b.port, 5, m.NOT_AUTHORIZED)
    rc, named = try_connect(raw, b.port, m.MQTT311, client_id="named", username="n")
    assert rc == 0
    b.conf_text = b.conf_text.replace("allow_anonymous false", "allow_anonymous true")
    b.write_config()
    sighup(b)
    assert_accepted(raw, b.port)
    b.conf_text = b.conf_text.replace("allow_anonymous true", "allow_anonymous false")
    b.write_config()
    rc, anon = try_connect(raw, b.port, m.MQTT311, client_id="anon-before")
    assert rc == 0
    sighup(b)
    assert_refused(raw, b.port, 5, m.NOT_AUTHORIZED)
    assert anon.is_open() and named.is_open()  # existing connections stay
