"""midge-passwd against Mosquitto 2's mosquitto_passwd and broker: files it writes are accepted by
/usr/sbin/mosquitto (password_file, allow_anonymous false), and its -c, -b, -D, -U, -H, -I behaviours match
mosquitto_passwd's on the same inputs (hashes differ by salt: the structure, exit codes and messages are compared,
with the program name mapped). midge-passwd comes from <build>/bin (MIDGE_BUILD); the broker these tests use is
always Debian's mosquitto, so they run the same with MIDGE_TEST_BROKER=mosquitto."""
import os
import pwd
import re
import subprocess
import time

import pytest

from conftest import ROOT, SANITIZE, SANITIZER_TEXT, free_port, wait_for

BUILD = os.environ.get("MIDGE_BUILD") or os.path.join(ROOT, "build")
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
TIMEOUT = 40 if SANITIZE else 20

ENTRY7 = re.compile(r"^([^:\n]+):\$7\$(\d+)\$([A-Za-z0-9+/]{16})\$([A-Za-z0-9+/]{86}==)$")
ENTRY6 = re.compile(r"^([^:\n]+):\$6\$([A-Za-z0-9+/]{16})\$([A-Za-z0-9+/]{86}==)$")

pytestmark = pytest.mark.skipif(not (os.access(MOSQUITTO, os.X_OK) and os.access(MOSQUITTO_PASSWD, os.X_OK)),
                                reason="Debian's mosquitto and mosquitto_passwd are needed")


def midge_passwd():
    path = os.path.join(BUILD, "bin", "midge-passwd")
    if not os.access(path, os.X_OK):
        pytest.fail("%s not built (set MIDGE_BUILD)" % path, pytrace=False)
    return path


def run(impl, args, stdin=None):
    prog = midge_passwd() if impl == "midge" else MOSQUITTO_PASSWD
    r = subprocess.run([prog] + list(args), input=stdin, capture_output=True, timeout=TIMEOUT, text=True)
    if SANITIZE and impl == "midge":
        assert not any(s in r.stderr for s in SANITIZER_TEXT), r.stderr
    return r


def shape(path):
    """The file with salts and hashes blanked, and the iteration counts left: comparable between the tools."""
    out = []
    with open(path) as f:
        for line in f.read().splitlines():
            m7, m6 = ENTRY7.match(line), ENTRY6.match(line)
            if m7:
                out.append("%s:$7$%s$SALT$HASH" % (m7.group(1), m7.group(2)))
            elif m6:
                out.append("%s:$6$SALT$HASH" % m6.group(1))
            else:
                out.append(line)
    return out


def both(tmp_path, name, args, setup=None, stdin=None):
    """Runs the same command with each tool on its own copy of the file; returns {impl: (result, shape)}."""
    res = {}
    for impl in ("midge", "mosquitto"):
        d = tmp_path / impl
        d.mkdir(exist_ok=True)
        path = d / name
        if setup is not None:
            path.write_text(setup)
        r = run(impl, [a if a != "FILE" else str(path) for a in args], stdin)
        res[impl] = (r, shape(path) if path.exists() else None)
    return res


def same(res, tmp_path, iterations_differ=True):
    (rm, sm), (rq, sq) = res["midge"], res["mosquitto"]
    assert rm.returncode == rq.returncode, (rm, rq)
    # Messages name the file each tool worked on: map the directories.
    err_m = rm.stderr.replace(str(tmp_path / "midge"), "DIR")
    err_q = rq.stderr.replace(str(tmp_path / "mosquitto"), "DIR")
    assert err_m == err_q
    if iterations_differ and sm is not None and sq is not None:
        # The default counts differ by design (midge 2000, mosquitto 101).
        sm = [re.sub(r"\$7\$2000\$", "$7$DEF$", s) for s in sm]
        sq = [re.sub(r"\$7\$101\$", "$7$DEF$", s) for s in sq]
    assert sm == sq


class Broker:
    """Debian's mosquitto with a password file and no anonymous access, on a free port."""

    def __init__(self, tmp_path, pwfile):
        self.port = free_port()
        conf = tmp_path / "mosquitto.conf"
        # Started as root, mosquitto would become user "mosquitto", which cannot read the test's private directory.
        me = pwd.getpwuid(os.geteuid()).pw_name
        conf.write_text("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nuser %s\n"
                        % (self.port, pwfile, me))
        self.log = open(tmp_path / "mosquitto.log", "w+")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        text = lambda: open(tmp_path / "mosquitto.log").read()  # noqa: E731
        assert wait_for(lambda: "running" in text() or self.proc.poll() is not None, 10), text()
        assert self.proc.poll() is None, text()

    def pub(self, user, password):
        return subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(self.port), "-t", "t", "-m", "m",
                               "-u", user, "-P", password], capture_output=True, timeout=TIMEOUT, text=True)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def mosquitto_with(tmp_path):
    started = []

    def start(pwfile):
        b = Broker(tmp_path, pwfile)
        started.append(b)
        return b
    yield start
    for b in started:
        b.stop()


def test_mosquitto_accepts_midge_passwd_file(tmp_path, mosquitto_with):
    pw = tmp_path / "pw"
    assert run("midge", ["-c", "-b", str(pw), "alice", "alice-secret"]).returncode == 0
    assert run("midge", ["-b", str(pw), "bob", "b0b:pass word"]).returncode == 0
    assert run("midge", ["-H", "sha512", "-b", str(pw), "carol", "carol6"]).returncode == 0
    assert run("midge", ["-I", "7", "-b", str(pw), "dave", "dave7"]).returncode == 0
    lines = pw.read_text().splitlines()
    assert [ENTRY7.match(lines[0]).group(2), ENTRY7.match(lines[1]).group(2)] == ["2000", "2000"]
    assert ENTRY6.match(lines[2]) and ENTRY7.match(lines[3]).group(2) == "7"

    b = mosquitto_with(pw)
    for user, password in (("alice", "alice-secret"), ("bob", "b0b:pass word"), ("carol", "carol6"),
                           ("dave", "dave7")):
        r = b.pub(user, password)
        assert r.returncode == 0, (user, r.stderr)
    for user, password in (("alice", "alice-secreT"), ("alice", "carol6"), ("eve", "alice-secret"),
                           ("carol", "")):
        r = b.pub(user, password)
        assert r.returncode != 0, user
        assert "not authorised" in r.stderr.lower() or "refused" in r.stderr.lower(), r.stderr
    r = subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(b.port), "-t", "t", "-m", "m"],
                       capture_output=True, timeout=TIMEOUT, text=True)
    assert r.returncode != 0  # anonymous refused


def test_create_and_add(tmp_path):
    same(both(tmp_path, "pw", ["-c", "-b", "FILE", "alice", "pw1"]), tmp_path)
    same(both(tmp_path, "pw", ["-b", "FILE", "bob", "pw2"],
              setup=None), tmp_path)


def test_update_delete_sequence(tmp_path):
    for args in (["-c", "-b", "FILE", "alice", "pw1"], ["-b", "FILE", "bob", "pw2"],
                 ["-H", "sha512", "-b", "FILE", "carol", "pw3"], ["-I", "9", "-b", "FILE", "alice", "new"],
                 ["-D", "FILE", "bob"], ["-D", "FILE", "bob"], ["-D", "FILE", "nobody"],
                 ["-b", "FILE", "dan", "x"]):
        res = {}
        for impl in ("midge", "mosquitto"):
            path = tmp_path / impl / "pw"
            path.parent.mkdir(exist_ok=True)
            r = run(impl, [a if a != "FILE" else str(path) for a in args])
            res[impl] = (r, shape(path))
        same(res, tmp_path)
    final = shape(tmp_path / "midge" / "pw")
    assert final == ["alice:$7$9$SALT$HASH", "carol:$6$SALT$HASH", "dan:$7$2000$SALT$HASH"]


def test_update_plain_text_file(tmp_path, mosquitto_with):
    plain = "alice:alice-secret\nbob:b0b\n"
    same(both(tmp_path, "pw", ["-U", "FILE"], setup=plain), tmp_path)
    b = mosquitto_with(tmp_path / "midge" / "pw")
    assert b.pub("alice", "alice-secret").returncode == 0
    assert b.pub("bob", "b0b").returncode == 0
    assert b.pub("bob", "b0c").returncode != 0


@pytest.mark.parametrize("args", [
    [], ["-c", "-D", "FILE", "u"], ["-c", "-U", "FILE"], ["-D", "-U", "FILE"], ["-b", "-D", "FILE", "u"],
    ["-H", "md5", "-b", "FILE", "u", "p"], ["-H"], ["-I"], ["-I", "0", "-b", "FILE", "u", "p"],
    ["-c", "-b", "FILE", "u"], ["-c", "FILE"], ["-D", "FILE"], ["-U"], ["-U", "FILE", "x"],
    ["-b", "FILE", "u"], ["FILE"], ["-b", "FILE", "a:b", "p"], ["-b", "FILE", "a\tb", "p"],
    ["-b", "FILE", "u", "p"], ["-D", "FILE", "u"], ["-U", "FILE"],
], ids=lambda a: " ".join(a) or "none")
def test_errors_match(tmp_path, args):
    """Argument errors and a missing file: same exit status and stderr (the usage text names the program)."""
    res = both(tmp_path, "missing", args)
    (rm, _), (rq, _) = res["midge"], res["mosquitto"]
    assert rm.returncode == rq.returncode == 1
    assert rm.stderr.replace(str(tmp_path / "midge"), "DIR") == rq.stderr.replace(str(tmp_path / "mosquitto"), "DIR")
    assert bool(rm.stdout) == bool(rq.stdout)


@pytest.mark.parametrize("stdin,code", [("pw\npw\n", 0), ("pw\npx\n", 2), ("\n", 1), ("", 1)],
                         ids=["match", "mismatch", "empty", "eof"])
def test_prompted_password(tmp_path, stdin, code):
    res = both(tmp_path, "pw", ["-c", "FILE", "alice"], stdin=stdin)
    same(res, tmp_path)
    assert res["midge"][0].returncode == code
    assert res["midge"][0].stdout == res["mosquitto"][0].stdout
    res = both(tmp_path, "pw2", ["FILE", "bob"], setup="alice:$6$nU1UuMWjya3atfCI$GYmb4zKNPSy6s0i5hctqSuwm5O/YtRz6JsM0XJeSflh+tpuetAPUukM6"
               "Qib1eWqaWHgmc50eVeIg0CwgKWh57g==\n", stdin=stdin)
    same(res, tmp_path)


def test_corrupt_file_kept(tmp_path):
    """mosquitto_passwd reports a corrupt line and then drops the rest of the file; midge-passwd keeps it."""
    bad = "garbage\nalice:$7$101$x$y\n"
    res = both(tmp_path, "pw", ["-b", "FILE", "bob", "pw"], setup=bad)
    assert res["midge"][0].stderr == res["mosquitto"][0].stderr == "Error: Corrupt password file at line 1.\n"
    assert res["midge"][0].returncode == 1
    assert (tmp_path / "midge" / "pw").read_text() == bad
    assert os.listdir(tmp_path / "midge") == ["pw"]  # no backup left behind


def test_comments_kept(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("# users\n\nalice:$6$nU1UuMWjya3atfCI$GYmb4zKNPSy6s0i5hctqSuwm5O/YtRz6JsM0XJeSflh+tpuetAPUukM6"
                  "Qib1eWqaWHgmc50eVeIg0CwgKWh57g==")
    assert run("midge", ["-b", str(pw), "bob", "x"]).returncode == 0
    assert run("midge", ["-D", str(pw), "alice"]).returncode == 0
    assert shape(pw) == ["# users", "", "bob:$7$2000$SALT$HASH"]
