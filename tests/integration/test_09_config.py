"""09 Configuration file and command line: errors with file:line, include_dir, -p, -h, --version,
--test-config, unsupported TLS extras (dhparamfile, engines), signals (SIGHUP keeps running, SIGTERM exits 0 without
sending wills)."""
import os
import socket
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import mqttraw as m
from conftest import (IS_MOSQUITTO, broker_bin, check_sanitizer_text, free_port, port_listening,
                      run_config_check, wait_for)


def run_once(tmp_path, text, args=(), timeout=5):
    """Runs the broker on a config text expecting it to exit by itself; returns (rc, output).
    A broker still running after `timeout` is killed and the test fails."""
    path = os.path.join(str(tmp_path), "once-%d.conf" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write(text)
    proc = subprocess.Popen([broker_bin(), "-c", path] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("broker kept running on a config it should reject:\n%s"
                             % out.decode(errors="replace"))
    text = out.decode(errors="replace")
    check_sanitizer_text(text)
    return proc.returncode, text, path


def listener_line():
    return "listener %d 127.0.0.1\nallow_anonymous true\n" % free_port()


# ---------------------------------------------------------------- config errors (both brokers)

def test_unknown_option_rejected(tmp_path):
    rc, out, path = run_once(tmp_path, listener_line() + "\nfrobnicate_widgets true\n")
    assert rc != 0
    assert "frobnicate_widgets" in out
    assert "%s:4" % path in out, out


# Mosquitto reads integers with atoi(), so "abc" is 0 and "1000x" is 1000 without complaint; Midge
# rejects a number with trailing junk or a sign where none belongs.
@pytest.mark.parametrize("line", [
    "allow_anonymous maybe",
    "sys_interval -5",
    "max_keepalive 70000",
    "persistent_client_expiration 5x",
    pytest.param("max_inflight_messages abc", marks=pytest.mark.midge_only),
    pytest.param("max_packet_size 1000x", marks=pytest.mark.midge_only),
    pytest.param("max_queued_messages -3", marks=pytest.mark.midge_only),
])
def test_bad_value_rejected(tmp_path, line):
    rc, out, path = run_once(tmp_path, listener_line() + line + "\n")
    assert rc != 0
    assert "%s:3" % path in out, out
    if not IS_MOSQUITTO:
        assert line.split()[0] in out, out


def test_missing_config_file(tmp_path):
    proc = subprocess.run([broker_bin(), "-c", str(tmp_path / "nope.conf")], capture_output=True,
                          text=True, timeout=5, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    check_sanitizer_text(proc.stdout + proc.stderr)


# ---------------------------------------------------------------- include_dir, -p, -h

def test_include_dir(broker, raw, tmp_path):
    inc = tmp_path / "conf.d"
    inc.mkdir()
    port2 = free_port()
    (inc / "extra.conf").write_text("listener %d 127.0.0.1\n" % port2)
    (inc / "ignored.txt").write_text("this_would_be_an_error 1\n")  # only *.conf files are read
    b = broker("include_dir %s" % inc)
    wait_for(lambda: port_listening(port2), 5, what="included listener")
    c = raw(port2)
    assert c.connect("via-include").rc == 0
    c2 = raw(b.port)
    c2.connect("main")
    c2.subscribe("inc")
    c.publish("inc", b"both listeners share one broker", qos=1)
    assert c2.recv_publish().payload == b"both listeners share one broker"


def test_port_option_without_config(broker, raw):
    port = free_port()
    b = broker(config=False, args=["-p", str(port)], port=port)
    c = raw(b.port)
    assert c.connect("dash-p").rc == 0  # no config: anonymous local clients are allowed
    c.subscribe("p")
    c.publish("p", b"ok", qos=1)
    assert c.recv_publish().payload == b"ok"


def test_help_prints_usage():
    proc = subprocess.run([broker_bin(), "-h"], capture_output=True, text=True, timeout=5,
                          stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    check_sanitizer_text(out)
    assert "usage" in out.lower()
    assert "-c" in out and "-p" in out


# ---------------------------------------------------------------- signals (both brokers)

def test_sighup_keeps_running(broker, raw):
    b = broker()
    c = raw(b.port)
    c.connect("through-hup")
    c.subscribe("hup")
    os.kill(b.pid, signal.SIGHUP)
    # still alive, existing client still connected, new clients welcome
    assert c.is_open(2)
    assert b.running()
    c.publish("hup", b"after", qos=1)
    assert c.recv_publish().payload == b"after"
    n = raw(b.port)
    assert n.connect("new-after-hup").rc == 0


# Mosquitto 2.0.11 keeps the max_queued_messages it started with across SIGHUP.
@pytest.mark.midge_only
def test_sighup_applies_new_limits(broker, raw, request):
    """SIGHUP re-reads the file: a lowered max_queued_messages holds for the next offline queue."""
    b = broker("max_queued_messages 100", start=False)
    # Started as root, the broker drops privileges to `user` (mosquitto), as Mosquitto does: the file
    # must stay readable for that user to reload it, so it lives in a world-readable directory.
    shared = tempfile.mkdtemp(prefix="midge-hup-")
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    os.chmod(shared, 0o755)
    b.conf_path = os.path.join(shared, "broker.conf")
    b.write_config()
    os.chmod(b.conf_path, 0o644)
    b.start()
    s = raw(b.port)
    s.connect("hup-queue", clean=False)
    s.subscribe("hupq/t", qos=1)
    s.disconnect()
    b.conf_text += "\nmax_queued_messages 2\n"
    b.write_config()
    os.kill(b.pid, signal.SIGHUP)
    p = raw(b.port)
    p.connect("hup-pub")
    deadline = time.monotonic() + 5
    # The reload happens in the broker's main loop: publish batches until the new limit shows.
    got = []
    while time.monotonic() < deadline:
        for i in range(5):
            p.publish("hupq/t", b"m%d" % i, qos=1)
        s2 = raw(b.port)
        s2.connect("hup-queue", clean=False)
        got = []
        try:
            while True:
                got.append(s2.recv_publish(timeout=0.5))
        except (socket.timeout, AssertionError):
            pass
        s2.disconnect()
        if len(got) <= 2:
            break
    assert 1 <= len(got) <= 2, "after SIGHUP, %d messages were queued (limit 2)" % len(got)
    assert b.running()


# Mosquitto 2.0.11 publishes the wills of all connected clients while shutting down on SIGTERM;
# Midge treats an orderly broker shutdown as not the clients' failure and sends no wills.
@pytest.mark.midge_only
def test_sigterm_exits_0_without_wills(broker, raw):
    b = broker()
    w = raw(b.port)
    w.connect("watcher")
    w.subscribe("will/#", qos=1)
    dying = [raw(b.port) for _ in range(3)]
    for i, d in enumerate(dying):
        d.connect("d%d" % i, will=("will/%d" % i, b"should not be sent", 1, False))
    assert w.is_open()
    b.proc.send_signal(signal.SIGTERM)
    got = w.expect_closed(10)
    assert [p for p in got if p.type == m.PUBLISH] == []
    b.proc.wait(10)
    assert b.proc.returncode == 0


def test_sigterm_exits_0_with_clients(broker, raw):
    b = broker()
    clients = [raw(b.port) for _ in range(5)]
    for i, c in enumerate(clients):
        c.connect("c%d" % i, clean=bool(i % 2))
        c.subscribe("x/#", qos=1)
    b.proc.send_signal(signal.SIGTERM)
    for c in clients:
        c.expect_closed(10)
    b.proc.wait(10)
    assert b.proc.returncode == 0


def test_restart_same_port(broker, raw):
    b = broker()
    c = raw(b.port)
    c.connect("before")
    b.restart()  # SIGTERM, exit code 0 asserted, started again with the same config and port
    c.expect_closed(3)
    c2 = raw(b.port)
    assert c2.connect("after").rc == 0
    c2.subscribe("rs")
    c2.publish("rs", b"back", qos=1)
    assert c2.recv_publish().payload == b"back"


def test_sigterm_idle_exits_0(broker):
    b = broker()
    assert b.stop() == 0


# ---------------------------------------------------------------- Midge's own CLI and options

@pytest.mark.midge_only  # Mosquitto 2.0.11 has no --version (it prints its version with -h)
def test_version_option():
    proc = subprocess.run([broker_bin(), "--version"], capture_output=True, text=True, timeout=5,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0
    out = proc.stdout + proc.stderr
    assert "midge" in out.lower()
    assert any(ch.isdigit() for ch in out)


@pytest.mark.midge_only  # --test-config is Midge's (Mosquitto 2.0.11 has none)
def test_test_config_good(tmp_path):
    r = run_config_check(tmp_path, listener_line() + "sys_interval 5\nmax_inflight_messages 10\n")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.midge_only
def test_test_config_bad(tmp_path):
    r = run_config_check(tmp_path, listener_line() + "max_inflight_messages 10\nno_such_thing 1\n")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "no_such_thing" in out and "%s:4" % r.conf_path in out, out


@pytest.mark.midge_only
def test_test_config_does_not_listen(tmp_path):
    port = free_port()
    r = run_config_check(tmp_path, "listener %d 127.0.0.1\n" % port)
    assert r.returncode == 0
    # it returned, and nothing is left listening on the port
    assert not port_listening(port)


@pytest.mark.midge_only  # Mosquitto supports these; Midge's TLS listeners do not
@pytest.mark.parametrize("line", ["dhparamfile /nonexistent/dh.pem", "tls_engine pkcs11",
                                  "tls_keyform engine"])
def test_tls_extras_not_supported(tmp_path, line):
    rc, out, path = run_once(tmp_path, listener_line() + line + "\n")
    assert rc != 0
    assert "supported" in out, out
    assert line.split()[0] in out


@pytest.mark.midge_only  # Midge's own options must be accepted
@pytest.mark.parametrize("line", ["connect_timeout 5", "max_output_bytes 65536",
                                  "listen_backlog 64"])
def test_midge_options_accepted(tmp_path, line):
    r = run_config_check(tmp_path, listener_line() + line + "\n")
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- listeners and limits (both brokers)

def test_max_connections(broker, raw):
    """max_connections on a listener: connections past the limit are closed at once."""
    b = broker("max_connections 2")
    a = raw(b.port)
    a.connect("mc-1")
    c = raw(b.port)
    c.connect("mc-2")
    third = raw(b.port)
    third.send(m.connect("mc-3"))
    third.expect_closed(3)
    a.disconnect()
    # A freed slot is usable again (the broker sees the close first: retry briefly).
    deadline = time.monotonic() + 5
    while True:
        n = raw(b.port)
        n.send(m.connect("mc-4"))
        try:
            assert n.expect(m.CONNACK, 1).rc == 0
            break
        except (AssertionError, socket.timeout, OSError, m.Closed):
            if time.monotonic() > deadline:
                raise


def test_socket_domain_ipv4_only(broker, raw):
    """socket_domain ipv4 on a wildcard listener: reachable over 127.0.0.1, not over ::1."""
    port = free_port()
    b = broker("listener %d\nsocket_domain ipv4\nallow_anonymous true" % port, listener=False, port=port)
    c = raw(b.port)
    assert c.connect("v4").rc == 0
    with pytest.raises(OSError):
        socket.create_connection(("::1", port), timeout=2).close()


def test_bind_address_ipv6(broker):
    """A listener bound to ::1 serves IPv6 clients."""
    port = free_port()
    b = broker("listener %d ::1\nallow_anonymous true" % port, listener=False, port=port, start=False)
    b.start(wait=False)
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection(("::1", port), timeout=2)
            break
        except OSError:
            assert time.monotonic() < deadline, "no IPv6 listener on [::1]:%d" % port
            time.sleep(0.05)
    s.sendall(m.connect("v6"))
    s.settimeout(3)
    assert s.recv(4) == b"\x20\x02\x00\x00"
    s.close()


def test_message_size_limit(broker, raw):
    """message_size_limit: a larger payload is acknowledged (QoS 1) but not delivered."""
    b = broker("message_size_limit 10")
    sub = raw(b.port)
    sub.connect("msl-sub")
    sub.subscribe("msl", qos=1)
    pub = raw(b.port)
    pub.connect("msl-pub")
    pub.publish("msl", b"x" * 20, qos=1)      # waits for its PUBACK
    pub.publish("msl", b"small", qos=1)
    assert sub.recv_publish(3).payload == b"small"


def test_max_keepalive_v311_rejected(broker, raw):
    """max_keepalive: a 3.1.1 client asking for longer is refused with 'identifier rejected' (0x02),
    as Mosquitto documents for clients that cannot be told a server keepalive."""
    if IS_MOSQUITTO:
        pytest.skip("Mosquitto 2.0.11 accepts the longer keepalive, unlike its documentation")
    b = broker("max_keepalive 10")
    c = raw(b.port)
    c.send(m.connect("mk", keepalive=60))
    assert c.expect(m.CONNACK, 3).rc == 2
    ok = raw(b.port)
    assert ok.connect("mk2", keepalive=10).rc == 0


def test_log_dest_file_and_log_type(broker, raw, request):
    """log_dest file writes there; log_type limits what is written."""
    # Mosquitto opens the file after dropping root privileges: use a directory anyone may write.
    shared = tempfile.mkdtemp(prefix="midge-log-")
    os.chmod(shared, 0o777)
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    path = os.path.join(shared, "broker-file.log")
    b = broker("log_dest file %s\nlog_type subscribe\nconnection_messages true" % path, verbose=False)
    c = raw(b.port)
    c.connect("logfile-client")
    c.subscribe("logged/topic")
    text = wait_for(lambda: open(path).read() if os.path.exists(path) and
                    "logged/topic" in open(path).read() else None, 5)
    assert text and "logfile-client" in text
    assert "New client connected" not in text  # notice is not among the chosen types


@pytest.mark.midge_only
def test_daemon_and_pid_file(tmp_path):
    """-d puts the broker in the background, pid_file holds its pid, SIGTERM stops it."""
    port = free_port()
    pidf = str(tmp_path / "midge.pid")
    os.chmod(str(tmp_path), 0o755)
    conf = str(tmp_path / "d.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npid_file %s\nlog_dest none\n" % (port, pidf))
    rc = subprocess.run([broker_bin(), "-c", conf, "-d"], timeout=10, stdin=subprocess.DEVNULL).returncode
    assert rc == 0
    pid = None
    try:
        pid = int(wait_for(lambda: open(pidf).read().strip() if os.path.exists(pidf) else None, 5))
        assert wait_for(lambda: port_listening(port), 5)
        os.kill(pid, 0)  # alive
    finally:
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                except ProcessLookupError:
                    break
            else:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError("daemon did not exit on SIGTERM")


def test_bind_interface_lo(broker, raw):
    """bind_interface: a wildcard listener tied to the loopback interface serves 127.0.0.1."""
    port = free_port()
    b = broker("listener %d\nbind_interface lo\nsocket_domain ipv4\nallow_anonymous true" % port,
               listener=False, port=port)
    assert raw(b.port).connect("on-lo").rc == 0


def test_bind_interface_unknown_fails_to_start(tmp_path):
    """A listener on an interface that does not exist: the broker says so and exits non-zero."""
    rc, out, _ = run_once(tmp_path, "listener %d\nbind_interface no-such-if0\nallow_anonymous true\n"
                          % free_port())
    assert rc != 0
    if not IS_MOSQUITTO:
        assert "interface no-such-if0" in out, out


def test_trailing_comment_and_extra_words_accepted(broker, raw):
    """What Mosquitto accepts after an option's values (a comment, stray words) loads here too."""
    b = broker("retain_available true # we keep retained messages\nmax_inflight_messages 20 30")
    assert raw(b.port).connect("after-comments").rc == 0
    if not IS_MOSQUITTO:
        assert "ignored extra argument '30' for 'max_inflight_messages'" in b.log()
