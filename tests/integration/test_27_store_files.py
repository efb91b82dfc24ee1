"""27 The store file (issue 7): refusing or moving aside a corrupt, foreign (Mosquitto) or newer store at
start, and a full store (persistence_max_size): refusals while it is full, recovery once there is room."""
import os
import subprocess
import re
import sqlite3
import time

import pytest

import mqttraw as m
from conftest import free_port, port_listening, run_expect_failure
from persistutil import (corrupt_names, payloads, persistent_broker, offline, receive_all, restart,
                         store_conf, v5, v311, wait_log)

# Mosquitto persists differently (a snapshot every autosave_interval) and has none of the persistence_*
# options Midge adds.
pytestmark = pytest.mark.midge_only

HOW = ["stop", "kill"]



# ---------------------------------------------------------------- corrupt and foreign stores

GARBAGE = b"this is not an SQLite database, just text that happens to be where the store is\n" * 100
MOSQUITTO_DB = b"\x00\xb5\x00mosquitto db" + bytes(range(256)) * 8


def failing_conf(loc, extra=""):
    return "listener %d 127.0.0.1\nallow_anonymous true\n" % free_port() + store_conf(loc, extra)


def damaged_store(broker, raw, tmp_path, loc):
    """A real store with its first page (after the 100-byte header) overwritten: the schema is gone."""
    b = broker(conf=store_conf(loc))
    p = v311(raw, b.port, "dmg", clean=True)
    p.publish("dmg/t", b"x", qos=1, retain=True)
    offline(b, p)
    b.stop()
    path = os.path.join(loc, "midge.db")
    for extra in ("-wal", "-shm"):     # a clean stop checkpointed everything into the file
        if os.path.exists(path + extra):
            os.unlink(path + extra)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xa5" * 3996)
    with open(path, "rb") as f:
        return f.read()


def bad_store(broker, raw, tmp_path, kind):
    """A store directory holding garbage or a damaged store: (location, store path, its bytes)."""
    loc = str(tmp_path / "bad")
    path = os.path.join(loc, "midge.db")
    if kind == "garbage":
        os.makedirs(loc)
        with open(path, "wb") as f:
            f.write(GARBAGE)
        return loc, path, GARBAGE
    return loc, path, damaged_store(broker, raw, tmp_path, loc)


@pytest.mark.parametrize("kind", ["garbage", "damaged"])
def test_corrupt_store_refused(broker, raw, tmp_path, kind):
    loc, path, content = bad_store(broker, raw, tmp_path, kind)
    conf = failing_conf(loc)
    rc, out = run_expect_failure(tmp_path, conf)
    assert rc != 0, out
    assert path in out, out
    with open(path, "rb") as f:
        assert f.read() == content, "the refused store was modified"
    assert corrupt_names(path) == []


@pytest.mark.parametrize("kind", ["garbage", "damaged"])
def test_corrupt_store_moved_aside(broker, raw, tmp_path, kind):
    loc, path, content = bad_store(broker, raw, tmp_path, kind)
    b = broker(conf=store_conf(loc, "persistence_corrupt move_aside"))
    moved = corrupt_names(path)
    assert len(moved) == 1, moved
    assert re.fullmatch(re.escape(path) + r"\.corrupt-\d{8}T\d{6}", moved[0]), moved[0]
    with open(moved[0], "rb") as f:
        assert f.read() == content
    log = b.log()
    warn = [ln for ln in log.splitlines() if moved[0] in ln]
    assert warn and path in warn[0], log[-3000:]
    # and it starts with an empty store that works
    c = v311(raw, b.port, "fresh-sub", clean=True)
    c.subscribe("dmg/#", qos=1)
    c.expect_nothing(0.3)
    p = v311(raw, b.port, "fresh", clean=True)
    p.publish("fresh/t", b"new store", qos=1, retain=True)
    restart(b, "stop")
    assert corrupt_names(path) == moved
    c = v311(raw, b.port, "fresh-sub", clean=True)
    c.subscribe("fresh/t", qos=1)
    assert c.recv_publish().payload == b"new store"


@pytest.mark.parametrize("policy", ["refuse", "move_aside"])
def test_mosquitto_store_refused(tmp_path, policy):
    loc = str(tmp_path / "mosq")
    os.makedirs(loc)
    path = os.path.join(loc, "midge.db")
    with open(path, "wb") as f:
        f.write(MOSQUITTO_DB)
    rc, out = run_expect_failure(tmp_path, failing_conf(loc, "persistence_corrupt %s" % policy))
    assert rc != 0, out
    # (the test's own directory is named after it: look for the word elsewhere)
    assert path in out and "mosquitto" in out.lower().replace(str(tmp_path).lower(), ""), out
    with open(path, "rb") as f:
        assert f.read() == MOSQUITTO_DB
    assert corrupt_names(path) == []
    assert sorted(os.listdir(loc)) == ["midge.db"]


def test_mosquitto_db_file_name_refused(tmp_path):
    """persistence_file mosquitto.db, as a Mosquitto config would have it."""
    loc = str(tmp_path / "mosq")
    os.makedirs(loc)
    path = os.path.join(loc, "mosquitto.db")
    with open(path, "wb") as f:
        f.write(MOSQUITTO_DB)
    conf = "listener %d 127.0.0.1\n" % free_port() + store_conf(loc, file="mosquitto.db")
    rc, out = run_expect_failure(tmp_path, conf)
    assert rc != 0 and path in out and "mosquitto" in out.lower().replace(str(tmp_path).lower(), ""), out
    with open(path, "rb") as f:
        assert f.read() == MOSQUITTO_DB


@pytest.mark.parametrize("policy", ["refuse", "move_aside"])
def test_newer_schema_refused(broker, raw, tmp_path, policy):
    loc = str(tmp_path / "newer")
    b = broker(conf=store_conf(loc))
    p = v311(raw, b.port, "nw", clean=True)
    p.publish("nw/t", b"x", qos=1, retain=True)
    offline(b, p)
    b.stop()
    path = os.path.join(loc, "midge.db")
    db = sqlite3.connect(path)
    ours = db.execute("PRAGMA user_version").fetchone()[0]
    assert 1 <= ours < 99
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    port = free_port()
    rc, out = run_expect_failure(tmp_path, "listener %d 127.0.0.1\n" % port
                                 + store_conf(loc, "persistence_corrupt %s" % policy))
    assert rc != 0, out
    assert path in out, out
    numbers = [int(x) for x in re.findall(r"\d+", out.replace(str(tmp_path), ""))]
    assert 99 in numbers and ours in numbers, out
    assert not port_listening(port)
    assert corrupt_names(path) == []
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 99
    assert db.execute("SELECT count(*) FROM retained").fetchone()[0] == 1
    db.close()


# ---------------------------------------------------------------- a full store

@pytest.mark.parametrize("qos", [1, 2])
def test_full_store_refuses_then_recovers(broker, raw, tmp_path, qos):
    """persistence_max_size 256 KiB with an offline subscriber: 10 KB QoS 1 (2) messages are acknowledged
    until the store is full, then refused (MQTT 5: PUBACK (PUBREC) 0x97 or 0x80; MQTT 3.1.1: no PUBACK
    (PUBREC), the connection closed), with "Storage failure" in the log; a SUBSCRIBE that cannot be kept
    closes the connection. Every message acknowledged with success is delivered; once the subscriber
    drained the queue, writes succeed again and the log says so."""
    b = persistent_broker(broker, tmp_path, extra="persistence_max_size 262144\nmax_queued_messages 0\n"
                          "max_queued_bytes 0")
    s = v5(raw, b.port, "full-sub")
    s.subscribe([("full/t", m.sub_options(qos=2))])
    offline(b, s)
    p = v5(raw, b.port, "full-pub", clean=True, expiry=None)
    ok, refused = [], None
    for i in range(1, 80):
        body = (b"%05d" % i) * 2000
        ack = p.publish("full/t", body, qos=qos, mid=i)
        assert ack.type == (m.PUBACK if qos == 1 else m.PUBREC if ack.reason >= 0x80 else m.PUBCOMP), ack
        if ack.reason == 0:
            ok.append(body)
            continue
        refused = ack
        break
    assert refused is not None, "80 x 10 KB acknowledged with a 256 KiB store"
    assert refused.reason in (m.QUOTA_EXCEEDED, m.UNSPECIFIED_ERROR), refused
    assert len(ok) >= 5, "only %d messages fit" % len(ok)
    wait_log(b, "Storage failure")
    # MQTT 3.1.1 has no way to say no: the connection is closed without PUBACK
    q = v311(raw, b.port, "full-311", clean=True)
    q.send(m.publish("full/t", b"x" * 10000, qos=qos, mid=5))
    got = q.expect_closed(5)
    assert not [g for g in got if g.type in (m.PUBACK, m.PUBREC)], got
    # a subscription that cannot be stored (a 20 KB filter needs new pages) closes the connection
    f = v311(raw, b.port, "full-subscriber")
    f.send(m.subscribe(1, [("full/" + "f" * 20000, 1)]))
    got = f.expect_closed(5)
    assert not [g for g in got if g.type == m.SUBACK], got
    # the subscriber gets every message acknowledged with success
    s = v5(raw, b.port, "full-sub")
    assert s.connack.session_present is True
    got = payloads(receive_all(s, quiet=0.6))
    missing = [x[:5] for x in ok if x not in got]
    assert not missing, "acknowledged with success, never delivered: %r" % missing
    assert [x for x in got if x in ok] == ok, "out of order"
    # the rows are deleted: there is room again
    deadline = time.monotonic() + 5
    p = v5(raw, b.port, "full-pub2", clean=True, expiry=None)
    mid = 1
    while True:
        ack = p.publish("full/t", b"after", qos=qos, mid=mid)
        if ack.reason == 0:
            break
        assert time.monotonic() < deadline, "still refused 5 s after the queue was drained: %r" % ack
        mid += 1
        time.sleep(0.2)
    wait_log(b, "Storage writes succeed again")
    assert b"after" in payloads(receive_all(s, quiet=0.5))


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs (a real filesystem that fills up: write(2) fails with ENOSPC), or a skip where mounting
    is not allowed (not root, or a container without the capability)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                                            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_refuses_then_recovers(broker, raw, small_fs):
    """The disk itself fills up (a 1 MiB tmpfs, most of it taken by another file): QoS 1 messages to an
    offline subscriber are acknowledged until a write fails with ENOSPC, then refused with 0x97 or 0x80 and
    "Storage failure" logged; once the other file is removed, publishes are acknowledged again, the log says
    so, and the subscriber gets every message acknowledged with success."""
    loc = str(small_fs / "store")
    filler = small_fs / "filler"
    b = broker(conf=store_conf(loc, "max_queued_messages 0\nmax_queued_bytes 0"))
    s = v5(raw, b.port, "disk-sub")
    s.subscribe([("disk/t", m.sub_options(qos=1))])
    offline(b, s)
    # leave ~192 KiB free for the store to grow into
    st = os.statvfs(str(small_fs))
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 192 * 1024))
    p = v5(raw, b.port, "disk-pub", clean=True, expiry=None)
    ok, refused = [], None
    for i in range(1, 200):
        body = (b"%05d" % i) * 1000
        ack = p.publish("disk/t", body, qos=1, mid=i)
        assert ack.type == m.PUBACK, ack
        if ack.reason != 0:
            refused = ack
            break
        ok.append(body)
    assert refused is not None, "200 x 5 KB acknowledged with ~192 KiB free"
    assert refused.reason in (m.QUOTA_EXCEEDED, m.UNSPECIFIED_ERROR), refused
    assert ok, "nothing fitted"
    wait_log(b, "Storage failure")
    os.unlink(filler)  # space returns
    deadline = time.monotonic() + 5
    mid = 1000
    while True:
        ack = p.publish("disk/t", b"after", qos=1, mid=mid)
        if ack.reason == 0:
            break
        assert time.monotonic() < deadline, "still refused 5 s after space returned: %r" % ack
        mid += 1
        time.sleep(0.2)
    wait_log(b, "Storage writes succeed again")
    s = v5(raw, b.port, "disk-sub")
    got = payloads(receive_all(s, quiet=0.6))
    missing = [x[:5] for x in ok if x not in got]
    assert not missing, "acknowledged with success, never delivered: %r" % missing
    assert got[-1] == b"after", got[-3:]
