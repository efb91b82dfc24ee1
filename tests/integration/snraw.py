"""MQTT-SN 1.2 datagrams by hand, for tests of the gateway: an encoder and decoder written from the specification
(not from Midge's codec, so that the two check each other) and a small client over a UDP socket."""
import socket
import struct
import time

ADVERTISE, SEARCHGW, GWINFO = 0x00, 0x01, 0x02
CONNECT, CONNACK, WILLTOPICREQ, WILLTOPIC, WILLMSGREQ, WILLMSG = 0x04, 0x05, 0x06, 0x07, 0x08, 0x09
REGISTER, REGACK, PUBLISH, PUBACK, PUBCOMP, PUBREC, PUBREL = 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18
WILLTOPICUPD, WILLTOPICRESP, WILLMSGUPD, WILLMSGRESP = 0x1A, 0x1B, 0x1C, 0x1D
ENCAPSULATED = 0xFE

NORMAL, PREDEFINED, SHORT = 0, 1, 2
ACCEPTED, CONGESTION, INVALID_TOPIC_ID, NOT_SUPPORTED = 0, 1, 2, 3

NAMES = {v: k for k, v in dict(globals()).items() if k.isupper() and isinstance(v, int) and k not in
         ("NORMAL", "PREDEFINED", "SHORT", "ACCEPTED", "CONGESTION", "INVALID_TOPIC_ID", "NOT_SUPPORTED")}


def flags(dup=False, qos=0, retain=False, will=False, clean=False, topic_type=0):
    q = 3 if qos == -1 else qos
    return (0x80 if dup else 0) | (q << 5) | (0x10 if retain else 0) | (0x08 if will else 0) | \
        (0x04 if clean else 0) | topic_type


def frame(mtype, body=b""):
    """A whole datagram: the length (one octet, or 0x01 and two more) and the type before body."""
    n = len(body) + 2
    if n <= 255:
        return bytes([n, mtype]) + body
    return b"\x01" + struct.pack(">H", n + 2) + bytes([mtype]) + body


def connect(client_id, duration=60, clean=True, will=False):
    return frame(CONNECT, bytes([flags(clean=clean, will=will), 0x01]) + struct.pack(">H", duration) +
                 client_id.encode())


def willtopic(topic, qos=0, retain=False):
    return frame(WILLTOPIC, bytes([flags(qos=qos, retain=retain)]) + topic.encode())


def willmsg(payload):
    return frame(WILLMSG, payload)


def register(topic, msg_id, topic_id=0):
    return frame(REGISTER, struct.pack(">HH", topic_id, msg_id) + topic.encode())


def regack(topic_id, msg_id, rc=ACCEPTED):
    return frame(REGACK, struct.pack(">HHB", topic_id, msg_id, rc))


def short_id(name):
    b = name.encode()
    assert len(b) == 2
    return b[0] << 8 | b[1]


def publish(topic_id, payload, qos=0, msg_id=0, retain=False, dup=False, topic_type=NORMAL):
    return frame(PUBLISH, bytes([flags(dup=dup, qos=qos, retain=retain, topic_type=topic_type)]) +
                 struct.pack(">HH", topic_id, msg_id) + payload)


def puback(topic_id, msg_id, rc=ACCEPTED):
    return frame(PUBACK, struct.pack(">HHB", topic_id, msg_id, rc))


def ack(mtype, msg_id):
    """PUBREC, PUBREL or PUBCOMP."""
    return frame(mtype, struct.pack(">H", msg_id))


def subscribe(topic, msg_id, qos=0, topic_type=NORMAL):
    """topic: a name (NORMAL), a 2-character name (SHORT) or an int id (PREDEFINED)."""
    field = struct.pack(">H", topic) if isinstance(topic, int) else topic.encode()
    return frame(SUBSCRIBE, bytes([flags(qos=qos, topic_type=topic_type)]) + struct.pack(">H", msg_id) + field)


def unsubscribe(topic, msg_id, topic_type=NORMAL):
    field = struct.pack(">H", topic) if isinstance(topic, int) else topic.encode()
    return frame(UNSUBSCRIBE, bytes([flags(topic_type=topic_type)]) + struct.pack(">H", msg_id) + field)


def pingreq(client_id=""):
    return frame(PINGREQ, client_id.encode())


def disconnect(duration=None):
    return frame(DISCONNECT, b"" if duration is None else struct.pack(">H", duration))


def encapsulate(node, inner, ctrl=0):
    return bytes([3 + len(node), ENCAPSULATED, ctrl]) + node + inner


class Msg:
    """A decoded datagram: type and the fields of that type."""

    def __init__(self, raw):
        self.raw = raw
        if len(raw) >= 3 and raw[0] != 0x01 and raw[1] == ENCAPSULATED:
            # a forwarder's envelope: its length covers itself; the message inside follows
            self.type, self.ctrl, self.node = ENCAPSULATED, raw[2], raw[3:raw[0]]
            self.inner = Msg(raw[raw[0]:])
            return
        if raw[0] == 0x01:
            n, self.type, body = struct.unpack(">H", raw[1:3])[0], raw[3], raw[4:]
        else:
            n, self.type, body = raw[0], raw[1], raw[2:]
        assert n == len(raw), "length field %d, datagram %d" % (n, len(raw))
        self.body = body
        t = self.type
        if t in (CONNACK, WILLTOPICRESP, WILLMSGRESP):
            self.rc = body[0]
        elif t == GWINFO:
            self.gw_id, self.addr = body[0], body[1:]
        elif t == ADVERTISE:
            self.gw_id, self.duration = body[0], struct.unpack(">H", body[1:3])[0]
        elif t == REGISTER:
            self.topic_id, self.msg_id = struct.unpack(">HH", body[:4])
            self.topic = body[4:].decode()
        elif t == REGACK:
            self.topic_id, self.msg_id, self.rc = struct.unpack(">HHB", body)
        elif t == PUBLISH:
            f = body[0]
            self.dup, self.retain = bool(f & 0x80), bool(f & 0x10)
            q = (f >> 5) & 3
            self.qos = -1 if q == 3 else q
            self.topic_type = f & 3
            self.topic_id, self.msg_id = struct.unpack(">HH", body[1:5])
            self.payload = body[5:]
        elif t == PUBACK:
            self.topic_id, self.msg_id, self.rc = struct.unpack(">HHB", body)
        elif t in (PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            self.msg_id = struct.unpack(">H", body)[0]
        elif t == SUBACK:
            f = body[0]
            q = (f >> 5) & 3
            self.qos = -1 if q == 3 else q
            self.topic_id, self.msg_id, self.rc = struct.unpack(">HHB", body[1:])
        elif t == DISCONNECT:
            self.duration = struct.unpack(">H", body)[0] if len(body) == 2 else None

    @property
    def name(self):
        return NAMES.get(self.type, hex(self.type))

    def __repr__(self):
        return "<%s %s>" % (self.name, {k: v for k, v in self.__dict__.items() if k not in ("raw", "body")})


class SNClient:
    """A UDP socket talking to one gateway, with helpers that send a message and wait for the expected answer."""

    def __init__(self, port, host="127.0.0.1", node=None, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.addr = (host, port)
        self.node = node  # a wireless node id: every datagram goes in a forwarder's envelope
        self.topics = {}  # id -> name, from REGISTER and REGACK
        self.next_id = 1

    def close(self):
        self.sock.close()

    def msg_id(self):
        self.next_id += 1
        return self.next_id - 1

    def send(self, dgram):
        if self.node is not None:
            dgram = encapsulate(self.node, dgram)
        self.sock.sendto(dgram, self.addr)

    def recv(self, timeout=3.0):
        """The next datagram (unwrapped from its envelope when forwarded), or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            raw, _ = self.sock.recvfrom(70000)
        except (socket.timeout, BlockingIOError):
            return None
        m = Msg(raw)
        if self.node is not None:
            assert m.type == ENCAPSULATED and m.node == self.node, m
            m = m.inner
        return m

    def expect(self, mtype, timeout=3.0, skip=()):
        """Waits for a datagram of mtype, answering the gateway's REGISTERs on the way; others in skip are
        dropped, anything else fails."""
        deadline = time.time() + timeout
        while True:
            m = self.recv(max(0.01, deadline - time.time()))
            assert m is not None, "no %s within %.1f s" % (NAMES[mtype], timeout)
            if m.type == mtype:
                return m
            if m.type == REGISTER and mtype != REGISTER:
                self.topics[m.topic_id] = m.topic
                self.send(regack(m.topic_id, m.msg_id))
                continue
            assert m.type in skip, "expected %s, got %r" % (NAMES[mtype], m)

    def quiet(self, timeout=0.5):
        """Asserts that nothing arrives within timeout seconds."""
        m = self.recv(timeout)
        assert m is None, "unexpected %r" % m

    def connect(self, client_id, duration=60, clean=True, will=None):
        """will: (topic, payload, qos, retain) or None. Returns the CONNACK's return code."""
        self.send(connect(client_id, duration, clean, will is not None))
        if will is not None:
            self.expect(WILLTOPICREQ)
            self.send(willtopic(will[0], will[2], will[3]))
            self.expect(WILLMSGREQ)
            self.send(willmsg(will[1]))
        return self.expect(CONNACK).rc

    def register(self, topic):
        mid = self.msg_id()
        self.send(register(topic, mid))
        m = self.expect(REGACK)
        assert m.msg_id == mid
        if m.rc == ACCEPTED:
            self.topics[m.topic_id] = topic
        return m

    def subscribe(self, topic, qos=0, topic_type=NORMAL):
        mid = self.msg_id()
        self.send(subscribe(topic, mid, qos, topic_type))
        m = self.expect(SUBACK)
        assert m.msg_id == mid
        if m.rc == ACCEPTED and m.topic_id and topic_type == NORMAL:
            self.topics[m.topic_id] = topic
        return m

    def publish(self, topic_id, payload, qos=0, retain=False, topic_type=NORMAL):
        """Publishes and completes the QoS flow; returns the PUBACK (QoS 1) or the PUBCOMP (QoS 2) or None."""
        mid = self.msg_id() if qos > 0 else 0
        self.send(publish(topic_id, payload, qos, mid, retain, topic_type=topic_type))
        if qos == 1:
            m = self.expect(PUBACK)
            assert m.msg_id == mid
            return m
        if qos == 2:
            m = self.expect(PUBREC, skip=(PUBACK,))
            self.send(ack(PUBREL, mid))
            return self.expect(PUBCOMP)
        return None

    def receive(self, timeout=3.0, answer=True):
        """The next PUBLISH (REGISTERs answered); QoS 1/2 completed when answer is set. Returns
        (topic name, payload, Msg)."""
        m = self.expect(PUBLISH, timeout)
        if answer and m.qos == 1:
            self.send(puback(m.topic_id, m.msg_id))
        elif answer and m.qos == 2:
            self.send(ack(PUBREC, m.msg_id))
            rel = self.expect(PUBREL)
            assert rel.msg_id == m.msg_id
            self.send(ack(PUBCOMP, m.msg_id))
        if m.topic_type == SHORT:
            name = struct.pack(">H", m.topic_id).decode()
        else:
            name = self.topics.get(m.topic_id, m.topic_id) if m.topic_type == NORMAL else m.topic_id
        return name, m.payload, m
