"""Raw MQTT 3.1 / 3.1.1 / 5.0 over plain sockets: packet builders, a packet reader with timeouts,
and a small client that lets a test send exactly the bytes it wants and check exactly the
bytes it gets back. No third-party code: socket and struct only.

MQTT 5: builders take `props` (a list of (property id, value) pairs, kept in order, duplicates
allowed; or bytes: the already encoded properties, sent as they are after a correct length) and
emit the v5 layout when props is given (`props=None` keeps the 3.1.1 layout; CONNECT uses the v5
layout whenever proto=MQTT5). A RawClient remembers the protocol level of the CONNECT it sent and
parses what it receives accordingly: a v5 Packet has .reason and .props (a list of (id, value)
in wire order), with .prop(id) / .props_of(id) / .user_props to read them."""
import socket
import struct
import time

# Packet types (high nibble of the first byte).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
AUTH = 15

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

MQTT31 = 3
MQTT311 = 4
MQTT5 = 5

# ---------------------------------------------------------------- MQTT 5 properties

PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

# Property value types.
BYTE, U16, U32, VARINT, UTF8, BINARY, PAIR = "byte", "u16", "u32", "varint", "utf8", "binary", "pair"

PROPERTY_TYPES = {
    PAYLOAD_FORMAT_INDICATOR: BYTE, MESSAGE_EXPIRY_INTERVAL: U32, CONTENT_TYPE: UTF8,
    RESPONSE_TOPIC: UTF8, CORRELATION_DATA: BINARY, SUBSCRIPTION_IDENTIFIER: VARINT,
    SESSION_EXPIRY_INTERVAL: U32, ASSIGNED_CLIENT_IDENTIFIER: UTF8, SERVER_KEEP_ALIVE: U16,
    AUTHENTICATION_METHOD: UTF8, AUTHENTICATION_DATA: BINARY, REQUEST_PROBLEM_INFORMATION: BYTE,
    WILL_DELAY_INTERVAL: U32, REQUEST_RESPONSE_INFORMATION: BYTE, RESPONSE_INFORMATION: UTF8,
    SERVER_REFERENCE: UTF8, REASON_STRING: UTF8, RECEIVE_MAXIMUM: U16, TOPIC_ALIAS_MAXIMUM: U16,
    TOPIC_ALIAS: U16, MAXIMUM_QOS: BYTE, RETAIN_AVAILABLE: BYTE, USER_PROPERTY: PAIR,
    MAXIMUM_PACKET_SIZE: U32, WILDCARD_SUBSCRIPTION_AVAILABLE: BYTE,
    SUBSCRIPTION_IDENTIFIER_AVAILABLE: BYTE, SHARED_SUBSCRIPTION_AVAILABLE: BYTE,
}

PROPERTY_NAMES = {
    0x01: "PayloadFormatIndicator", 0x02: "MessageExpiryInterval", 0x03: "ContentType",
    0x08: "ResponseTopic", 0x09: "CorrelationData", 0x0B: "SubscriptionIdentifier",
    0x11: "SessionExpiryInterval", 0x12: "AssignedClientIdentifier", 0x13: "ServerKeepAlive",
    0x15: "AuthenticationMethod", 0x16: "AuthenticationData", 0x17: "RequestProblemInformation",
    0x18: "WillDelayInterval", 0x19: "RequestResponseInformation", 0x1A: "ResponseInformation",
    0x1C: "ServerReference", 0x1F: "ReasonString", 0x21: "ReceiveMaximum",
    0x22: "TopicAliasMaximum", 0x23: "TopicAlias", 0x24: "MaximumQoS", 0x25: "RetainAvailable",
    0x26: "UserProperty", 0x27: "MaximumPacketSize", 0x28: "WildcardSubscriptionAvailable",
    0x29: "SubscriptionIdentifierAvailable", 0x2A: "SharedSubscriptionAvailable",
}

# Reason codes used by the tests (MQTT 5.0 section 2.4).
SUCCESS = 0x00
GRANTED_QOS1 = 0x01
GRANTED_QOS2 = 0x02
DISCONNECT_WITH_WILL = 0x04
NO_MATCHING_SUBSCRIBERS = 0x10
NO_SUBSCRIPTION_EXISTED = 0x11
CONTINUE_AUTHENTICATION = 0x18
UNSPECIFIED_ERROR = 0x80
MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
IMPLEMENTATION_SPECIFIC_ERROR = 0x83
CLIENT_IDENTIFIER_NOT_VALID = 0x85
NOT_AUTHORIZED = 0x87
SERVER_SHUTTING_DOWN = 0x8B
BAD_AUTHENTICATION_METHOD = 0x8C
KEEP_ALIVE_TIMEOUT = 0x8D
SESSION_TAKEN_OVER = 0x8E
TOPIC_FILTER_INVALID = 0x8F
TOPIC_NAME_INVALID = 0x90
PACKET_ID_NOT_FOUND = 0x92
RECEIVE_MAXIMUM_EXCEEDED = 0x93
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
QUOTA_EXCEEDED = 0x97
PAYLOAD_FORMAT_INVALID = 0x99
RETAIN_NOT_SUPPORTED = 0x9A
QOS_NOT_SUPPORTED = 0x9B
USE_ANOTHER_SERVER = 0x9C
SERVER_MOVED = 0x9D
SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E


# ---------------------------------------------------------------- encoding

def varint(n):
    """MQTT Remaining Length encoding of n (0 .. 268435455)."""
    assert 0 <= n <= 268435455
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def u16(n):
    return struct.pack("!H", n)


def mstr(s):
    """Length-prefixed string; s may be str (UTF-8 encoded) or bytes (sent as is)."""
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return u16(len(b)) + b


def u32(n):
    return struct.pack("!I", n)


def encode_property(pid, value, ptype=None):
    """One MQTT 5 property: identifier (a Variable Byte Integer) then the value in the property's
    type (or in `ptype`, to send a value of the wrong type). A string pair is a (key, value) tuple;
    strings and binary data may be str or bytes."""
    ptype = ptype or PROPERTY_TYPES[pid]
    out = varint(pid)
    if ptype == BYTE:
        return out + bytes([value])
    if ptype == U16:
        return out + u16(value)
    if ptype == U32:
        return out + u32(value)
    if ptype == VARINT:
        return out + varint(value)
    if ptype in (UTF8, BINARY):
        return out + mstr(value)
    if ptype == PAIR:
        return out + mstr(value[0]) + mstr(value[1])
    raise ValueError("unknown property type %r" % ptype)


def encode_properties(props):
    """The encoded properties, without the length: props is a list of (id, value) or
    (id, value, type) tuples (order kept, duplicates allowed), or bytes sent as they are."""
    if props is None:
        return b""
    if isinstance(props, (bytes, bytearray)):
        return bytes(props)
    return b"".join(encode_property(*p) for p in props)


def properties(props):
    """A Property Length (Variable Byte Integer) followed by the encoded properties."""
    body = encode_properties(props)
    return varint(len(body)) + body


def user_props(*pairs):
    """[(USER_PROPERTY, (k, v)), ...] for each (k, v) pair."""
    return [(USER_PROPERTY, (k, v)) for k, v in pairs]


def sub_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    """The MQTT 5 Subscription Options byte."""
    return (qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0)
            | (retain_handling << 4))


def packet(ptype, flags, body=b""):
    """Fixed header + body. flags is the low nibble of the first byte."""
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + body


def connect(client_id="", clean=True, keepalive=60, proto=MQTT311, will=None,
            username=None, password=None, proto_name=None, flags_extra=0, props=None,
            will_props=None):
    """CONNECT. proto is the protocol level (3 = MQTT 3.1 "MQIsdp", 4 = MQTT 3.1.1 "MQTT",
    5 = MQTT 5.0 "MQTT"). will = (topic, payload, qos, retain). proto_name overrides the protocol
    name. With proto=MQTT5, props are the CONNECT properties and will_props the Will Properties
    (both empty when None); clean is then the Clean Start flag."""
    if proto_name is None:
        proto_name = "MQIsdp" if proto == MQTT31 else "MQTT"
    v5 = proto == MQTT5
    flags = flags_extra
    if clean:
        flags |= 0x02
    payload = mstr(client_id)
    if will is not None:
        wtopic, wpayload, wqos, wretain = will
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        wp = wpayload.encode() if isinstance(wpayload, str) else bytes(wpayload)
        if v5:
            payload += properties(will_props)
        payload += mstr(wtopic) + u16(len(wp)) + wp
    if username is not None:
        flags |= 0x80
        payload += mstr(username)
    if password is not None:
        flags |= 0x40
        pw = password.encode() if isinstance(password, str) else bytes(password)
        payload += u16(len(pw)) + pw
    var = mstr(proto_name) + bytes([proto, flags]) + u16(keepalive)
    if v5:
        var += properties(props)
    return packet(CONNECT, 0, var + payload)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, mid=None, props=None):
    """PUBLISH; with props (a list, possibly empty, or bytes) in the MQTT 5 layout."""
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = mstr(topic)
    if qos > 0:
        body += u16(mid if mid is not None else 1)
    if props is not None:
        body += properties(props)
    if isinstance(payload, str):
        payload = payload.encode()
    return packet(PUBLISH, flags, body + bytes(payload))


def _ack_body(mid, reason, props):
    """Packet id, then (MQTT 5) reason code and properties when given; the short forms are
    valid v5 too (reason 0 / no properties may be omitted)."""
    body = u16(mid)
    if reason is not None or props is not None:
        body += bytes([reason or 0])
    if props is not None:
        body += properties(props)
    return body


def puback(mid, reason=None, props=None):
    return packet(PUBACK, 0, _ack_body(mid, reason, props))


def pubrec(mid, reason=None, props=None):
    return packet(PUBREC, 0, _ack_body(mid, reason, props))


def pubrel(mid, flags=2, reason=None, props=None):
    return packet(PUBREL, flags, _ack_body(mid, reason, props))


def pubcomp(mid, reason=None, props=None):
    return packet(PUBCOMP, 0, _ack_body(mid, reason, props))


def subscribe(mid, filters, flags=2, props=None):
    """filters: list of (filter, qos) or a single filter string (QoS 0). In MQTT 5 the second
    element is the Subscription Options byte (see sub_options); with props (a list, possibly
    empty, or bytes) the v5 layout is used."""
    if isinstance(filters, (str, bytes)):
        filters = [(filters, 0)]
    body = u16(mid)
    if props is not None:
        body += properties(props)
    for f, q in filters:
        body += mstr(f) + bytes([q])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(mid, filters, flags=2, props=None):
    if isinstance(filters, (str, bytes)):
        filters = [filters]
    body = u16(mid)
    if props is not None:
        body += properties(props)
    for f in filters:
        body += mstr(f)
    return packet(UNSUBSCRIBE, flags, body)


def pingreq(flags=0):
    return packet(PINGREQ, flags)


def disconnect(reason=None, props=None):
    """DISCONNECT; empty (3.1.1, or v5 reason 0) unless a reason code or props is given."""
    body = b""
    if reason is not None or props is not None:
        body = bytes([reason or 0])
    if props is not None:
        body += properties(props)
    return packet(DISCONNECT, 0, body)


def auth(reason=0, props=None):
    """MQTT 5 AUTH with a reason code and properties (empty when None)."""
    return packet(AUTH, 0, bytes([reason]) + properties(props))


# ---------------------------------------------------------------- MQTT 5 decoding

def decode_varint(data, pos=0):
    """(value, position after it) of the Variable Byte Integer at data[pos]; ValueError if it is
    truncated or longer than 4 bytes."""
    value, mult = 0, 1
    for i in range(4):
        if pos >= len(data):
            raise ValueError("truncated variable byte integer")
        b = data[pos]
        pos += 1
        value += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return value, pos
    raise ValueError("variable byte integer longer than 4 bytes")


def _take(data, pos, n, what):
    if pos + n > len(data):
        raise ValueError("truncated %s" % what)
    return data[pos:pos + n], pos + n


def _take_str(data, pos, what):
    ln, pos = _take(data, pos, 2, what)
    return _take(data, pos, struct.unpack("!H", ln)[0], what)


def decode_property(data, pos):
    """((id, value), next position) of the property at data[pos]. UTF-8 strings are returned as
    str (undecodable bytes replaced), binary data as bytes, string pairs as (key, value)."""
    pid, pos = decode_varint(data, pos)
    ptype = PROPERTY_TYPES.get(pid)
    if ptype is None:
        raise ValueError("unknown property identifier 0x%02x" % pid)
    name = PROPERTY_NAMES[pid]
    if ptype == BYTE:
        v, pos = _take(data, pos, 1, name)
        v = v[0]
    elif ptype == U16:
        v, pos = _take(data, pos, 2, name)
        v = struct.unpack("!H", v)[0]
    elif ptype == U32:
        v, pos = _take(data, pos, 4, name)
        v = struct.unpack("!I", v)[0]
    elif ptype == VARINT:
        v, pos = decode_varint(data, pos)
    elif ptype == UTF8:
        v, pos = _take_str(data, pos, name)
        v = bytes(v).decode("utf-8", "replace")
    elif ptype == BINARY:
        v, pos = _take_str(data, pos, name)
        v = bytes(v)
    else:
        k, pos = _take_str(data, pos, name)
        v, pos = _take_str(data, pos, name)
        v = (bytes(k).decode("utf-8", "replace"), bytes(v).decode("utf-8", "replace"))
    return (pid, v), pos


def decode_properties(data, pos=0):
    """(list of (id, value) in wire order, position after the properties) for the Property
    Length + properties starting at data[pos]. ValueError on anything malformed."""
    length, pos = decode_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise ValueError("property length %d runs past the packet" % length)
    out = []
    while pos < end:
        prop, pos = decode_property(data, pos)
        if pos > end:
            raise ValueError("property runs past the property length")
        out.append(prop)
    return out, end


def props_repr(props):
    return "{%s}" % ", ".join("%s=%r" % (PROPERTY_NAMES.get(i, hex(i)), v) for i, v in props)


# ---------------------------------------------------------------- decoding

class Packet:
    """One decoded packet. For PUBLISH: topic, payload, qos, retain, dup, mid.
    For acks: mid. For CONNACK: session_present, rc. For SUBACK: mid, granted (list).
    With version=MQTT5 also: .reason (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT, AUTH;
    0 when the short form omits it), .props (list of (id, value) in wire order), for SUBACK
    .granted = the reason codes, for UNSUBACK .reasons; the PUBLISH payload starts after the
    properties. If the v5 part cannot be parsed, .parse_error says why and .prop() raises."""

    def __init__(self, first, body, version=MQTT311):
        self.first = first
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = body
        self.version = version
        self.props = []
        self.reason = None
        self.reasons = None
        self.parse_error = None
        self.mid = None
        if self.type == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.retain = bool(self.flags & 1)
            self.dup = bool(self.flags & 8)
            tlen = struct.unpack("!H", body[:2])[0]
            self.topic_bytes = body[2:2 + tlen]
            self.topic = self.topic_bytes.decode("utf-8", "replace")
            pos = 2 + tlen
            if self.qos > 0:
                self.mid = struct.unpack("!H", body[pos:pos + 2])[0]
                pos += 2
            self.payload = body[pos:]
        elif self.type == CONNACK:
            self.session_present = bool(body[0] & 1) if body else None
            self.rc = body[1] if len(body) > 1 else None
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            self.mid = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
        elif self.type == SUBACK:
            self.mid = struct.unpack("!H", body[:2])[0]
            self.granted = list(body[2:])
        if version == MQTT5:
            try:
                self._parse_v5()
            except (ValueError, IndexError, struct.error) as e:
                self.parse_error = str(e)

    def _parse_v5(self):
        body, t = self.body, self.type
        if t == PUBLISH:
            pos = 2 + len(self.topic_bytes) + (2 if self.qos > 0 else 0)
            self.props, pos = decode_properties(body, pos)
            self.payload = body[pos:]
        elif t == CONNACK:
            self.reason = self.rc
            if len(body) > 2:
                self.props, _ = decode_properties(body, 2)
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.reason = body[2] if len(body) > 2 else 0
            if len(body) > 3:
                self.props, _ = decode_properties(body, 3)
        elif t in (SUBACK, UNSUBACK):
            self.props, pos = decode_properties(body, 2)
            self.reasons = list(body[pos:])
            if t == SUBACK:
                self.granted = self.reasons
        elif t in (DISCONNECT, AUTH):
            self.reason = body[0] if body else 0
            if len(body) > 1:
                self.props, _ = decode_properties(body, 1)

    def _check(self):
        if self.parse_error:
            raise AssertionError("%r: cannot parse MQTT 5 fields: %s" % (self, self.parse_error))

    def prop(self, pid, default=None):
        """Value of the first property pid, or default."""
        self._check()
        for i, v in self.props:
            if i == pid:
                return v
        return default

    def props_of(self, pid):
        """All values of property pid, in wire order."""
        self._check()
        return [v for i, v in self.props if i == pid]

    def has(self, pid):
        self._check()
        return any(i == pid for i, _ in self.props)

    @property
    def user_props(self):
        """The User Properties as a list of (key, value), in wire order."""
        return self.props_of(USER_PROPERTY)

    @property
    def name(self):
        return NAMES.get(self.type, "?%d" % self.type)

    def __repr__(self):
        extra = ""
        if self.version == MQTT5:
            if self.reason is not None and self.type != CONNACK:
                extra += " reason=0x%02x" % self.reason
            if self.reasons is not None and self.type != SUBACK:
                extra += " reasons=%s" % ["0x%02x" % r for r in self.reasons]
            if self.props:
                extra += " " + props_repr(self.props)
            if self.parse_error:
                extra += " PARSE ERROR: %s" % self.parse_error
        if self.type == PUBLISH:
            p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
            return "<PUBLISH %r q%d r%d d%d mid=%s %r%s>" % (self.topic, self.qos, self.retain,
                                                            self.dup, self.mid, p, extra)
        if self.type == CONNACK:
            return "<CONNACK sp=%s rc=%s%s>" % (self.session_present, self.rc, extra)
        if self.type == SUBACK:
            return "<SUBACK mid=%s %s%s>" % (self.mid, self.granted, extra)
        if self.mid is not None:
            return "<%s mid=%s%s>" % (self.name, self.mid, extra)
        if extra:
            return "<%s%s>" % (self.name, extra)
        return "<%s flags=%d %r>" % (self.name, self.flags, self.body)


class Closed(Exception):
    """The server closed the connection."""


class RawClient:
    """A TCP connection speaking raw MQTT. Every read has a timeout; nothing blocks forever."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.timeout = timeout
        self.closed = False
        self.pending = []  # packets read while waiting for another one, returned first by recv()
        self.version = MQTT311  # protocol level of the last CONNECT sent: how replies are parsed

    # -- low level
    def send(self, data):
        self._note_connect(data)
        self.sock.sendall(data)

    def _note_connect(self, data):
        """If data starts with a well-formed CONNECT header, remember its protocol level."""
        if not data or data[0] != 0x10:
            return
        try:
            _, pos = decode_varint(data, 1)
            nlen = struct.unpack("!H", data[pos:pos + 2])[0]
            level = data[pos + 2 + nlen]
        except (ValueError, IndexError, struct.error):
            return
        if level in (MQTT31, MQTT311, MQTT5):
            self.version = level

    def send_slowly(self, data, delay=0.01):
        """Sends one byte at a time with a small pause between bytes."""
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            time.sleep(delay)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            raise Closed("connection closed by server")
        self.buf += data

    def _try_parse(self):
        if len(self.buf) < 2:
            return None
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ValueError("bad remaining length from server")
        if len(self.buf) < i + length:
            return None
        pkt = Packet(self.buf[0], bytes(self.buf[i:i + length]), self.version)
        del self.buf[:i + length]
        return pkt

    def recv(self, timeout=None):
        """Next packet; raises socket.timeout if none arrives in time, Closed if the server closed."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            pkt = self._try_parse()
            if pkt is not None:
                return pkt
            self._fill(deadline)

    def drain(self, timeout=0.5):
        """(topic, payload) of every PUBLISH until nothing arrives for timeout seconds or the server
        closes; QoS 1 and 2 are acknowledged (PUBACK, PUBREC, then PUBCOMP for the PUBREL)."""
        out = []
        while True:
            try:
                p = self.recv(timeout)
            except (socket.timeout, Closed):
                return out
            if p.type == PUBLISH:
                if p.qos == 1:
                    self.send(puback(p.mid))
                elif p.qos == 2:
                    self.send(pubrec(p.mid))
                out.append((p.topic, p.payload))
            elif p.type == PUBREL:
                self.send(pubcomp(p.mid))

    def expect(self, ptype, timeout=None):
        pkt = self.recv(timeout)
        assert pkt.type == ptype, "expected %s, got %r" % (NAMES[ptype], pkt)
        return pkt

    def expect_nothing(self, timeout=0.5):
        """Asserts no packet arrives (and the connection stays open) within timeout."""
        try:
            pkt = self.recv(timeout)
        except socket.timeout:
            return
        raise AssertionError("unexpected packet %r" % pkt)

    def expect_closed(self, timeout=3.0):
        """Asserts the server closes the connection within timeout. Packets received before the
        close are returned (a server may answer, e.g. CONNACK, before closing)."""
        deadline = time.monotonic() + timeout
        got, self.pending = self.pending, []
        while True:
            try:
                pkt = self._try_parse()
            except ValueError:
                self.buf.clear()
                pkt = None
            if pkt is not None:
                got.append(pkt)
                continue
            try:
                self._fill(deadline)
            except Closed:
                return got
            except socket.timeout:
                raise AssertionError("server did not close the connection within %.1fs (got %r)"
                                     % (timeout, got))

    def is_open(self, timeout=1.0):
        """Round trip a PINGREQ: True if PINGRESP came back."""
        try:
            self.send(pingreq())
            while True:
                pkt = self.recv(timeout)
                if pkt.type == PINGRESP:
                    return True
        except (Closed, socket.timeout, OSError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- conveniences
    def connect(self, client_id="", expect_rc=0, **kw):
        """Sends CONNECT, reads CONNACK, asserts its return code; returns the CONNACK."""
        self.send(connect(client_id, **kw))
        ack = self.expect(CONNACK)
        if expect_rc is not None:
            assert ack.rc == expect_rc, "CONNACK rc %r, expected %r" % (ack.rc, expect_rc)
        return ack

    @property
    def v5(self):
        return self.version == MQTT5

    def _props(self, props):
        """props for a builder: on an MQTT 5 connection None means no properties (empty list)."""
        return [] if props is None and self.v5 else props

    def subscribe(self, filters, mid=1, qos=None, props=None):
        """SUBSCRIBE and wait for SUBACK (other packets arriving first are kept for later).
        filters: filter string (QoS `qos` or 0), or list of (filter, qos); in MQTT 5 the second
        element is the options byte (sub_options). Returns the granted list (v5: the reason
        codes); the SUBACK itself is kept in self.last_suback."""
        if isinstance(filters, str):
            filters = [(filters, qos or 0)]
        self.send(subscribe(mid, filters, props=self._props(props)))
        ack = self.expect(SUBACK)
        assert ack.mid == mid
        self.last_suback = ack
        return ack.granted

    def unsubscribe(self, filters, mid=1, props=None):
        self.send(unsubscribe(mid, filters, props=self._props(props)))
        ack = self.expect(UNSUBACK)
        assert ack.mid == mid
        return ack

    def publish(self, topic, payload=b"", qos=0, retain=False, mid=1, dup=False, props=None):
        """PUBLISH and complete the handshake for the QoS (PUBACK, or PUBREC/PUBREL/PUBCOMP).
        Other packets arriving meanwhile (e.g. its own message coming back) are kept for recv().
        Returns the last acknowledgement (None for QoS 0); in MQTT 5 a PUBREC with a reason code
        of 0x80 or more ends the flow and is returned."""
        self.send(publish(topic, payload, qos, retain, dup, mid, props=self._props(props)))
        if qos == 1:
            return self.wait_for(PUBACK, mid)
        elif qos == 2:
            rec = self.wait_for(PUBREC, mid)
            if self.v5 and rec.reason is not None and rec.reason >= 0x80:
                return rec
            self.send(pubrel(mid))
            return self.wait_for(PUBCOMP, mid)
        return None

    def recv_publish(self, timeout=None, ack=True):
        """Next PUBLISH (asserting that is what arrives). With ack, acknowledges QoS 1 (PUBACK)
        and completes QoS 2 (PUBREC, wait PUBREL, PUBCOMP)."""
        pkt = self.expect(PUBLISH, timeout)
        if ack and pkt.qos == 1:
            self.send(puback(pkt.mid))
        elif ack and pkt.qos == 2:
            self.send(pubrec(pkt.mid))
            rel = self.wait_for(PUBREL, pkt.mid, timeout)
            assert rel.flags == 2
            self.send(pubcomp(pkt.mid))
        return pkt

    def wait_for(self, ptype, mid=None, timeout=None):
        """Reads until a packet of ptype (with packet id mid, if given) arrives; packets of other
        kinds read meanwhile are kept and returned by later recv() calls, in order."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        stash = []
        try:
            while True:
                pkt = self._try_parse()
                if pkt is None:
                    self._fill(deadline)
                    continue
                if pkt.type == ptype and (mid is None or pkt.mid == mid):
                    return pkt
                stash.append(pkt)
        finally:
            self.pending.extend(stash)

    def disconnect(self, reason=None, props=None):
        """Sends DISCONNECT (v5: with reason code / properties when given) and closes."""
        try:
            self.send(disconnect(reason, props))
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
