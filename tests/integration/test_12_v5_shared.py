"""12 Shared subscriptions ($share/{ShareName}/{filter}): one delivery per group spread across its
members, groups and ordinary subscribers side by side, no retained messages on subscribe,
unsubscribe, redelivery of a departed member's messages, invalid share names, 3.1.1 clients."""
import time

import pytest

import mqttraw as m
from v5util import assert_serving, collect, connect5, expect_disconnect, midge_only


def members(raw, port, filt, n, qos=1, proto=m.MQTT5, prefix="member"):
    out = []
    for i in range(n):
        c = raw(port)
        c.connect("%s%d" % (prefix, i), proto=proto)
        assert c.subscribe([(filt, qos)]) == [qos]
        out.append(c)
    return out


def payloads(c, timeout=0.7):
    """Payloads of the PUBLISHes that arrive until quiet, acknowledging them."""
    got = []
    for pk in collect(c, timeout):
        assert pk.type == m.PUBLISH, pk
        c.pending.append(pk)
        got.append(c.recv_publish().payload)
    return got


def publish_n(raw, port, topic, n, qos=1):
    p = connect5(raw, port, "publisher")
    sent = [b"msg %d" % i for i in range(n)]
    for i, pl in enumerate(sent):
        p.publish(topic, pl, qos=qos, mid=i + 1)
    return sent


def test_one_delivery_per_group_spread_over_members(broker, raw):
    """Each message goes to one member of the group; with two members and 10 messages both get
    some, none twice, all 10 arrive (section 4.8.2)."""
    b = broker()
    a, c = members(raw, b.port, "$share/g/sh/#", 2)
    sent = publish_n(raw, b.port, "sh/x", 10)
    got_a, got_c = payloads(a), payloads(c)
    assert got_a and got_c, (got_a, got_c)
    assert sorted(got_a + got_c) == sorted(sent)


def test_several_groups_and_ordinary_subscriber(broker, raw):
    """Every group gets its own copy of each message, and so does an ordinary subscriber to the
    same topic (section 4.8.2)."""
    b = broker()
    g1 = members(raw, b.port, "$share/one/sh/#", 2, prefix="one")
    g2 = members(raw, b.port, "$share/two/sh/+", 1, prefix="two")
    plain = members(raw, b.port, "sh/#", 1, prefix="plain")
    sent = publish_n(raw, b.port, "sh/x", 6)
    assert sorted(payloads(g1[0]) + payloads(g1[1])) == sorted(sent)
    assert payloads(g2[0]) == sent
    assert payloads(plain[0]) == sent


def test_shared_granted_qos_respected(broker, raw):
    """A member's delivery is at most the QoS granted to its subscription [MQTT-4.8.2-3]."""
    b = broker()
    (mem,) = members(raw, b.port, "$share/g/q/#", 1, qos=0)
    p = connect5(raw, b.port, "pub")
    p.publish("q/x", b"x", qos=2, mid=1)
    pk = mem.recv_publish()
    assert (pk.payload, pk.qos) == (b"x", 0)


def test_shared_subscription_properties_forwarded(broker, raw):
    """Properties reach a group member unaltered [MQTT-3.3.2-17], [MQTT-3.3.2-18], and its
    Subscription Identifier is attached [MQTT-3.3.4-3]."""
    b = broker()
    mem = connect5(raw, b.port, "member")
    mem.subscribe([("$share/g/p/#", 1)], props=[(m.SUBSCRIPTION_IDENTIFIER, 5)])
    p = connect5(raw, b.port, "pub")
    props = [(m.CONTENT_TYPE, "x/y")] + m.user_props(("z", "1"), ("a", "2"))
    p.publish("p/t", b"x", qos=1, props=props)
    pk = mem.recv_publish()
    assert pk.props_of(m.CONTENT_TYPE) == ["x/y"] and pk.user_props == [("z", "1"), ("a", "2")]
    assert pk.props_of(m.SUBSCRIPTION_IDENTIFIER) == [5]


# Mosquitto 2.0.11 sends matching retained messages to a new shared subscription.
@midge_only
def test_no_retained_messages_on_shared_subscribe(broker, raw):
    """Retained messages are sent when a new Non-shared Subscription is made (section 3.3.1.3),
    not when a shared subscription is; live messages still flow to the group."""
    b = broker()
    p = connect5(raw, b.port, "pub")
    p.publish("ret/a", b"kept", retain=True, qos=1)
    (mem,) = members(raw, b.port, "$share/g/ret/#", 1)
    mem.expect_nothing(0.7)
    p.publish("ret/a", b"live", retain=True, qos=1, mid=2)
    pk = mem.recv_publish()
    assert pk.payload == b"live"


def test_unsubscribe_shared(broker, raw):
    """UNSUBSCRIBE with the full "$share/g/filter" string removes the membership (UNSUBACK 0x00);
    the bare filter is not the same subscription (0x11) [MQTT-3.10.4-1]; afterwards the remaining
    member gets every message."""
    b = broker()
    a, c = members(raw, b.port, "$share/g/un/#", 2)
    assert a.unsubscribe("un/#", mid=2).reasons == [m.NO_SUBSCRIPTION_EXISTED]
    assert a.unsubscribe("$share/h/un/#", mid=3).reasons == [m.NO_SUBSCRIPTION_EXISTED]
    assert a.unsubscribe("$share/g/un/#", mid=4).reasons == [0x00]
    sent = publish_n(raw, b.port, "un/x", 6)
    assert payloads(a) == []
    assert payloads(c) == sent


# Mosquitto 2.0.11 keeps a QoS 1 message sent to a member that leaves without acknowledging it
# with that member (and loses it with its session); Midge hands it to another member, which the
# specification allows for QoS 1 (section 4.8.2).
@midge_only
def test_unacked_qos1_redelivered_to_other_member(broker, raw):
    """A member with unacknowledged QoS 1 messages disconnects (session ends): those messages are
    delivered to the other member of the group."""
    b = broker()
    a, c = members(raw, b.port, "$share/g/rd/#", 2)
    sent = publish_n(raw, b.port, "rd/x", 4)
    held = [pk.payload for pk in collect(a, 0.7)]   # never acknowledged
    assert held
    a.close()
    got_c = payloads(c, 2.0)
    assert sorted(got_c) == sorted(sent), (held, got_c)


# Mosquitto 2.0.11 does not hand a departed member's messages to the others.
@midge_only
def test_redelivery_stays_within_its_group(broker, raw):
    """A member of two groups on the same topic leaves with unacknowledged QoS 1 messages of both:
    each goes to the other member of the group it came through, so each group still gets every
    message exactly once."""
    b = broker()
    a = raw(b.port)
    a.connect("both", proto=m.MQTT5)
    assert a.subscribe([("$share/g1/two/t", 1), ("$share/g2/two/t", 1)]) == [1, 1]
    (g1,) = members(raw, b.port, "$share/g1/two/t", 1, prefix="only-g1-")
    (g2,) = members(raw, b.port, "$share/g2/two/t", 1, prefix="only-g2-")
    sent = publish_n(raw, b.port, "two/t", 4)
    held = collect(a, 0.7)                  # never acknowledged
    assert held
    a.close()
    got1, got2 = payloads(g1, 1.5), payloads(g2, 1.0)
    assert sorted(got1) == sorted(sent), (held, got1)
    assert sorted(got2) == sorted(sent), (held, got2)


def test_unacked_qos2_not_given_to_other_member(broker, raw):
    """A member that received a QoS 2 message and leaves (session ends) before completing it: the
    message is not sent to any other member [MQTT-4.8.2-4], [MQTT-4.8.2-5]."""
    b = broker()
    a, c = members(raw, b.port, "$share/g/q2/#", 2, qos=2)
    p = connect5(raw, b.port, "pub")
    for i in range(4):
        p.publish("q2/x", b"%d" % i, qos=2, mid=i + 1)
    held = [pk.payload for pk in collect(a, 0.7)]   # no PUBREC
    assert held
    a.close()
    got_c = payloads(c, 1.5)
    assert not set(held) & set(got_c), (held, got_c)
    assert sorted(held + got_c) == [b"0", b"1", b"2", b"3"]


def test_refused_message_not_given_to_other_member(broker, raw):
    """A member answering PUBACK with a reason code of 0x80 or more: the message is discarded, not
    sent to another member [MQTT-4.8.2-6]."""
    b = broker()
    a, c = members(raw, b.port, "$share/g/rf/#", 2)
    p = connect5(raw, b.port, "pub")
    for i in range(4):
        p.publish("rf/x", b"%d" % i, qos=1, mid=i + 1)
    refused = []
    for pk in collect(a, 0.7):
        a.send(m.puback(pk.mid, reason=m.UNSPECIFIED_ERROR))
        refused.append(pk.payload)
    assert refused
    got_c = payloads(c, 1.0)
    assert not set(refused) & set(got_c), (refused, got_c)
    assert sorted(refused + got_c) == [b"0", b"1", b"2", b"3"]
    assert a.is_open()


# Mosquitto 2.0.11 accepts No Local on a shared subscription (SUBACK 0x00).
@midge_only
def test_no_local_on_shared_subscription_disconnect_0x82(broker, raw):
    """No Local 1 on a Shared Subscription is a Protocol Error [MQTT-3.8.3-4]: DISCONNECT 0x82."""
    b = broker()
    c = connect5(raw, b.port, "nl")
    c.send(m.subscribe(1, [("$share/g/nl/#", m.sub_options(1, no_local=True))], props=[]))
    expect_disconnect(c, m.PROTOCOL_ERROR)
    assert_serving(raw, b.port)


# Mosquitto 2.0.11 grants "$share/g" and "$share//a" (SUBACK 0x00) and answers "$share/g+/a"
# with DISCONNECT 0x81.
@midge_only
@pytest.mark.parametrize("bad", ["$share/g", "$share//a", "$share/g+/a", "$share/g#/a"])
def test_invalid_share_name_suback_0x8f(broker, raw, bad):
    """A shared subscription's filter must have a non-empty ShareName without "/", "+" or "#",
    followed by "/" and a Topic Filter [MQTT-4.8.2-1], [MQTT-4.8.2-2]: SUBACK 0x8F (Topic Filter
    invalid) for it, the other filters granted, the connection stays."""
    b = broker()
    c = connect5(raw, b.port, "bad")
    assert c.subscribe([("ok", 1), (bad, 1)]) == [1, m.TOPIC_FILTER_INVALID]
    assert c.is_open()


def test_shared_subscriptions_for_v311_clients(broker, raw):
    """Shared subscriptions work for 3.1.1 clients too: one delivery per group across members."""
    b = broker()
    a, c = members(raw, b.port, "$share/old/v3/#", 2, proto=m.MQTT311)
    p = raw(b.port)
    p.connect("old-pub")
    for i in range(6):
        p.publish("v3/x", b"%d" % i, qos=1, mid=i + 1)
    got_a, got_c = payloads(a), payloads(c)
    assert got_a and got_c
    assert sorted(got_a + got_c) == sorted(b"%d" % i for i in range(6))


def test_shared_and_member_leaving(broker, raw):
    """After a member disconnects cleanly, the remaining member gets every later message."""
    b = broker()
    a, c = members(raw, b.port, "$share/g/lv/#", 2)
    a.disconnect()
    time.sleep(0.2)
    sent = publish_n(raw, b.port, "lv/x", 5)
    assert payloads(c) == sent
