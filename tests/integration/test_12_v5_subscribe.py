"""12 MQTT 5 SUBSCRIBE / UNSUBSCRIBE: subscription options (No Local, Retain As Published, Retain
Handling, maximum QoS), Subscription Identifiers, SUBACK and UNSUBACK reason codes."""
import pytest

import mqttraw as m
from v5util import collect, connect5, midge_only, publishes

so = m.sub_options


def test_no_local(broker, raw):
    """No Local 1: the client's own messages are not forwarded to it on that subscription
    [MQTT-3.8.3-3]; other clients' messages are; a subscription without No Local still gets the
    client's own messages."""
    b = broker()
    c = connect5(raw, b.port, "self")
    assert c.subscribe([("nl/quiet", so(1, no_local=True)), ("nl/loud", so(1))]) == [1, 1]
    c.publish("nl/quiet", b"own quiet", qos=1, mid=1)
    c.publish("nl/loud", b"own loud", qos=1, mid=2)
    o = connect5(raw, b.port, "other")
    o.publish("nl/quiet", b"other quiet", qos=1, mid=3)
    got = [pk.payload for pk in collect(c, 0.7)]
    assert got == [b"own loud", b"other quiet"], got


def test_no_local_with_wildcard(broker, raw):
    """No Local on a wildcard filter [MQTT-3.8.3-3]."""
    b = broker()
    c = connect5(raw, b.port, "self")
    c.subscribe([("nl/#", so(0, no_local=True))])
    c.publish("nl/a/b", b"own")
    c.expect_nothing(0.5)
    o = connect5(raw, b.port, "other")
    o.publish("nl/a/b", b"other")
    assert c.recv_publish().payload == b"other"


def test_retain_as_published(broker, raw):
    """Retain As Published 1: forwarded messages keep the RETAIN flag they were published with
    [MQTT-3.3.1-13]; 0: the flag is cleared [MQTT-3.3.1-12]. Retained messages sent because of the
    subscription always have RETAIN 1 (section 3.3.1.3)."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.publish("rap/a", b"old", retain=True, qos=1, mid=1)
    s = connect5(raw, b.port, "sub")
    s.subscribe([("rap/a", so(0, retain_as_published=True)), ("rap/b", so(0))])
    pre = s.recv_publish()
    assert (pre.payload, pre.retain) == (b"old", True)
    p.publish("rap/a", b"live retained", retain=True, qos=1, mid=2)
    p.publish("rap/a", b"live plain", qos=1, mid=3)
    p.publish("rap/b", b"live retained b", retain=True, qos=1, mid=4)
    got = [(pk.payload, pk.retain) for pk in publishes(s, 3)]
    assert got == [(b"live retained", True), (b"live plain", False), (b"live retained b", False)]


@pytest.mark.parametrize("rh,first,again", [(0, True, True), (1, True, False), (2, False, False)])
def test_retain_handling(broker, raw, rh, first, again):
    """Retain Handling 0: retained messages sent at every subscribe [MQTT-3.3.1-9],
    [MQTT-3.8.4-4]; 1: only if the subscription did not exist [MQTT-3.3.1-10]; 2: never
    [MQTT-3.3.1-11]. Live messages flow in every case."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.publish("rh/x", b"kept", retain=True, qos=1)
    s = connect5(raw, b.port, "sub")
    s.subscribe([("rh/#", so(1, retain_handling=rh))], mid=1)
    got = collect(s, 0.5)
    assert [(pk.payload, pk.retain) for pk in got] == ([(b"kept", True)] if first else [])
    s.subscribe([("rh/#", so(1, retain_handling=rh))], mid=2)
    got = collect(s, 0.5)
    assert [(pk.payload, pk.retain) for pk in got] == ([(b"kept", True)] if again else [])
    p.publish("rh/x", b"live", qos=1, mid=2)
    pk = s.recv_publish()
    assert (pk.payload, pk.retain) == (b"live", False)


def test_retain_handling_1_after_unsubscribe(broker, raw):
    """Retain Handling 1 after UNSUBSCRIBE: the subscription no longer exists, so the retained
    messages are sent again [MQTT-3.3.1-10]."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.publish("rh/x", b"kept", retain=True, qos=1)
    s = connect5(raw, b.port, "sub")
    s.subscribe([("rh/#", so(0, retain_handling=1))], mid=1)
    assert s.recv_publish().payload == b"kept"
    s.unsubscribe("rh/#", mid=2)
    s.subscribe([("rh/#", so(0, retain_handling=1))], mid=3)
    assert s.recv_publish().payload == b"kept"


@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_maximum_qos_of_subscription(broker, raw, sub_qos):
    """The QoS of a delivery is the minimum of the published QoS and the subscription's maximum
    QoS [MQTT-3.8.4-8], given in the options byte together with other options."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    assert s.subscribe([("mq/#", so(sub_qos, retain_as_published=True))]) == [sub_qos]
    p = connect5(raw, b.port, "pub")
    for q in (0, 1, 2):
        p.publish("mq/t", b"%d" % q, qos=q, mid=q + 1)
    got = [(pk.payload, pk.qos) for pk in publishes(s, 3)]
    assert got == [(b"%d" % q, min(q, sub_qos)) for q in (0, 1, 2)]


def test_granted_qos_capped_by_max_qos(broker, raw):
    """max_qos 1: SUBSCRIBE asking for QoS 0, 1, 2 is accepted [MQTT-3.2.2-10] and granted 0, 1, 1
    [MQTT-3.8.4-7]."""
    b = broker("max_qos 1")
    s = connect5(raw, b.port, "sub")
    assert s.subscribe([("a", 0), ("b", 1), ("c", 2)]) == [0, 1, 1]
    p = connect5(raw, b.port, "pub")
    p.publish("c", b"x", qos=1)
    assert s.recv_publish().qos == 1


def test_suback_reason_codes_in_order(broker, raw):
    """One Reason Code per filter, in the order of the filters [MQTT-3.8.4-6], [MQTT-3.9.3-1]:
    the granted QoS 0x00, 0x01, 0x02 [MQTT-3.9.3-2]."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    assert s.subscribe([("c", 2), ("a", 0), ("b/+/x", 1), ("#", 2)], mid=42) == [2, 0, 1, 2]
    assert s.last_suback.mid == 42


# Mosquitto 2.0.11 answers an invalid topic filter with DISCONNECT 0x81 and closes the connection,
# as MQTT 3.1.1 had it; Midge refuses just that filter with SUBACK 0x8F, as MQTT 5 allows.
@midge_only
@pytest.mark.parametrize("bad", ["a/#/b", "a/b#", "x+", "+a/b", "#/a"])
def test_suback_invalid_filter_0x8f(broker, raw, bad):
    """An invalid Topic Filter [MQTT-4.7.1-1], [MQTT-4.7.1-2] gets SUBACK 0x8F (Topic Filter
    invalid) at its place [MQTT-3.9.3-1] while the other filters are granted; the connection
    stays and the valid subscriptions work."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    assert s.subscribe([("ok/1", 0), (bad, 1), ("ok/2", 1)]) == [0, m.TOPIC_FILTER_INVALID, 1]
    p = connect5(raw, b.port, "pub")
    p.publish("ok/2", b"x", qos=1)
    assert s.recv_publish().payload == b"x"


def test_unsuback_reason_codes(broker, raw):
    """UNSUBACK has one Reason Code per filter in order [MQTT-3.11.3-1]: 0x00 for a subscription
    removed, 0x11 (No subscription existed) otherwise [MQTT-3.11.3-2]; the subscription is gone
    [MQTT-3.10.4-1]; filters are compared character by character."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    s.subscribe([("un/#", 1), ("un/+", 1)])
    ack = s.unsubscribe(["un/#", "nothing/here", "un/#", "un/+/"], mid=9)
    assert ack.mid == 9 and ack.reasons == [0x00, 0x11, 0x11, 0x11]
    p = connect5(raw, b.port, "pub")
    p.publish("un/a/b", b"gone", qos=1)
    p.publish("un/a", b"still", qos=1, mid=2)
    got = [pk.payload for pk in collect(s, 0.7)]
    assert got == [b"still"]


def test_subscription_identifier_delivered(broker, raw):
    """A delivery carries the Subscription Identifier of the matching subscription
    [MQTT-3.3.4-3]; a subscription without one gives deliveries without one. Identifiers up to
    268,435,455 (four-byte Variable Byte Integer)."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    s.subscribe([("si/small", 1)], mid=1, props=[(m.SUBSCRIPTION_IDENTIFIER, 1)])
    s.subscribe([("si/big", 1)], mid=2, props=[(m.SUBSCRIPTION_IDENTIFIER, 268435455)])
    s.subscribe([("si/none", 1)], mid=3)
    p = connect5(raw, b.port, "pub")
    for t in ("si/small", "si/big", "si/none"):
        p.publish(t, t.encode(), qos=1)
    got = {pk.topic: pk.props_of(m.SUBSCRIPTION_IDENTIFIER) for pk in publishes(s, 3)}
    assert got == {"si/small": [1], "si/big": [268435455], "si/none": []}


def test_subscription_identifier_replaced(broker, raw):
    """Subscribing again to the same filter replaces the subscription [MQTT-3.8.4-3], its
    Subscription Identifier included (a new one, or none)."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    p = connect5(raw, b.port, "pub")
    s.subscribe([("si/#", 0)], mid=1, props=[(m.SUBSCRIPTION_IDENTIFIER, 7)])
    p.publish("si/a", b"1")
    assert s.recv_publish().props_of(m.SUBSCRIPTION_IDENTIFIER) == [7]
    s.subscribe([("si/#", 0)], mid=2, props=[(m.SUBSCRIPTION_IDENTIFIER, 8)])
    p.publish("si/a", b"2")
    assert s.recv_publish().props_of(m.SUBSCRIPTION_IDENTIFIER) == [8]
    s.subscribe([("si/#", 0)], mid=3)
    p.publish("si/a", b"3")
    assert s.recv_publish().props_of(m.SUBSCRIPTION_IDENTIFIER) == []


def test_subscription_identifier_retained(broker, raw):
    """A retained message sent because of a new subscription carries that subscription's
    identifier."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.publish("si/r", b"kept", retain=True, qos=1)
    s = connect5(raw, b.port, "sub")
    s.subscribe([("si/#", 1)], props=[(m.SUBSCRIPTION_IDENTIFIER, 99)])
    pk = s.recv_publish()
    assert pk.retain and pk.props_of(m.SUBSCRIPTION_IDENTIFIER) == [99]


def overlapping(raw, port):
    """A client with three overlapping subscriptions (ids 7 and 300, and one without) and one
    QoS 2 message matching all three; returns the PUBLISH packets it gets."""
    s = connect5(raw, port, "sub")
    s.subscribe([("ov/#", 1)], mid=1, props=[(m.SUBSCRIPTION_IDENTIFIER, 7)])
    s.subscribe([("ov/+/x", 2)], mid=2, props=[(m.SUBSCRIPTION_IDENTIFIER, 300)])
    s.subscribe([("ov/a/#", 0)], mid=3)
    p = connect5(raw, port, "pub")
    p.publish("ov/a/x", b"m", qos=2, mid=9)
    got = []
    while True:
        pkts = collect(s, 0.7)
        if not pkts:
            return got
        for pk in pkts:
            assert pk.type == m.PUBLISH, pk
            got.append(pk)
            s.pending.append(pk)
            s.recv_publish()  # acknowledge it


def test_subscription_identifiers_overlapping(broker, raw):
    """Overlapping subscriptions: whether the broker sends one copy or one per subscription, the
    identifiers of all matching subscriptions reach the client [MQTT-3.3.4-3]; a single copy
    carries all of them [MQTT-3.3.4-4], several copies one each [MQTT-3.3.4-5]."""
    b = broker()
    got = overlapping(raw, b.port)
    assert got and all(pk.payload == b"m" for pk in got)
    ids = [sorted(pk.props_of(m.SUBSCRIPTION_IDENTIFIER)) for pk in got]
    if len(got) == 1:
        assert ids == [[7, 300]]
    else:
        assert all(len(i) <= 1 for i in ids), ids
        assert sorted(sum(ids, [])) == [7, 300]


# Mosquitto 2.0.11 sends one copy per matching subscription (allowed by [MQTT-3.3.4-5]); Midge
# sends one copy with every identifier.
@midge_only
def test_subscription_identifiers_overlapping_single_copy(broker, raw):
    """Overlapping subscriptions of one client give one delivery, at the highest QoS of the
    matching subscriptions [MQTT-3.3.4-2], carrying every matching identifier [MQTT-3.3.4-4]."""
    b = broker()
    got = overlapping(raw, b.port)
    assert len(got) == 1, got
    assert got[0].qos == 2
    assert sorted(got[0].props_of(m.SUBSCRIPTION_IDENTIFIER)) == [7, 300]


def test_subscribe_with_user_properties(broker, raw):
    """User Properties on SUBSCRIBE and UNSUBSCRIBE are accepted."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    assert s.subscribe([("up/#", 1)], props=m.user_props(("k", "v"), ("k", "w"))) == [1]
    assert s.unsubscribe("up/#", mid=2, props=m.user_props(("k", "v"))).reasons == [0]
