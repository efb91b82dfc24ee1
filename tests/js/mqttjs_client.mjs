// A small command-line MQTT client on MQTT.js, driven by the pytest WebSocket tests; prints JSON lines.
//
//   node mqttjs_client.mjs --url ws://127.0.0.1:PORT/mqtt [options] sub [TOPIC...]
//   node mqttjs_client.mjs --url wss://127.0.0.1:PORT/mqtt --ca ca.crt [options] pub TOPIC PAYLOAD
//   node mqttjs_client.mjs --url ws://... [options] --file FILE pub TOPIC      (payload from a file)
//   node mqttjs_client.mjs --url ws://... [options] idle      (connects, then waits to be killed)
//
// Output, one JSON object a line on stdout:
//   {"event":"connack","sessionPresent":false,"reasonCode":0}
//   {"event":"suback","granted":[1]}           (sub with topics; granted QoS or v5 reason codes)
//   {"event":"message","topic":"t","payload":"text","qos":1,"retain":false,"properties":{...}}
//   {"event":"published","topic":"t","qos":2}   (pub, once the QoS 1/2 handshake is complete)
// `sub` exits after --count messages (default 1; 0: right after SUBACK, e.g. to leave a session
// behind); with no TOPIC it subscribes to nothing and only receives (a resumed session).
//
// Exit status: 0 done, 1 bad usage, 2 connection failed or closed, 3 --timeout passed,
// 4 connection refused by the broker (CONNACK code in the "error" line on stderr).
import fs from 'node:fs';
import mqtt from 'mqtt';

const USAGE = `usage: mqttjs_client.mjs --url URL [options] (sub [TOPIC...] | pub TOPIC [PAYLOAD] | idle)
  --protocol-version 3|4|5  MQTT 3.1, 3.1.1 (default) or 5
  --id ID                   client id (default: MQTT.js's random one)
  --no-clean                clean session off (v3/v4) / Clean Start 0 (v5)
  --session-expiry S        v5 Session Expiry Interval
  --keepalive S             keepalive (default 60)
  --ca FILE                 trust this CA for wss (the server name is checked)
  --insecure                do not check the server certificate
  --origin ORIGIN           Origin header of the WebSocket handshake
  --qos N --retain          of pub, of sub's subscriptions
  --count N                 sub: messages to receive before exiting (default 1)
  --file FILE               pub: the payload is this file's content
  --user-property K=V       pub: v5 user property (repeatable)
  --content-type CT         pub: v5 content type
  --will-topic T --will-payload P --will-qos N --will-retain
  --timeout S               give up after S seconds (default 10), exit status 3`;

function parse(argv) {
  const o = { protocolVersion: 4, clean: true, keepalive: 60, qos: 0, retain: false, count: 1,
              userProperties: {}, timeout: 10, willQos: 0, willRetain: false, rest: [] };
  const flags = { '--no-clean': () => { o.clean = false; }, '--retain': () => { o.retain = true; },
                  '--will-retain': () => { o.willRetain = true; }, '--insecure': () => { o.insecure = true; } };
  const values = {
    '--url': (v) => { o.url = v; }, '--protocol-version': (v) => { o.protocolVersion = Number(v); },
    '--id': (v) => { o.id = v; }, '--session-expiry': (v) => { o.sessionExpiry = Number(v); },
    '--keepalive': (v) => { o.keepalive = Number(v); }, '--ca': (v) => { o.ca = v; },
    '--origin': (v) => { o.origin = v; }, '--qos': (v) => { o.qos = Number(v); },
    '--count': (v) => { o.count = Number(v); }, '--file': (v) => { o.file = v; }, '--content-type': (v) => { o.contentType = v; },
    '--user-property': (v) => {
      const i = v.indexOf('=');
      if (i < 0) usage(`--user-property wants K=V, not ${v}`);
      o.userProperties[v.slice(0, i)] = v.slice(i + 1);
    },
    '--will-topic': (v) => { o.willTopic = v; }, '--will-payload': (v) => { o.willPayload = v; },
    '--will-qos': (v) => { o.willQos = Number(v); }, '--timeout': (v) => { o.timeout = Number(v); },
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (flags[a]) flags[a]();
    else if (values[a]) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      values[a](argv[++i]);
    } else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else o.rest.push(a);
  }
  o.command = o.rest.shift();
  if (!o.url) usage('--url is required');
  if (o.command === 'pub' && o.rest.length !== (o.file ? 1 : 2)) usage('pub wants TOPIC PAYLOAD, or TOPIC with --file');
  if (!['sub', 'pub', 'idle'].includes(o.command)) usage(`unknown command ${o.command}`);
  return o;
}

// process.exit() drops what is still queued for a pipe (a large message): exit once it is written.
const exit = (status) => process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));

function usage(msg) {
  process.stderr.write(`mqttjs_client: ${msg}\n${USAGE}\n`);
  process.exit(1);
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
let exiting = false;
const fail = (status, obj) => {
  if (exiting) return;
  exiting = true;
  process.stderr.write(JSON.stringify({ event: 'error', ...obj }) + '\n');
  exit(status);
};

function connectOptions(o) {
  const opts = { protocolVersion: o.protocolVersion, clean: o.clean, keepalive: o.keepalive,
                 reconnectPeriod: 0, connectTimeout: o.timeout * 1000, wsOptions: {} };
  if (o.protocolVersion === 3) opts.protocolId = 'MQIsdp';
  if (o.id !== undefined) opts.clientId = o.id;
  if (o.sessionExpiry !== undefined) opts.properties = { sessionExpiryInterval: o.sessionExpiry };
  if (o.ca) opts.ca = fs.readFileSync(o.ca);
  if (o.insecure) opts.rejectUnauthorized = false;
  if (o.origin) opts.wsOptions.origin = o.origin;
  if (o.willTopic) {
    opts.will = { topic: o.willTopic, payload: Buffer.from(o.willPayload ?? ''), qos: o.willQos,
                  retain: o.willRetain };
  }
  return opts;
}

function printMessage(topic, payload, packet) {
  const msg = { event: 'message', topic, payload: payload.toString('utf8'), length: payload.length,
                qos: packet.qos, retain: packet.retain };
  if (packet.properties) msg.properties = packet.properties;
  out(msg);
}

async function main() {
  const o = parse(process.argv.slice(2));
  setTimeout(() => fail(3, { message: `timed out after ${o.timeout}s` }), o.timeout * 1000).unref();

  const client = mqtt.connect(o.url, connectOptions(o));
  let received = 0;
  let done = false;
  client.on('message', (topic, payload, packet) => {
    printMessage(topic, payload, packet);
    if (o.command === 'sub' && ++received >= o.count && o.count > 0) finish();
  });
  client.on('error', (err) => {
    if (done) return; // a late error while saying goodbye changes nothing
    // A CONNACK refusal carries its code; anything else is a transport or protocol failure.
    if (typeof err.code === 'number') fail(4, { message: err.message, code: err.code });
    fail(2, { message: err.message, code: err.code ?? null });
  });
  client.on('close', () => { if (!done) fail(2, { message: 'connection closed' }); });

  async function finish() {
    done = true;
    await client.endAsync();
    exiting = true;
    exit(0);
  }

  await new Promise((resolve) => client.once('connect', (connack) => {
    out({ event: 'connack', sessionPresent: connack.sessionPresent,
          reasonCode: connack.reasonCode ?? connack.returnCode ?? 0 });
    resolve();
  }));

  if (o.command === 'pub') {
    const topic = o.rest[0];
    const payload = o.file ? fs.readFileSync(o.file) : o.rest[1];
    const props = {};
    if (Object.keys(o.userProperties).length) props.userProperties = o.userProperties;
    if (o.contentType) props.contentType = o.contentType;
    const popts = { qos: o.qos, retain: o.retain };
    if (Object.keys(props).length) popts.properties = props;
    await client.publishAsync(topic, payload, popts);
    out({ event: 'published', topic, qos: o.qos });
    await finish();
  } else if (o.command === 'sub') {
    if (o.rest.length) {
      const granted = await client.subscribeAsync(o.rest, { qos: o.qos });
      out({ event: 'suback', granted: granted.map((g) => g.qos) });
    }
    if (o.count === 0) await finish();
  }
  // idle, and sub waiting for its messages: the event handlers above finish or fail.
}

main().catch((err) => fail(2, { message: String(err && err.message ? err.message : err) }));
