// Midge's dashboard (index.html): the overview from /api/v1/stats, /api/v1/listeners and /api/v1/bridges, a topic
// explorer and an MQTT client on the page's own MQTT 5 connection (MQTT.js over WebSocket at /mqtt of this host),
// and the clients from /api/v1/clients. Plain browser JavaScript: the globals mqtt (MQTT.js) and uPlot come from their bundles,
// served by the broker like this file.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);

  // An element with properties (className, textContent, dataset entries as data: {...}, others as attributes)
  // and children.
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'className' || k === 'textContent' || k === 'title' || k === 'type') e[k] = v;
      else if (k === 'data') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }

  const session = { auth: null, user: null, pass: null, started: false };

  // ------------------------------------------------------------------ the HTTP API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // A request to the API with the page's credentials; resolves to the JSON body, or rejects with an ApiError
  // (status 0: the broker could not be reached). X-Requested-With keeps a 401 from opening the browser's own
  // login dialog: the page shows its form instead.
  async function api(path, method = 'GET') {
    const headers = { 'X-Requested-With': 'XMLHttpRequest', Accept: 'application/json' };
    if (session.auth) headers.Authorization = session.auth;
    let r;
    try {
      r = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, 'the broker cannot be reached');
    }
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (!r.ok) throw new ApiError(r.status, body && body.error ? body.error.message : `HTTP ${r.status}`);
    return body;
  }

  function basic(user, pass) {
    const bytes = new TextEncoder().encode(`${user}:${pass}`);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return `Basic ${btoa(bin)}`;
  }

  // ------------------------------------------------------------------ login

  function showLogin(message) {
    $('login-box').hidden = false;
    $('login-error').textContent = message || '';
    $('login-user').focus();
  }

  $('login').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('login-user').value;
    const pass = $('login-pass').value;
    session.auth = basic(user, pass);
    $('login-error').textContent = '';
    $('login-submit').disabled = true;
    try {
      const stats = await api('/api/v1/stats');
      session.user = user;
      session.pass = pass;
      $('login-box').hidden = true;
      $('login-pass').value = '';
      begin(stats, null);
    } catch (e) {
      if (e.status === 403) {
        // Known, but not allowed to read the broker's state: the MQTT views still work.
        session.user = user;
        session.pass = pass;
        $('login-box').hidden = true;
        begin(null, e);
      } else {
        session.auth = null;
        $('login-error').textContent = e.status === 401 ? 'Wrong username or password.' : e.message;
      }
    } finally {
      $('login-submit').disabled = false;
    }
  });

  $('logout').addEventListener('click', () => {
    // Forgetting the credentials and every connection made with them: a fresh page.
    session.auth = null;
    if (mq.client) mq.client.end(true);
    location.reload();
  });

  // The first request tells whether a login is needed.
  async function start() {
    try {
      begin(await api('/api/v1/stats'), null);
    } catch (e) {
      if (e.status === 401) showLogin('');
      else if (e.status === 0) {
        $('overview-error').hidden = false;
        $('overview-error').textContent = `${e.message}; trying again`;
        setTimeout(start, 2000);
      } else begin(null, e);
    }
  }

  function begin(stats, err) {
    if (session.started) return;
    session.started = true;
    if (session.user !== null) {
      $('whoami').textContent = session.user;
      $('logout').hidden = false;
    }
    if (stats) overview.take(stats);
    if (err) overview.error(err);
    if (!err || err.status !== 403) overview.start();
    mq.connect();
    showView(currentView());
  }

  // ------------------------------------------------------------------ views

  const VIEWS = ['overview', 'topics', 'client', 'clients'];
  const currentView = () => {
    const v = location.hash.slice(1);
    return VIEWS.includes(v) ? v : 'overview';
  };

  function showView(name) {
    for (const v of VIEWS) {
      $(`view-${v}`).hidden = v !== name;
      $(`nav-${v}`).classList.toggle('active', v === name);
    }
    clients.active(name === 'clients');
    if (name === 'overview') overview.resize();
    if (name === 'topics') explorer.flush();
  }

  for (const b of document.querySelectorAll('#nav button')) {
    b.addEventListener('click', () => {
      if (location.hash === `#${b.dataset.view}`) showView(b.dataset.view);
      else location.hash = b.dataset.view;
    });
  }
  window.addEventListener('hashchange', () => showView(currentView()));

  // ------------------------------------------------------------------ formatting

  function duration(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${hh}h ${m}m`;
    if (hh) return `${hh}h ${m}m ${s % 60}s`;
    if (m) return `${m}m ${s % 60}s`;
    return `${s % 60}s`;
  }

  function num(n, digits = 0) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    return n.toLocaleString('en-US', { maximumFractionDigits: digits });
  }

  function bytes(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < u.length - 1) {
      n /= 1024;
      i++;
    }
    return `${num(n, i ? 1 : 0)} ${u[i]}`;
  }

  const clock = (t) => new Date(t).toLocaleTimeString('en-GB', { hour12: false });

  // A payload for people: text (JSON pretty-printed), or hex when it is not UTF-8 text. Numbers are kept for
  // charts. Cached on the message, since only what is shown is decoded.
  const UTF8 = new TextDecoder('utf-8', { fatal: true });
  const HEX_MAX = 1024;
  function decoded(m) {
    if (m.dec) return m.dec;
    const p = m.payload;
    let d;
    if (!p || !p.length) d = { kind: 'empty', text: '', line: '(empty)' };
    else {
      let t = null;
      try {
        t = UTF8.decode(p);
      } catch (e) {
        t = null;
      }
      // eslint-disable-next-line no-control-regex
      if (t === null || /[\x00-\x08\x0e-\x1f\x7f]/.test(t)) {
        const hex = Array.from(p.subarray(0, HEX_MAX), (b) => b.toString(16).padStart(2, '0')).join(' ');
        d = { kind: 'binary', text: hex + (p.length > HEX_MAX ? ' …' : ''), line: `0x ${hex.slice(0, 96)}` };
      } else {
        const s = t.trim();
        d = { kind: 'text', text: t, line: s.replace(/\s+/g, ' ').slice(0, 200) };
        if (s[0] === '{' || s[0] === '[') {
          try {
            const v = JSON.parse(s);
            d = { kind: 'json', text: JSON.stringify(v, null, 2), line: JSON.stringify(v).slice(0, 200) };
          } catch (e) {
            // not JSON after all: text
          }
        } else if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) {
          d.num = Number(s);
        }
      }
    }
    m.dec = d;
    return d;
  }

  function propsText(p) {
    if (!p) return '';
    const out = [];
    if (p.contentType) out.push(`content type ${p.contentType}`);
    if (p.responseTopic) out.push(`response topic ${p.responseTopic}`);
    if (p.correlationData) out.push(`correlation data ${decoded({ payload: p.correlationData }).line}`);
    if (p.messageExpiryInterval !== undefined) out.push(`expiry ${p.messageExpiryInterval}s`);
    if (p.payloadFormatIndicator) out.push('UTF-8 payload');
    if (p.userProperties) {
      for (const [k, v] of Object.entries(p.userProperties)) {
        for (const one of Array.isArray(v) ? v : [v]) out.push(`${k}=${one}`);
      }
    }
    return out.join(' · ');
  }

  // ------------------------------------------------------------------ charts (uPlot)

  const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea'];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
  }

  // Ticks of whole numbers only: counts and rates a second have no use for 0.25.
  const INCRS = [];
  for (let e = 1; e <= 1e12; e *= 10) INCRS.push(e, 2 * e, 5 * e);

  // A time-series chart in container el with one line per label; height in pixels; fmt formats values
  // (default: a number, for time series of whole things: y ticks are whole numbers).
  function makeChart(el, labels, height, fmt, fractional) {
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--line'), width: 1 }, ticks: { show: false } };
    // Whole seconds at least between time ticks: a reading a second has nothing finer to show.
    const xAxis = { ...axis, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400] };
    const yAxis = { ...axis, size: 60, values: (u, vals) => vals.map((v) => (fmt ? fmt(v) : num(v, 2))) };
    if (!fractional) yAxis.incrs = INCRS;
    const opts = {
      width: Math.max(200, el.clientWidth || 300),
      height,
      legend: { show: labels.length > 1 },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        // From 0 for counts and rates; a topic's values (fractional) get their own range.
        y: fractional ? { auto: true } : { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [xAxis, yAxis],
      series: [{}].concat(labels.map((l, i) => ({
        label: l,
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        fill: labels.length === 1 ? `${COLORS[i % COLORS.length]}22` : undefined,
        value: (u, v) => (v === null || v === undefined ? '–' : fmt ? fmt(v) : num(v, 1)),
      }))),
    };
    const data = [[]].concat(labels.map(() => []));
    const chart = new uPlot(opts, data, el);
    // Resized on the next frame, not inside the observer's callback (which would make it observe again).
    const ro = new ResizeObserver(() => requestAnimationFrame(() => {
      const w = el.clientWidth;
      if (w > 0 && w !== chart.width) chart.setSize({ width: w, height });
    }));
    ro.observe(el);
    chart.dispose = () => {
      ro.disconnect();
      chart.destroy();
    };
    return chart;
  }

  // ------------------------------------------------------------------ overview

  const overview = (function () {
    const POINTS = 300; // five minutes, one a second
    const t = [];
    const s = { msgsIn: [], msgsOut: [], bytesIn: [], bytesOut: [], clients: [], subs: [], retained: [], dropped: [] };
    let charts = null;
    let prev = null;
    let busy = false;
    let timer = null;
    let lastListeners = 0;

    function ensureCharts() {
      if (charts || $('view-overview').hidden) return;
      charts = {
        messages: makeChart($('chart-messages'), ['in', 'out'], 180),
        bytes: makeChart($('chart-bytes'), ['in', 'out'], 180, bytes),
        clients: makeChart($('chart-clients'), ['connected'], 180),
        subscriptions: makeChart($('chart-subscriptions'), ['subscriptions'], 180),
        retained: makeChart($('chart-retained'), ['retained'], 180),
        dropped: makeChart($('chart-dropped'), ['dropped/s'], 180),
      };
      draw();
    }

    function draw() {
      if (!charts) return;
      charts.messages.setData([t, s.msgsIn, s.msgsOut]);
      charts.bytes.setData([t, s.bytesIn, s.bytesOut]);
      charts.clients.setData([t, s.clients]);
      charts.subscriptions.setData([t, s.subs]);
      charts.retained.setData([t, s.retained]);
      charts.dropped.setData([t, s.dropped]);
    }

    function push(arr, v) {
      arr.push(v);
      if (arr.length > POINTS) arr.shift();
    }

    // Counters only grow; a smaller one means the broker restarted, and that second has no rate.
    const rate = (a, b, dt) => (a === undefined || b < a ? null : (b - a) / dt);

    function take(st) {
      const at = performance.now();
      $('overview-error').hidden = true;
      $('stat-version').textContent = st.version;
      $('stat-uptime').textContent = duration(st.uptime);
      $('stat-clients').textContent = `${num(st.clients.connected)} (${num(st.clients.disconnected)} offline)`;
      $('stat-subscriptions').textContent = num(st.subscriptions);
      $('stat-retained').textContent = num(st.retained);
      $('stat-dropped').textContent = num(st.publish.dropped);
      const br = st.bridges || { total: 0, connected: 0 }; // a broker without bridges support: none
      $('tile-bridges').hidden = !br.total;
      $('stat-bridges').textContent = `${num(br.connected)} of ${num(br.total)}`;
      // Two readings closer than half a second make a noisy rate: the next one is compared with the older.
      if (prev && at - prev.at < 500) return;
      // The first reading has no rates yet, but its gauges are charted at once.
      const dt = prev ? (at - prev.at) / 1000 : 0;
      const p = prev ? prev.st : null;
      const r = {
        msgsIn: p && rate(p.publish.received, st.publish.received, dt),
        msgsOut: p && rate(p.publish.sent, st.publish.sent, dt),
        bytesIn: p && rate(p.bytes.received, st.bytes.received, dt),
        bytesOut: p && rate(p.bytes.sent, st.bytes.sent, dt),
        dropped: p && rate(p.publish.dropped, st.publish.dropped, dt),
      };
      push(t, Date.now() / 1000);
      for (const k of Object.keys(r)) push(s[k], r[k]);
      push(s.clients, st.clients.connected);
      push(s.subs, st.subscriptions);
      push(s.retained, st.retained);
      for (const [id, v] of [['rate-msgs-in', r.msgsIn], ['rate-msgs-out', r.msgsOut]]) {
        $(id).textContent = num(v, 0);
        $(id).dataset.value = String(Math.round(v || 0));
      }
      $('chart-messages').dataset.max = String(Math.round(Math.max(0, ...s.msgsIn.filter((v) => v !== null))));
      $('chart-messages').dataset.points = String(t.length);
      draw();
      prev = { at, st };
    }

    function error(e) {
      $('overview-error').hidden = false;
      $('overview-error').textContent = e.status === 403
        ? `The broker's figures are not shown: ${e.message}.`
        : `Could not read the broker's figures: ${e.message}.`;
    }

    async function poll() {
      if (busy) return;
      busy = true;
      try {
        const st = await api('/api/v1/stats');
        take(st);
        // The bridges' counters move like the overview's: read each second, but only when there are any.
        bridges(st.bridges && st.bridges.total ? await api('/api/v1/bridges') : { bridges: [] });
        if (Date.now() - lastListeners > 5000) {
          lastListeners = Date.now();
          listeners(await api('/api/v1/listeners'));
        }
      } catch (e) {
        if (e.status === 401) showLogin('Your login is no longer accepted.');
        // Not allowed stays not allowed: no request a second to be told so again.
        if (e.status === 403) clearInterval(timer);
        error(e);
      } finally {
        busy = false;
      }
    }

    function listeners(j) {
      const yes = (b) => h('td', { className: b ? 'yes' : '' }, b ? 'yes' : 'no');
      $('listeners').tBodies[0].replaceChildren(...j.listeners.map((l) => h('tr', { data: { port: String(l.port) } },
        h('td', {}, String(l.port)), h('td', {}, l.protocol), h('td', {}, l.address || l.interface || 'all'),
        yes(l.encrypted), yes(l.client_certificates), h('td', {}, num(l.connections)))));
      const g = j.guard || {};
      const parts = [];
      if (g.encrypted_only_listener) parts.push('listeners marked encrypted-only');
      if (g.encrypted_topics && g.encrypted_topics.length) parts.push(`encrypted topics ${g.encrypted_topics.join(', ')}`);
      $('guard').dataset.active = g.active ? 'true' : 'false';
      $('guard').textContent = g.active
        ? `Encryption guard: on (${parts.join('; ')}): data published over TLS stays off plain listeners.`
        : 'Encryption guard: off.';
    }

    function bridges(j) {
      const list = j.bridges || [];
      $('bridges-none').hidden = list.length > 0;
      $('bridges-box').hidden = list.length === 0;
      $('bridges').tBodies[0].replaceChildren(...list.map((b) => h('tr', { data: { bridge: b.name, state: b.state } },
        h('td', {}, b.name), h('td', {}, h('span', { className: 'badge', data: { state: b.state } }, b.state)),
        h('td', {}, b.address), h('td', {}, num(b.queued)), h('td', {}, num(b.connects)), h('td', {}, num(b.sent)),
        h('td', {}, num(b.received)), h('td', {}, num(b.dropped)))));
      $('bridges-section').dataset.loaded = 'true';
    }

    return {
      take,
      error,
      start() {
        poll();
        timer = setInterval(poll, 1000);
      },
      resize: () => ensureCharts(),
      series: () => ({ t, ...s }),
    };
  })();

  // ------------------------------------------------------------------ the page's MQTT connection

  const SUB_ALL = 1; // the explorer's #
  const SUB_SYS = 2; // the explorer's $SYS/#
  const mq = {
    client: null,
    connected: false,
    setStatus(state, text) {
      const b = $('mqtt-status');
      b.dataset.state = state;
      b.textContent = `MQTT: ${text || state}`;
      b.title = text || state;
    },
    connect() {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const id = `midge-dashboard-${Math.random().toString(16).slice(2, 10)}`;
      const opts = {
        protocolVersion: 5,
        clientId: id,
        clean: true,
        keepalive: 30,
        reconnectPeriod: 3000,
        connectTimeout: 10000,
        resubscribe: false, // this page subscribes again itself on each connect
      };
      if (session.user !== null) {
        opts.username = session.user;
        opts.password = session.pass;
      }
      mq.id = id;
      mq.setStatus('connecting');
      const c = mqtt.connect(`${scheme}://${location.host}/mqtt`, opts);
      mq.client = c;
      c.on('connect', () => {
        mq.connected = true;
        mq.setStatus('connected');
        explorer.subscribe();
        client.resubscribe();
      });
      c.on('reconnect', () => mq.setStatus('connecting'));
      c.on('close', () => {
        mq.connected = false;
        if ($('mqtt-status').dataset.state !== 'error') mq.setStatus('closed', 'disconnected, retrying');
      });
      c.on('error', (e) => mq.setStatus('error', e.message));
      c.on('message', route);
    },
  };

  // Each subscription has its own identifier, so a message goes where it was subscribed for; a broker that sends
  // none gets the topic matched here instead.
  function route(topic, payload, packet) {
    const p = packet.properties || {};
    const raw = p.subscriptionIdentifier;
    const ids = raw === undefined ? null : Array.isArray(raw) ? raw : [raw];
    const m = { topic, payload, qos: packet.qos, retain: packet.retain, at: Date.now(), props: p };
    if (!ids || ids.includes(SUB_ALL) || ids.includes(SUB_SYS)) explorer.add(m);
    const subs = client.subsFor(topic, ids);
    if (subs.length) client.add(m, subs);
  }

  // Topic filter matching (MQTT 4.7), for a broker that sends no subscription identifiers.
  function matches(filter, topic) {
    const f = filter.split('/');
    const t = topic.split('/');
    if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
    }
    return f.length === t.length;
  }

  // ------------------------------------------------------------------ topic explorer

  const explorer = (function () {
    const HISTORY = 50; // messages kept per topic
    const MAX_SHOWN = 300; // children shown per branch
    const MAX_NODES = 50000; // topics kept at all
    const AUTO_OPEN = 50; // a branch with at most this many children starts open
    const tree = $('topic-tree');

    class TNode {
      constructor(name, parent) {
        this.name = name;
        this.parent = parent;
        this.path = parent === null ? null : parent.path === null ? name : `${parent.path}/${name}`;
        this.children = new Map();
        this.sorted = null;
        this.count = 0; // messages here and below
        this.topics = 0; // topics with messages here and below
        this.history = []; // newest last
        this.expanded = null; // null: as AUTO_OPEN says
        this.li = null;
        this.ul = null;
      }

      get last() {
        return this.history.length ? this.history[this.history.length - 1] : null;
      }

      kids() {
        if (!this.sorted) {
          this.sorted = [...this.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        }
        return this.sorted;
      }
    }

    let root = new TNode('', null);
    let nodes = 0;
    let dropped = 0;
    let selected = null;
    let filter = '';
    let timer = null;
    let rebuild = false;
    let detailChart = null;
    const dirtyRows = new Set();
    const dirtyKids = new Set();

    const isOpen = (n) => (filter ? true : n.expanded !== null ? n.expanded : n.children.size <= AUTO_OPEN);

    // With a filter, a node is shown when its topic or one below it contains the filter's text.
    function visible(n) {
      if (!filter) return true;
      if (n.path.toLowerCase().includes(filter)) return true;
      for (const k of n.children.values()) if (visible(k)) return true;
      return false;
    }

    function add(m) {
      let n = root;
      const path = [];
      for (const level of m.topic.split('/')) {
        let k = n.children.get(level);
        if (!k) {
          if (nodes >= MAX_NODES) {
            dropped++;
            return;
          }
          k = new TNode(level, n);
          n.children.set(level, k);
          n.sorted = null;
          nodes++;
          dirtyKids.add(n);
          if (filter) rebuild = true;
        }
        path.push(k);
        n = k;
      }
      const first = n.history.length === 0;
      n.history.push(m);
      if (n.history.length > HISTORY) n.history.shift();
      for (const p of path) {
        p.count++;
        if (first) p.topics++;
        dirtyRows.add(p);
      }
      root.count++;
      if (first) root.topics++;
      schedule();
    }

    function schedule() {
      if (!timer) timer = setTimeout(flush, 200);
    }

    function row(n) {
      const r = h('div', { className: 'row', data: { test: 'topic-row' } },
        h('span', { className: 'toggle', data: { test: 'toggle' } }),
        h('span', { className: 'name' }, n.name === '' ? '(empty)' : n.name),
        h('span', { className: 'count', data: { test: 'count' } }),
        h('span', { className: 'flags', data: { test: 'flags' } }),
        h('span', { className: 'value', data: { test: 'value' } }));
      r.addEventListener('click', (ev) => {
        if (ev.target.classList.contains('toggle') || (!n.history.length && n.children.size)) toggle(n);
        else select(n);
      });
      return r;
    }

    function updateRow(n) {
      const r = n.li.firstChild;
      const [tg, , count, flags, value] = r.children;
      tg.textContent = n.children.size ? (isOpen(n) ? '▾' : '▸') : '';
      count.textContent = n.children.size ? `(${num(n.topics)} topics, ${num(n.count)} msgs)` : `(${num(n.count)})`;
      const last = n.last;
      flags.textContent = last ? `Q${last.qos}${last.retain ? ' R' : ''}` : '';
      value.textContent = last ? decoded(last).line : '';
      r.classList.toggle('selected', n === selected);
    }

    function render(n) {
      n.li = h('li', { className: 'node', data: { topic: n.path } }, row(n));
      n.ul = null;
      updateRow(n);
      if (n.children.size && isOpen(n)) renderKids(n);
      return n.li;
    }

    // (Re)builds the list of n's children, reusing their rows.
    function renderKids(n) {
      const list = n === root ? tree : n.ul || (n.ul = h('ul', {}));
      if (n !== root && !list.parentNode) n.li.append(list);
      const kids = n.kids().filter(visible);
      const items = kids.slice(0, MAX_SHOWN).map((k) => k.li || render(k));
      if (kids.length > MAX_SHOWN) {
        items.push(h('li', { className: 'more' }, `… ${num(kids.length - MAX_SHOWN)} more (filter to see them)`));
      }
      list.replaceChildren(...items);
    }

    // Opens or closes n (open: true, false, or undefined to switch).
    function toggle(n, open) {
      n.expanded = open !== undefined ? open : !isOpen(n);
      if (n.expanded) renderKids(n);
      else if (n.ul) {
        n.ul.remove();
        n.ul = null;
        // Rows below are built again when opened, with what arrived meanwhile.
        forget(n, false);
      }
      updateRow(n);
    }

    // Drops the rows of n's subtree (and n's own with self), so that they are built anew.
    function forget(n, self) {
      if (self) {
        n.li = null;
        n.ul = null;
      }
      for (const k of n.children.values()) forget(k, true);
    }

    const shown = (n) => n === root || (n.li !== null && n.li.isConnected);

    function flush() {
      clearTimeout(timer);
      timer = null;
      if ($('view-topics').hidden) return; // built when the view is shown
      if (rebuild) {
        rebuild = false;
        forget(root, false);
        renderKids(root);
      } else {
        for (const n of dirtyKids) {
          if (!shown(n)) continue;
          if (isOpen(n)) renderKids(n);
          else if (n.ul) toggle(n, false); // grown past AUTO_OPEN children: closed now
        }
        for (const n of dirtyRows) if (n.li && n.li.isConnected) updateRow(n);
      }
      if (selected && dirtyRows.has(selected)) detail();
      dirtyKids.clear();
      dirtyRows.clear();
      $('topics-summary').textContent = `${num(root.topics)} topics, ${num(root.count)} messages`
        + (dropped ? `, ${num(dropped)} on topics past ${num(MAX_NODES)} not shown` : '');
    }

    function select(n) {
      const old = selected;
      selected = n;
      if (old && old.li) updateRow(old);
      if (n.li) updateRow(n);
      detail(true);
    }

    // The selected topic's last value, flags, age, history and a chart of its numeric values.
    function detail(fresh) {
      const n = selected;
      $('topic-detail').hidden = !n;
      if (!n) return;
      $('detail-topic').textContent = n.path;
      const last = n.last;
      $('detail-value').textContent = last ? decoded(last).text : '(no message on this topic itself)';
      $('detail-value').dataset.kind = last ? decoded(last).kind : '';
      age();
      $('detail-history').replaceChildren(...n.history.slice().reverse().map((m) => h('li', {
        title: propsText(m.props),
      }, `${clock(m.at)}  Q${m.qos}${m.retain ? ' R' : ''}  ${decoded(m).line}`)));
      const pts = n.history.filter((m) => decoded(m).num !== undefined);
      const el = $('detail-chart');
      if (pts.length < 2) {
        if (detailChart) detailChart.dispose();
        detailChart = null;
        el.hidden = true;
        return;
      }
      el.hidden = false;
      if (fresh || !detailChart) {
        if (detailChart) detailChart.dispose();
        detailChart = makeChart(el, [n.name], 120, null, true);
      }
      detailChart.setData([pts.map((m) => m.at / 1000), pts.map((m) => decoded(m).num)]);
    }

    function age() {
      const n = selected;
      if (!n || $('view-topics').hidden) return;
      const last = n.last;
      const parts = [];
      if (last) {
        parts.push(`QoS ${last.qos}`, last.retain ? 'retained' : 'live', `${num(n.count)} message${n.count === 1 ? '' : 's'}`,
          `last ${duration((Date.now() - last.at) / 1000)} ago`, decoded(last).kind);
        const pt = propsText(last.props);
        if (pt) parts.push(pt);
      } else parts.push(`${num(n.topics)} topics below, ${num(n.count)} messages`);
      $('detail-meta').textContent = parts.join(' · ');
    }
    setInterval(age, 1000);

    function setAll(open) {
      const walk = (n) => {
        if (n !== root && n.children.size) n.expanded = open;
        for (const k of n.children.values()) walk(k);
      };
      walk(root);
      rebuild = true;
      flush();
    }

    $('topics-filter').addEventListener('input', (ev) => {
      filter = ev.target.value.trim().toLowerCase();
      rebuild = true;
      flush();
    });
    $('topics-expand').addEventListener('click', () => setAll(true));
    $('topics-collapse').addEventListener('click', () => setAll(false));
    $('topics-clear').addEventListener('click', () => {
      root = new TNode('', null);
      nodes = 0;
      dropped = 0;
      selected = null;
      detail();
      rebuild = true;
      flush();
    });
    $('topics-sys').addEventListener('change', (ev) => {
      const c = mq.client;
      if (!c || !mq.connected) return; // subscribed on connect after the box
      if (ev.target.checked) c.subscribe('$SYS/#', { qos: 0, properties: { subscriptionIdentifier: SUB_SYS } });
      else c.unsubscribe('$SYS/#');
    });

    return {
      add,
      flush() {
        rebuild = true;
        flush();
      },
      subscribe() {
        const c = mq.client;
        // QoS 2: each message comes with the QoS it was published with.
        c.subscribe('#', { qos: 2, properties: { subscriptionIdentifier: SUB_ALL } }, (err) => {
          if (err) mq.setStatus('error', `subscribe #: ${err.message}`);
        });
        if ($('topics-sys').checked) c.subscribe('$SYS/#', { qos: 0, properties: { subscriptionIdentifier: SUB_SYS } });
      },
      stats: () => ({ topics: root.topics, messages: root.count }),
    };
  })();

  // ------------------------------------------------------------------ client: publish and subscribe

  const client = (function () {
    const MAX_MESSAGES = 1000;
    const subs = new Map(); // filter -> {id, qos}
    let nextId = 10;
    let paused = false;
    let held = []; // arrived while paused
    let published = 0;
    let total = 0;
    const pane = $('sub-messages');

    $('pub-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const status = $('pub-status');
      const c = mq.client;
      if (!c || !mq.connected) {
        status.textContent = 'not connected';
        return;
      }
      const topic = $('pub-topic').value;
      const props = {};
      const ct = $('pub-content-type').value.trim();
      const rt = $('pub-response-topic').value.trim();
      const exp = $('pub-expiry').value.trim();
      if (ct) props.contentType = ct;
      if (rt) props.responseTopic = rt;
      if (exp !== '') props.messageExpiryInterval = Number(exp);
      const users = {};
      for (const line of $('pub-user-props').value.split('\n')) {
        if (!line.trim()) continue;
        const eq = line.indexOf('=');
        const k = (eq < 0 ? line : line.slice(0, eq)).trim();
        const v = eq < 0 ? '' : line.slice(eq + 1).trim();
        users[k] = k in users ? [].concat(users[k], v) : v;
      }
      if (Object.keys(users).length) props.userProperties = users;
      const opts = { qos: Number($('pub-qos').value), retain: $('pub-retain').checked };
      if (Object.keys(props).length) opts.properties = props;
      status.textContent = 'publishing…';
      c.publish(topic, $('pub-payload').value, opts, (err) => {
        status.textContent = err ? `failed: ${err.message}` : `published ${++published}`;
        status.dataset.count = String(published);
      });
    });

    function chips() {
      $('sub-list').replaceChildren(...[...subs.entries()].map(([f, s]) => h('li', { data: { filter: f } },
        `${f} (QoS ${s.qos})`,
        h('button', { type: 'button', title: `unsubscribe ${f}`, 'aria-label': `unsubscribe ${f}`, onclick: () => unsub(f) },
          '×'))));
    }

    function sub(filter, qos) {
      const old = subs.get(filter);
      const s = { id: old ? old.id : nextId++, qos, state: 'pending' };
      subs.set(filter, s);
      chips();
      if (mq.client && mq.connected) send(filter, s);
    }

    function send(filter, s) {
      mq.client.subscribe(filter, { qos: s.qos, properties: { subscriptionIdentifier: s.id } }, (err, granted) => {
        const g = granted && granted[0];
        if (err || !g || g.qos >= 128) {
          subs.delete(filter);
          chips();
          $('sub-count').textContent = `subscribe ${filter} refused${err ? `: ${err.message}` : g ? ` (reason ${g.qos})` : ''}`;
        } else s.state = 'active';
      });
    }

    function unsub(filter) {
      subs.delete(filter);
      chips();
      if (mq.client && mq.connected) mq.client.unsubscribe(filter);
    }

    $('sub-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = $('sub-filter').value.trim();
      if (f) sub(f, Number($('sub-qos').value));
    });

    function entry(m) {
      const d = decoded(m);
      const pt = propsText(m.props);
      return h('li', { data: { topic: m.topic, test: 'message' } },
        h('div', { className: 'meta' }, `${clock(m.at)} `, h('span', { className: 'topic' }, m.topic),
          ` QoS ${m.qos}${m.retain ? ' retained' : ''}${pt ? ` · ${pt}` : ''}`),
        h('pre', { data: { kind: d.kind } }, d.text));
    }

    const search = () => $('sub-search').value.trim().toLowerCase();
    const hit = (li, q) => !q || li.textContent.toLowerCase().includes(q);

    function show(list) {
      const q = search();
      const items = list.slice(-MAX_MESSAGES).map((m) => {
        const li = entry(m);
        li.hidden = !hit(li, q);
        return li;
      });
      pane.prepend(...items.reverse());
      while (pane.childElementCount > MAX_MESSAGES) pane.lastElementChild.remove();
    }

    let pending = [];
    let timer = null;
    function add(m) {
      total++;
      if (paused) {
        held.push(m);
        if (held.length > MAX_MESSAGES) held.shift();
      } else {
        pending.push(m);
        if (!timer) {
          timer = setTimeout(() => {
            timer = null;
            show(pending);
            pending = [];
            count();
          }, 100);
        }
      }
      count();
    }

    function count() {
      $('sub-count').textContent = `${num(total)} received${paused ? `, ${num(held.length)} held` : ''}`;
    }

    $('sub-pause').addEventListener('click', () => {
      paused = !paused;
      $('sub-pause').setAttribute('aria-pressed', String(paused));
      $('sub-pause').textContent = paused ? 'Resume' : 'Pause';
      if (!paused) {
        show(held);
        held = [];
      }
      count();
    });
    $('sub-clear').addEventListener('click', () => {
      pane.replaceChildren();
      held = [];
      total = 0;
      count();
    });
    $('sub-search').addEventListener('input', () => {
      const q = search();
      for (const li of pane.children) li.hidden = !hit(li, q);
    });

    return {
      add,
      resubscribe() {
        for (const [f, s] of subs) send(f, s);
      },
      // The client's subscriptions a message is for: by its identifiers, or by matching its topic.
      subsFor(topic, ids) {
        const out = [];
        for (const [f, s] of subs) if (ids ? ids.includes(s.id) : matches(f, topic)) out.push(f);
        return out;
      },
    };
  })();

  // ------------------------------------------------------------------ clients and sessions

  const clients = (function () {
    let timer = null;
    let busy = false;
    let armed = null; // the id whose Disconnect was clicked once: a second click within 4 s confirms
    let armedTimer = null;
    let last = [];

    async function load() {
      if (busy) return;
      busy = true;
      try {
        last = (await api('/api/v1/clients')).clients;
        draw();
        $('clients-status').textContent = `${num(last.filter((c) => c.connected).length)} connected, `
          + `${num(last.filter((c) => !c.connected).length)} offline sessions; updated ${clock(Date.now())}`;
      } catch (e) {
        if (e.status === 401) showLogin('Your login is no longer accepted.');
        $('clients-status').textContent = e.message;
      } finally {
        busy = false;
      }
    }

    function draw() {
      const q = $('clients-search').value.trim().toLowerCase();
      const rows = last.filter((c) => !q || c.id.toLowerCase().includes(q) || (c.username || '').toLowerCase().includes(q)
        || (c.address || '').includes(q));
      rows.sort((a, b) => (a.connected === b.connected ? (a.id < b.id ? -1 : 1) : a.connected ? -1 : 1));
      $('clients').tBodies[0].replaceChildren(...rows.map((c) => {
        const me = c.id === mq.id;
        const kick = h('button', { type: 'button', className: 'kick', data: { test: 'disconnect' } },
          armed === c.id ? 'Confirm?' : 'Disconnect');
        kick.addEventListener('click', () => disconnect(c.id));
        return h('tr', { className: c.connected ? '' : 'offline', data: { client: c.id } },
          h('td', {}, c.id, me ? h('span', { className: 'muted' }, ' (this page)') : null),
          h('td', { className: c.connected ? 'yes' : '' }, c.connected ? 'yes' : 'no'),
          h('td', {}, c.address || '–'),
          h('td', {}, c.protocol),
          h('td', {}, c.listener ? String(c.listener) : '–'),
          h('td', {}, c.username || '–'),
          h('td', {}, `${c.keepalive}s`),
          h('td', {}, num(c.subscriptions)),
          h('td', {}, num(c.inflight)),
          h('td', {}, num(c.queued)),
          h('td', {}, c.connected ? kick : null));
      }));
    }

    async function disconnect(id) {
      if (armed !== id) {
        armed = id;
        clearTimeout(armedTimer);
        armedTimer = setTimeout(() => {
          armed = null;
          draw();
        }, 4000);
        draw();
        return;
      }
      armed = null;
      clearTimeout(armedTimer);
      try {
        await api(`/api/v1/clients/${encodeURIComponent(id)}`, 'DELETE');
        $('clients-notice').textContent = `disconnected ${id}`;
      } catch (e) {
        $('clients-notice').textContent = `could not disconnect ${id}: ${e.message}`;
      }
      await load();
    }

    $('clients-refresh').addEventListener('click', load);
    $('clients-search').addEventListener('input', draw);

    return {
      active(on) {
        clearInterval(timer);
        timer = null;
        if (on && session.started) {
          load();
          timer = setInterval(load, 3000);
        }
      },
    };
  })();

  // For tests and the curious, from the browser's console.
  window.midgeDashboard = { series: overview.series, topics: explorer.stats, mqttId: () => mq.id };

  start();
})();
