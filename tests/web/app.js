// The test page's client: connects to ws(s)://<this page's host>/mqtt (or ?url=...), subscribes to
// ?topic= (default web/in/#) and lists each message in #messages; the form publishes.
(function () {
  const params = new URLSearchParams(location.search);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = params.get('url') || `${scheme}://${location.host}/mqtt`;
  const topic = params.get('topic') || 'web/in/#';
  const status = document.getElementById('status');
  const show = (text) => { status.textContent = text; };

  const client = mqtt.connect(url, {
    protocolVersion: Number(params.get('v') || 4),
    clientId: params.get('id') || undefined,
    reconnectPeriod: 0,
  });
  client.on('connect', () => {
    show('connected');
    client.subscribe(topic, { qos: 1 }, (err) => show(err ? `subscribe failed: ${err.message}` : 'subscribed'));
  });
  client.on('error', (err) => show(`error: ${err.message}`));
  client.on('close', () => { if (status.textContent !== 'error') show('closed'); });
  client.on('message', (t, payload, packet) => {
    const li = document.createElement('li');
    li.className = 'message';
    li.dataset.topic = t;
    li.dataset.qos = String(packet.qos);
    li.textContent = `${t} ${new TextDecoder().decode(payload)}`;
    document.getElementById('messages').appendChild(li);
  });

  let sent = 0;
  document.getElementById('publish').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = document.getElementById('pub-topic').value;
    const p = document.getElementById('pub-payload').value;
    const qos = Number(document.getElementById('pub-qos').value);
    client.publish(t, p, { qos }, (err) => {
      document.getElementById('pub-status').textContent = err ? `failed: ${err.message}` : `published ${++sent}`;
    });
  });
})();
