"""Helpers for test_25_persistence: brokers with a store, restarts by SIGTERM or kill -9, a commit
barrier (a retained QoS 1 publish, acknowledged only once committed in durable mode), pipelined
publishing, and collecting what a client receives."""
import glob
import itertools
import os
import socket
import time

import mqttraw as m
from conftest import wait_for
from v5util import connect5

SEI = m.SESSION_EXPIRY_INTERVAL
_barriers = itertools.count(1)


def store_conf(location, extra="", file=None):
    """Config lines for a store in `location` (joined to the file name as Mosquitto does)."""
    lines = ["persistence true", "persistence_location %s/" % location]
    if file:
        lines.append("persistence_file %s" % file)
    return "\n".join(lines) + "\n" + extra + "\n"


def persistent_broker(broker, tmp_path, extra="", name="store", file=None):
    """A started broker keeping its state in tmp_path/name/(file or midge.db); .store_dir and
    .store_path say where."""
    loc = str(tmp_path / name)
    b = broker(conf=store_conf(loc, extra, file))
    b.store_dir = loc
    b.store_path = os.path.join(loc, file or "midge.db")
    return b


def restart(b, how):
    """Stops b (how="stop": SIGTERM, exit code 0 checked; "kill": SIGKILL) and starts it again on the
    same port, directory and config."""
    assert how in ("stop", "kill"), how
    if how == "stop":
        b.stop()
    else:
        b.kill()
    b.start()


def barrier(raw, port):
    """Waits until everything the broker enqueued for the store so far is committed: a retained QoS 1
    publish (always a store change) whose PUBACK durable mode holds until its commit, and commits go
    in enqueue order. Its topic (barrier/N) matches no filter the tests use."""
    c = raw(port)
    c.connect("barrier-%d-%d" % (os.getpid(), next(_barriers)))
    ack = c.publish("barrier/%d" % next(_barriers), b"b", qos=1, retain=True, mid=1)
    assert ack.type == m.PUBACK
    c.disconnect()


def v311(raw, port, cid, clean=False, **kw):
    """A raw MQTT 3.1.1 client with its CONNACK in .connack."""
    c = raw(port)
    c.cid = cid
    c.connack = c.connect(cid, clean=clean, **kw)
    return c


def v5(raw, port, cid, clean=False, expiry=300, props=None, **kw):
    """A raw MQTT 5 client, Session Expiry Interval `expiry` (None: absent), Clean Start `clean`."""
    p = list(props or [])
    if expiry is not None:
        p.append((SEI, expiry))
    c = connect5(raw, port, cid, clean=clean, props=p, **kw)
    c.cid = cid
    return c


def offline(b, c):
    """c (made by v311 or v5) sends DISCONNECT and closes; returns once b logged that it is gone, i.e.
    its session is offline: what is published next is queued for it, not sent."""
    line = "Client %s disconnected." % c.cid
    before = b.log().count(line)
    c.disconnect()
    wait_for(lambda: b.log().count(line) > before, 5, what="%r in the broker log" % line)


def publish_pipelined(c, topic, payloads, qos=1, first_mid=1, timeout=30.0):
    """Sends every PUBLISH at once (mids first_mid...), then reads one PUBACK (QoS 1) or completes one
    PUBREC/PUBREL/PUBCOMP (QoS 2) per message. Returns the acknowledgements (PUBACK or PUBCOMP) by mid."""
    mids = [first_mid + i for i in range(len(payloads))]
    data = b"".join(m.publish(topic, p, qos, mid=mid, props=c._props(None))
                    for mid, p in zip(mids, payloads))
    c.send(data)
    acks = {}
    deadline = time.monotonic() + timeout
    want = m.PUBACK if qos == 1 else m.PUBCOMP
    while len(acks) < len(mids):
        pkt = c.recv(max(0.05, deadline - time.monotonic()))
        if pkt.type == m.PUBREC:
            c.send(m.pubrel(pkt.mid))
        elif pkt.type == want:
            assert pkt.mid not in acks, "second acknowledgement for mid %d: %r" % (pkt.mid, pkt)
            acks[pkt.mid] = pkt
        else:
            raise AssertionError("unexpected %r while publishing" % pkt)
    return acks


def receive_all(c, quiet=1.0, limit=None, timeout=60.0):
    """PUBLISH packets received (QoS 1 and 2 acknowledged and completed) until nothing arrives for
    `quiet` seconds, `limit` messages have arrived, or timeout overall. PUBRELs of earlier flows are
    answered with PUBCOMP."""
    out = []
    deadline = time.monotonic() + timeout
    while limit is None or len(out) < limit:
        if time.monotonic() > deadline:
            raise AssertionError("still receiving after %.0fs (%d messages)" % (timeout, len(out)))
        try:
            p = c.recv(quiet)
        except (socket.timeout, m.Closed):
            break
        if p.type == m.PUBLISH:
            if p.qos == 1:
                c.send(m.puback(p.mid))
            elif p.qos == 2:
                c.send(m.pubrec(p.mid))
            out.append(p)
        elif p.type == m.PUBREL:
            c.send(m.pubcomp(p.mid))
        else:
            raise AssertionError("unexpected %r while receiving" % p)
    return out


def payloads(pkts):
    return [p.payload for p in pkts]


def corrupt_names(path):
    """Files a move_aside made of path: path.corrupt-YYYYmmddTHHMMSS (without -wal / -shm)."""
    return [f for f in glob.glob(glob.escape(path) + ".corrupt-*")
            if not f.endswith(("-wal", "-shm"))]


def db_files(root):
    """Every file under root that looks like a store (*.db, *.db-wal, *.db-shm, *.sqlite*)."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if ".db" in f or ".sqlite" in f]
    return out


def wait_log(b, text, timeout=5.0):
    """Waits until text appears in b's log; returns the log."""
    return wait_for(lambda: text in b.log() and b.log(), timeout, what="%r in the broker log" % text)


def receive_n(c, n, timeout=5.0, after=0.3):
    """The next n PUBLISH packets (acknowledged as receive_all does, at most `timeout` s apart), plus any
    that arrive within `after` seconds more: a test comparing the result with n expected messages sees
    extra ones too."""
    got = receive_all(c, quiet=timeout, limit=n)
    return got + receive_all(c, quiet=after)
