"""12 MQTT 5 with real clients: paho-mqtt (MQTTv5 API) and mosquitto_pub / mosquitto_sub -V 5,
properties set by one client and seen by another."""
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

import mqttraw as m
from conftest import mosquitto_pub
from v5util import connect5


def props(ptype, **kw):
    p = Properties(ptype)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def test_paho_v5_smoke(broker, paho5):
    """paho MQTT 5: CONNECT with properties, CONNACK properties, SUBSCRIBE with options and a
    Subscription Identifier, PUBLISH at QoS 0/1/2 with properties, all received with their
    properties [MQTT-3.3.2-17], [MQTT-3.3.2-18], [MQTT-3.3.4-3]."""
    b = broker()
    sub = paho5(b.port, client_id="p5sub",
                connect_props=props(PacketTypes.CONNECT, SessionExpiryInterval=30,
                                    ReceiveMaximum=10))
    assert sub.connack_props.ReceiveMaximum == 20
    assert sub.connack_props.TopicAliasMaximum == 10
    codes = sub.subscribe("p5/#", options=SubscribeOptions(qos=2, noLocal=True,
                                                           retainAsPublished=True),
                          properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=42))
    assert codes == [2]
    pub = paho5(b.port, client_id="p5pub")
    for q in (0, 1, 2):
        pp = props(PacketTypes.PUBLISH, ContentType="text/plain", ResponseTopic="p5/reply",
                   CorrelationData=b"id-%d" % q, PayloadFormatIndicator=1,
                   MessageExpiryInterval=120)
        pp.UserProperty = ("k", "v1")
        pp.UserProperty = ("k", "v2")
        pub.publish("p5/q%d" % q, b"payload %d" % q, qos=q, properties=pp)
    for q in (0, 1, 2):
        msg = sub.get()
        mp = msg.properties
        assert (msg.topic, msg.payload, msg.qos) == ("p5/q%d" % q, b"payload %d" % q, q)
        assert (mp.ContentType, mp.ResponseTopic, mp.CorrelationData, mp.PayloadFormatIndicator) \
            == ("text/plain", "p5/reply", b"id-%d" % q, 1)
        assert mp.UserProperty == [("k", "v1"), ("k", "v2")]
        assert mp.SubscriptionIdentifier == [42]
        assert 0 < mp.MessageExpiryInterval <= 120
    # No Local: the subscriber's own message does not come back [MQTT-3.8.3-3]
    sub.publish("p5/own", b"self", qos=1)
    sub.expect_none(0.5)


def test_paho_request_response(broker, paho5):
    """Request / response (section 4.10): the requester's Response Topic and Correlation Data
    reach the responder, whose reply on that topic carries the same Correlation Data
    [MQTT-3.3.2-15], [MQTT-3.3.2-16]."""
    b = broker()
    responder = paho5(b.port, client_id="responder")
    responder.subscribe("rpc/request", 1)
    requester = paho5(b.port, client_id="requester")
    requester.subscribe("rpc/reply/requester", 1)
    for n in range(3):
        requester.publish("rpc/request", b"question %d" % n, qos=1,
                          properties=props(PacketTypes.PUBLISH,
                                           ResponseTopic="rpc/reply/requester",
                                           CorrelationData=b"\x00req%d" % n))
    for n in range(3):
        req = responder.get()
        rp = req.properties
        assert rp.ResponseTopic == "rpc/reply/requester"
        responder.publish(rp.ResponseTopic, req.payload.replace(b"question", b"answer"), qos=1,
                          properties=props(PacketTypes.PUBLISH, CorrelationData=rp.CorrelationData))
    replies = {r.properties.CorrelationData: r.payload for r in requester.get_n(3)}
    assert replies == {b"\x00req%d" % n: b"answer %d" % n for n in range(3)}


def test_paho_v5_and_v311_together(broker, paho, paho5):
    """A paho 3.1.1 subscriber gets a paho MQTT 5 publisher's message and the other way round."""
    b = broker()
    old = paho(b.port, client_id="old")
    old.subscribe("mix/#", 1)
    new = paho5(b.port, client_id="new")
    new.subscribe("mix/#", 1)
    new.publish("mix/from5", b"five", qos=1,
                properties=props(PacketTypes.PUBLISH, ContentType="x/y"))
    old.publish("mix/from4", b"four", qos=1)
    got_old = {mm.topic: mm.payload for mm in old.get_n(2)}
    got_new = {mm.topic: mm for mm in new.get_n(2)}
    assert got_old == {"mix/from5": b"five", "mix/from4": b"four"}
    assert got_new["mix/from4"].payload == b"four"
    assert not hasattr(got_new["mix/from4"].properties, "ContentType")
    assert got_new["mix/from5"].properties.ContentType == "x/y"


def test_mosquitto_pub_v5_properties(broker, raw):
    """mosquitto_pub -V 5 -D publish ...: the properties it sets reach an MQTT 5 subscriber, user
    properties in order [MQTT-3.3.2-18]."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    s.subscribe([("mp5/#", 1)])
    r = mosquitto_pub(b.port, "mp5/t", "from mosquitto_pub", qos=1, args=[
        "-V", "5",
        "-D", "publish", "user-property", "k", "v",
        "-D", "publish", "user-property", "k2", "v2",
        "-D", "publish", "content-type", "text/x",
        "-D", "publish", "response-topic", "mp5/reply",
        "-D", "publish", "correlation-data", "abc",
        "-D", "publish", "payload-format-indicator", "1",
        "-D", "publish", "message-expiry-interval", "60"])
    assert r.returncode == 0, r.stderr
    pk = s.recv_publish()
    assert (pk.topic, pk.payload) == ("mp5/t", b"from mosquitto_pub")
    assert pk.user_props == [("k", "v"), ("k2", "v2")]
    assert pk.prop(m.CONTENT_TYPE) == "text/x"
    assert pk.prop(m.RESPONSE_TOPIC) == "mp5/reply"
    assert pk.prop(m.CORRELATION_DATA) == b"abc"
    assert pk.prop(m.PAYLOAD_FORMAT_INDICATOR) == 1
    assert 0 < pk.prop(m.MESSAGE_EXPIRY_INTERVAL) <= 60


def test_mosquitto_sub_v5_user_properties(broker, raw, mosq_sub):
    """mosquitto_sub -V 5 prints the User Properties (%P) of a message published by a raw MQTT 5
    client, in order."""
    b = broker()
    sub = mosq_sub(b.port, "ms5/#", 1, qos=1,
                   args=("-V", "5", "-F", "MSG|%t|%q|%r|%l|%p|%P"))
    p = connect5(raw, b.port, "pub")
    p.publish("ms5/a", b"pay", qos=1, props=m.user_props(("a", "1"), ("b", "2"), ("a", "3")))
    rc, msgs = sub.wait(10)
    assert rc == 0
    assert msgs == [("ms5/a", 1, 0, 3, b"pay|a:1 b:2 a:3")]


def test_mosquitto_pub_v5_topic_alias(broker, raw):
    """mosquitto_pub -V 5 -D publish topic-alias N with several messages (-l) uses the alias
    (topic then empty topic) and every message arrives on the right topic [MQTT-3.3.2-12]."""
    b = broker()
    s = connect5(raw, b.port, "sub")
    s.subscribe([("alias5/#", 1)])
    r = mosquitto_pub(b.port, "alias5/long/topic/name", None, qos=1,
                      args=["-V", "5", "-l", "-D", "publish", "topic-alias", "1"],
                      stdin=b"one\ntwo\nthree\n")
    assert r.returncode == 0, r.stderr
    got = [(pk.topic, pk.payload) for pk in (s.recv_publish() for _ in range(3))]
    assert got == [("alias5/long/topic/name", p) for p in (b"one", b"two", b"three")]
