"""Access control with a Mosquitto-style acl_file: the anonymous section, user sections, read / write /
readwrite / deny rules, patterns with %c and %u, $SYS, retained messages, wills, QoS 0/1/2 on 3.1.1
(acknowledged and dropped) and MQTT 5 (0x87), SUBACK codes (Midge refuses filters that could never
deliver anything), queued messages of offline sessions, and SIGHUP reloads."""
import os
import re
import signal
import time

import pytest

import mqttraw as m
from conftest import connectable, free_port, run_expect_failure, wait_for

midge_only = pytest.mark.midge_only

ACL = """# the anonymous section: rules before any "user" line
topic read anon/read
topic write anon/write
topic anon/rw
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read shared/#
topic write shared/alice
topic read $SYS/#
topic write will/alice
topic read retained/#

user bob
topic read shared/#
topic write bob/out
topic read retained/#
topic write retained/bob
topic read $SYS/broker/clients/#

user root
topic readwrite #

pattern readwrite clients/%c/#
pattern read users/%u/inbox
pattern write users/%u/outbox
"""



# ---------------------------------------------------------------- helpers

def acl_broker(broker, tmp_path, acl=ACL, extra=""):
    """A broker with acl_file (the text acl), anonymous clients allowed and no password file (any
    username gets in). `user root` keeps it from dropping privileges, so it can re-read the test's
    private files on SIGHUP. Returns (broker, acl path)."""
    path = tmp_path / "acl"
    path.write_text(acl)
    b = broker(listener=False, start=False)
    b.conf_text = ("user root\nlistener %d 127.0.0.1\nallow_anonymous true\nacl_file %s\n%s\n"
                   % (b.port, path, extra))
    b.start()
    return b, path


def client(raw, port, cid, user=None, proto=m.MQTT311, **kw):
    c = raw(port)
    c.connect(cid, username=user, proto=proto, **kw)
    return c


def sighup(b, what="Security settings reloaded."):
    before = b.log().count(what)
    os.kill(b.pid, signal.SIGHUP)
    wait_for(lambda: b.log().count(what) > before, 5, what=repr(what))


# ---------------------------------------------------------------- the matrix

WRITES = [  # (client, topic, allowed)
    ("anon", "anon/write", True), ("anon", "anon/rw", True), ("anon", "anon/read", False),
    ("anon", "alice/a", False), ("anon", "clients/anon1/w", True), ("anon", "public/x", False),
    ("alice", "alice/b", True), ("alice", "alice/secret/k", False), ("alice", "alice/secret", False),
    ("alice", "shared/alice", True), ("alice", "shared/other", False), ("alice", "anon/write", False),
    ("alice", "users/alice/outbox", True), ("alice", "users/alice/inbox", False),
    ("alice", "clients/alice1/w", True), ("alice", "clients/bob1/w", False), ("alice", "will/alice", True),
    ("bob", "bob/out", True), ("bob", "shared/bob", False), ("bob", "alice/a", False),
    ("bob", "retained/bob", True), ("bob", "bob/other", False),
    ("carol", "users/carol/outbox", True), ("carol", "clients/carol1/w", True),
    ("carol", "users/bob/outbox", False), ("carol", "anon/write", False),
]

READS = {  # topic published by root -> the clients that may read it
    "anon/read": {"anon"}, "anon/write": set(), "anon/rw": {"anon"}, "public/x/y": {"anon"},
    "alice/a": {"alice"}, "alice/secret": set(), "alice/secret/x": set(), "shared/x": {"alice", "bob"},
    "clients/alice1/x": {"alice"}, "clients/bob1/x": {"bob"}, "clients/carol1/q": {"carol"},
    "clients/anon1/z": {"anon"}, "users/carol/inbox": {"carol"}, "users/alice/inbox": {"alice"},
    "users/carol/outbox": set(), "retained/x": {"alice", "bob"}, "other": set(),
}

USERS = {"anon": None, "alice": "alice", "bob": "bob", "carol": "carol"}


@midge_only
def test_acl_matrix(broker, raw, tmp_path):
    b, _ = acl_broker(broker, tmp_path)
    root = client(raw, b.port, "root1", "root")
    assert root.subscribe("#", qos=1) == [1]
    cs = {name: client(raw, b.port, name + "1", user) for name, user in USERS.items()}
    # writes: 3.1.1 QoS 1, every one acknowledged; only the allowed ones reach root
    for i, (name, topic, _) in enumerate(WRITES):
        ack = cs[name].publish(topic, b"w%d" % i, qos=1, mid=i + 1)
        assert ack.type == m.PUBACK and ack.mid == i + 1
    got = set(root.drain())
    want = {(t, b"w%d" % i) for i, (_, t, ok) in enumerate(WRITES) if ok}
    assert got == want, "missing %s, unexpected %s" % (sorted(want - got), sorted(got - want))
    # reads: each client subscribes to "#"; root publishes every topic
    for name, c in cs.items():
        assert c.subscribe("#", qos=0) == [0], name
    for topic in READS:
        root.publish(topic, topic.encode(), qos=1, mid=5)
    for name, c in cs.items():
        got = sorted(t for t, _ in c.drain())
        want = sorted(t for t, who in READS.items() if name in who)
        assert got == want, name
    for c in cs.values():
        assert c.is_open()


@midge_only
def test_patterns_need_a_username_for_u(broker, raw, tmp_path):
    """%u patterns never match an anonymous client; a client id or username holding a wildcard gets
    nothing from patterns."""
    acl = "pattern readwrite u/%u/#\npattern readwrite c/%c/#\ntopic read watch/none\nuser root\ntopic #\n"
    b, _ = acl_broker(broker, tmp_path, acl)
    root = client(raw, b.port, "root", "root")
    root.subscribe("#")
    anon = client(raw, b.port, "anonc")
    anon.publish("u//x", b"1", qos=1)          # %u with no username: never matches
    anon.publish("c/anonc/x", b"2", qos=1)     # %c works for anonymous clients
    wild = client(raw, b.port, "+", "w#u")
    # patterns do not apply to it at all: no filter under c/ could ever deliver to it
    assert wild.subscribe([("c/+/x", 0), ("c/#", 0), ("u/#", 0)]) == [0x80, 0x80, 0x80]
    wild.publish("c/x/x", b"3", qos=1)
    assert client(raw, b.port, "+c", "u+").subscribe("u/+/#") == [0x80]
    named = client(raw, b.port, "nc", "nu")
    named.publish("u/nu/x", b"5", qos=1)
    named.publish("u/other/x", b"6", qos=1)
    named.publish("c/nc", b"7", qos=1)        # "c/%c/#" matches its parent level too
    assert sorted(p for _, p in root.drain()) == [b"2", b"5", b"7"]


# ---------------------------------------------------------------- QoS and protocol versions

@midge_only
def test_denied_publish_311_qos012(broker, raw, tmp_path):
    """3.1.1 has no way to say no: a denied PUBLISH is acknowledged as usual (QoS 1 PUBACK, QoS 2
    PUBREC/PUBREL/PUBCOMP) and dropped; the connection stays."""
    b, _ = acl_broker(broker, tmp_path)
    root = client(raw, b.port, "root1", "root")
    root.subscribe("#", qos=2)
    bob = client(raw, b.port, "bob1", "bob")
    bob.publish("alice/x", b"q0", qos=0)
    assert bob.publish("alice/x", b"q1", qos=1, mid=11).type == m.PUBACK
    comp = bob.publish("alice/x", b"q2", qos=2, mid=12)
    assert comp.type == m.PUBCOMP and comp.mid == 12
    # the same packet id again, this time allowed: a fresh exchange
    comp = bob.publish("bob/out", b"ok2", qos=2, mid=12)
    assert comp.type == m.PUBCOMP
    assert bob.publish("bob/out", b"ok1", qos=1, mid=13).type == m.PUBACK
    assert sorted(root.drain()) == [("bob/out", b"ok1"), ("bob/out", b"ok2")]
    assert bob.is_open()
    # MQTT 3.1 the same
    old = client(raw, b.port, "bob31", "bob", proto=m.MQTT31)
    assert old.publish("alice/y", b"x", qos=1, mid=3).type == m.PUBACK
    assert root.drain() == []


@midge_only
def test_denied_publish_v5_reason_codes(broker, raw, tmp_path):
    b, _ = acl_broker(broker, tmp_path)
    root = client(raw, b.port, "root1", "root")
    root.subscribe("#", qos=2)
    bob = client(raw, b.port, "bob1", "bob", proto=m.MQTT5)
    bob.publish("alice/x", b"q0", qos=0)
    ack = bob.publish("alice/x", b"q1", qos=1, mid=21)
    assert ack.type == m.PUBACK and ack.reason == m.NOT_AUTHORIZED, ack
    rec = bob.publish("alice/x", b"q2", qos=2, mid=22)
    assert rec.type == m.PUBREC and rec.reason == m.NOT_AUTHORIZED, rec
    # the exchange ended with the PUBREC: the packet id is free again, no PUBREL expected
    rec = bob.publish("alice/x", b"q2b", qos=2, mid=22)
    assert rec.type == m.PUBREC and rec.reason == m.NOT_AUTHORIZED
    ack = bob.publish("bob/out", b"ok1", qos=1, mid=23)
    assert ack.type == m.PUBACK and ack.reason == m.SUCCESS
    comp = bob.publish("bob/out", b"ok2", qos=2, mid=24)
    assert comp.type == m.PUBCOMP and comp.reason == m.SUCCESS
    # retained and denied: not stored either
    ack = bob.publish("alice/r", b"ret", qos=1, retain=True, mid=25)
    assert ack.reason == m.NOT_AUTHORIZED
    assert sorted(root.drain()) == [("bob/out", b"ok1"), ("bob/out", b"ok2")]
    assert bob.is_open()
    late = client(raw, b.port, "root2", "root")
    late.subscribe("alice/#")
    assert late.drain() == []


@midge_only
def test_suback_codes(broker, raw, tmp_path):
    b, _ = acl_broker(broker, tmp_path)
    bob = client(raw, b.port, "bob1", "bob")
    filters = [("shared/#", 1), ("bob/out", 1), ("alice/#", 1), ("#", 2), ("$share/g/shared/+", 1),
               ("$share/g/alice/#", 1), ("retained/x", 0), ("$SYS/#", 0), ("$SYS/broker/uptime", 0),
               ("+/x", 1), ("clients/bob1/#", 2), ("clients/alice1/#", 2), ("clients/+/x", 1)]
    assert bob.subscribe(filters) == [1, 0x80, 0x80, 2, 1, 0x80, 0, 0, 0x80, 1, 2, 0x80, 1]
    alice = client(raw, b.port, "alice1", "alice", proto=m.MQTT5)
    filters = [("alice/#", 1), ("alice/secret/#", 1), ("alice/secret/+", 1), ("alice/secret", 0),
               ("alice/+", 0), ("$share/grp/alice/secret/#", 1), ("$share/grp/alice/#", 1), ("bob/out", 0),
               ("$SYS/broker/uptime", 0), ("users/alice/inbox", 0), ("users/bob/inbox", 0)]
    assert alice.subscribe(filters) == [1, 0x87, 0x87, 0x87, 0, 0x87, 1, 0x87, 0, 0, 0x87]
    anon = client(raw, b.port, "anon1")
    assert anon.subscribe([("public/#", 1), ("anon/write", 1), ("anon/rw", 1), ("alice/#", 0)]) == \
        [1, 0x80, 1, 0x80]
    # a refused filter is not subscribed at all: nothing arrives through it even for allowed topics
    root = client(raw, b.port, "root1", "root")
    root.publish("shared/x", b"1", qos=1)
    got = [(t, p) for t, p in bob.drain() if not t.startswith("$SYS/")]  # retained $SYS messages
    # one copy through the overlapping shared/#, #, +/x (Midge sends one per client), one through
    # $share/g/shared/+
    assert got == [("shared/x", b"1")] * 2


@midge_only
def test_shared_subscription_reads_checked(broker, raw, tmp_path):
    b, _ = acl_broker(broker, tmp_path)
    s1 = client(raw, b.port, "alice1", "alice")
    s2 = client(raw, b.port, "bob1", "bob")
    assert s1.subscribe("$share/g/shared/#", qos=1) == [1]
    assert s2.subscribe("$share/g/shared/#", qos=1) == [1]
    root = client(raw, b.port, "root1", "root")
    for i in range(6):
        root.publish("shared/t", b"%d" % i, qos=1, mid=i + 1)
    got = s1.drain() + s2.drain()
    assert sorted(p for _, p in got) == [b"%d" % i for i in range(6)]


# ---------------------------------------------------------------- $SYS

@midge_only
def test_sys_topics(broker, raw, tmp_path):
    b, _ = acl_broker(broker, tmp_path, extra="sys_interval 1")
    alice = client(raw, b.port, "alice1", "alice")
    assert alice.subscribe("$SYS/broker/uptime") == [0]
    bob = client(raw, b.port, "bob1", "bob")
    assert bob.subscribe("$SYS/#") == [0]  # bob may read $SYS/broker/clients/# only
    bob.send(m.subscribe(2, [("$SYS/broker/uptime", 0)]))
    assert bob.wait_for(m.SUBACK, 2).granted == [0x80]
    root = client(raw, b.port, "root1", "root")
    assert root.subscribe("$SYS/#", mid=3) == [0x80]  # "#" does not reach $ topics
    p = alice.recv_publish(timeout=4)
    assert p.topic == "$SYS/broker/uptime" and p.payload.endswith(b"seconds")
    time.sleep(1.2)
    topics = {t for t, _ in bob.drain(0.3)}
    assert topics, "bob got no $SYS message at all"
    assert all(t.startswith("$SYS/broker/clients/") for t in topics), topics
    assert root.drain(0.1) == []


# ---------------------------------------------------------------- retained messages

@midge_only
def test_retained_messages(broker, raw, tmp_path):
    b, _ = acl_broker(broker, tmp_path)
    root = client(raw, b.port, "root1", "root")
    root.publish("retained/x", b"rx", qos=1, retain=True, mid=1)
    root.publish("alice/r", b"ar", qos=1, retain=True, mid=2)
    root.publish("shared/r", b"sr", qos=1, retain=True, mid=3)
    # denied publishers' retained messages are not stored
    bob = client(raw, b.port, "bob1", "bob")
    assert bob.publish("alice/fake", b"bf", qos=1, retain=True, mid=4).type == m.PUBACK
    assert bob.publish("shared/r", b"overwrite", qos=1, retain=True, mid=5).type == m.PUBACK
    assert bob.publish("retained/bob", b"rb", qos=1, retain=True, mid=6).type == m.PUBACK
    # bob subscribes to everything: only the retained messages he may read come
    bob.subscribe("#", qos=1)
    assert sorted(bob.drain()) == [("retained/bob", b"rb"), ("retained/x", b"rx"), ("shared/r", b"sr")]
    alice = client(raw, b.port, "alice1", "alice")
    alice.subscribe([("alice/#", 1), ("retained/#", 1)])
    assert sorted(alice.drain()) == [("alice/r", b"ar"), ("retained/bob", b"rb"), ("retained/x", b"rx")]
    root2 = client(raw, b.port, "root2", "root")
    root2.subscribe("#")
    got = sorted(root2.drain())
    assert got == [("alice/r", b"ar"), ("retained/bob", b"rb"), ("retained/x", b"rx"), ("shared/r", b"sr")]
    # a denied empty retained message does not clear the stored one
    bob.publish("alice/r", b"", qos=1, retain=True, mid=7)
    root3 = client(raw, b.port, "root3", "root")
    root3.subscribe("alice/r")
    assert root3.drain() == [("alice/r", b"ar")]


# ---------------------------------------------------------------- wills

@midge_only
def test_wills(broker, raw, tmp_path):
    b, _ = acl_broker(broker, tmp_path)
    root = client(raw, b.port, "root1", "root")
    root.subscribe("#")
    watcher = client(raw, b.port, "bob1", "bob")  # subscribed to everything, may not read will/#
    watcher.subscribe("#")
    alice = client(raw, b.port, "alice1", "alice", will=("will/alice", b"alice gone", 0, False))
    mallory = client(raw, b.port, "bobw", "bob", will=("alice/x", b"forged", 0, False))
    anonw = client(raw, b.port, "anonw", will=("anon/write", b"anon gone", 1, True))
    for c in (alice, mallory, anonw):
        c.close()  # no DISCONNECT: the wills are due
    wait_for(lambda: "Will of client bobw not published: not authorised on 'alice/x'." in b.log(), 5)
    assert sorted(root.drain()) == [("anon/write", b"anon gone"), ("will/alice", b"alice gone")]
    assert watcher.drain() == []
    # the retained will was stored, readable by root only
    late = client(raw, b.port, "root2", "root")
    late.subscribe("anon/#")
    assert late.drain() == [("anon/write", b"anon gone")]


@midge_only
def test_will_checked_when_published_after_reload(broker, raw, tmp_path):
    """The WRITE check of a will happens when it is published: a reload removing the permission
    meanwhile keeps it from going out."""
    b, path = acl_broker(broker, tmp_path)
    root = client(raw, b.port, "root1", "root")
    root.subscribe("#")
    alice = client(raw, b.port, "alice1", "alice", will=("will/alice", b"bye", 0, False))
    path.write_text(ACL.replace("topic write will/alice\n", ""))
    sighup(b)
    alice.close()
    wait_for(lambda: "Will of client alice1 not published: not authorised on 'will/alice'." in b.log(), 5)
    assert root.drain() == []


# ---------------------------------------------------------------- reloads

@midge_only
def test_reload_adds_permission_to_existing_subscription(broker, raw, tmp_path):
    b, path = acl_broker(broker, tmp_path)
    bob = client(raw, b.port, "bob1", "bob")
    assert bob.subscribe("#", qos=1) == [1]
    root = client(raw, b.port, "root1", "root")
    root.publish("alice/a", b"before", qos=1)
    root.publish("shared/a", b"allowed", qos=1)
    assert bob.drain() == [("shared/a", b"allowed")]
    path.write_text(ACL.replace("user bob\n", "user bob\ntopic read alice/#\n"))
    sighup(b)
    root.publish("alice/a", b"after", qos=1)
    assert bob.drain() == [("alice/a", b"after")]
    # and a write permission taken away applies to the next PUBLISH of a connected client
    path.write_text(ACL.replace("topic write bob/out\n", ""))
    sighup(b)
    bob.publish("bob/out", b"now denied", qos=1, mid=9)
    root.publish("alice/a", b"again", qos=1)
    assert root.drain() == []  # root is not subscribed; check via a subscriber
    watch = client(raw, b.port, "root2", "root")
    watch.subscribe("#")
    bob.publish("bob/out", b"still denied", qos=1, mid=10)
    root.publish("shared/z", b"z", qos=1, mid=2)
    assert watch.drain() == [("shared/z", b"z")]
    assert bob.is_open()


@midge_only
def test_queued_messages_rechecked_after_reload(broker, raw, tmp_path):
    """Messages queued for an offline persistent session are checked again when they go out: read
    permission removed by SIGHUP meanwhile keeps them from being delivered."""
    b, path = acl_broker(broker, tmp_path)
    bob = client(raw, b.port, "bob1", "bob", clean=False)
    assert bob.subscribe([("shared/#", 1), ("retained/#", 1)]) == [1, 1]
    bob.disconnect()
    wait_for(lambda: "Client bob1 disconnected" in b.log(), 5)
    root = client(raw, b.port, "root1", "root")
    root.publish("shared/one", b"q1", qos=1, mid=1)
    root.publish("retained/one", b"q2", qos=1, mid=2)
    root.publish("shared/two", b"q3", qos=1, mid=3)
    path.write_text(ACL.replace("user bob\ntopic read shared/#\n", "user bob\n"))
    sighup(b)
    root.publish("shared/three", b"q4", qos=1, mid=4)
    root.publish("retained/two", b"q5", qos=1, mid=5)
    back = raw(b.port)
    ack = back.connect("bob1", username="bob", clean=False)
    assert ack.session_present
    assert back.drain() == [("retained/one", b"q2"), ("retained/two", b"q5")]


@midge_only
def test_sighup_with_broken_acl_keeps_old(broker, raw, tmp_path):
    b, path = acl_broker(broker, tmp_path)
    bob = client(raw, b.port, "bob1", "bob")
    bob.subscribe("#")
    path.write_text(ACL.replace("user bob\n", "user bob\ntopic read alice/#\nfrobnicate x\n"))
    sighup(b, "Error reloading security settings, the old ones stay:")
    lineno = ACL.replace("user bob\n", "user bob\ntopic read alice/#\nfrobnicate x\n").splitlines().index(
        "frobnicate x") + 1
    assert re.search(r"Error reloading security settings, the old ones stay: %s:%d: "
                     % (re.escape(str(path)), lineno), b.log()), b.log()[-1500:]
    root = client(raw, b.port, "root1", "root")
    root.publish("alice/a", b"no", qos=1)
    root.publish("shared/a", b"yes", qos=1)
    assert bob.drain() == [("shared/a", b"yes")]


# ---------------------------------------------------------------- start-up errors

@midge_only
@pytest.mark.parametrize("text,line,words", [
    ("user a\ntopic read x\nfoo bar\n", 3, "unknown keyword"),
    ("# c\n\ntopic readx t\n", 3, "invalid access type"),
    ("topic read a/#/b\n", 1, "invalid topic"),
    ("user a\ntopic\n", 2, "missing topic"),
    ("user\n", 1, "missing username"),
])
def test_broken_acl_file_at_start(tmp_path, text, line, words):
    acl = tmp_path / "acl"
    acl.write_text(text)
    rc, out = run_expect_failure(tmp_path, "listener %d 127.0.0.1\nacl_file %s\n" % (free_port(), acl))
    assert rc != 0
    assert "Error: %s:%d: " % (acl, line) in out and words in out, out


@midge_only
def test_missing_acl_file_at_start(tmp_path):
    missing = tmp_path / "none"
    rc, out = run_expect_failure(tmp_path, "listener %d 127.0.0.1\nacl_file %s\n" % (free_port(), missing))
    assert rc != 0
    assert "%s: No such file or directory" % missing in out, out


@midge_only
def test_per_listener_acl(broker, raw, tmp_path):
    """per_listener_settings: each listener has its own acl_file; a listener without one has no ACL."""
    acl1 = tmp_path / "acl1"
    acl1.write_text("topic read one/#\ntopic write one/#\n")
    b = broker(listener=False, start=False)
    p2 = free_port()
    b.conf_text = ("user root\nper_listener_settings true\nlistener %d 127.0.0.1\nallow_anonymous true\n"
                   "acl_file %s\nlistener %d 127.0.0.1\nallow_anonymous true\n" % (b.port, acl1, p2))
    b.start()
    wait_for(lambda: connectable(p2), 5)
    a = client(raw, b.port, "a")
    assert a.subscribe([("one/#", 0), ("two/#", 0)]) == [0, 0x80]
    free = client(raw, p2, "free")
    assert free.subscribe([("one/#", 0), ("two/#", 0)]) == [0, 0]
    free.publish("one/x", b"1", qos=1)
    free.publish("two/x", b"2", qos=1)
    a.publish("two/y", b"3", qos=1)  # denied on a's listener
    a.publish("one/y", b"4", qos=1)
    assert sorted(a.drain()) == [("one/x", b"1"), ("one/y", b"4")]
    assert sorted(free.drain()) == [("one/x", b"1"), ("one/y", b"4"), ("two/x", b"2")]


@midge_only
def test_shared_group_member_that_may_not_read(broker, raw, tmp_path):
    """A shared group whose members have different read rules: a message only some of them may read
    goes to one that may."""
    b, _ = acl_broker(broker, tmp_path)
    s1 = client(raw, b.port, "alice1", "alice")
    s2 = client(raw, b.port, "bob1", "bob")
    assert s1.subscribe("$share/g/+/x", qos=1) == [1]
    assert s2.subscribe("$share/g/+/x", qos=1) == [1]  # bob may read shared/x
    root = client(raw, b.port, "root1", "root")
    for i in range(6):
        root.publish("alice/x", b"%d" % i, qos=1, mid=i + 1)
    got1, got2 = s1.drain(), s2.drain()
    assert got2 == []
    assert sorted(p for _, p in got1) == [b"%d" % i for i in range(6)]
