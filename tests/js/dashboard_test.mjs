// Drives Debian's Chromium (playwright-core, no downloaded browser) through the dashboard embedded in midge
// (web/) for test_31: prints JSON lines on stdout and takes JSON commands, one a line, on stdin; each command
// is answered by one event line (or {"event":"error","message":...} when it failed; the process goes on).
//
//   node dashboard_test.mjs --url http://127.0.0.1:PORT/ --profile DIR [--width W --height H] [--timeout S]
//        [--spki HASH]
//
// Once the page is up: {"event":"loaded","login":true|false} (the login form shown, or the MQTT connection up).
// Everything the page logs as an error, every page error and every request outside the page's origin is kept
// for the "errors" command.
// Commands:
//   {"cmd":"login","user":U,"pass":P}            -> {"event":"login","ok":bool,"error":text}
//   {"cmd":"view","name":"topics"}               -> {"event":"view","name":...}  (clicks the nav button)
//   {"cmd":"wait_topic","topic":T,"value":V,"timeout_ms":N}
//        -> {"event":"waiting"} at once, then {"event":"topic","value":...,"ms":N} when T's row shows V
//   {"cmd":"select_topic","topic":T}             -> {"event":"detail","topic","value","kind","meta","history"}
//   {"cmd":"publish","topic","payload","qos","retain","content_type","response_topic","expiry","user_props"}
//        -> {"event":"published","status":...}
//   {"cmd":"subscribe","filter":F,"qos":Q}       -> {"event":"subscribed","chips":[...]}
//   {"cmd":"wait_sub_message","topic":T,"text":X,"timeout_ms":N} -> {"event":"sub_message","text":...}
//   {"cmd":"pause"}                              -> {"event":"paused","pressed":"true"|"false"}
//   {"cmd":"rate"}                               -> {"event":"rate","in":N,"max":N,"points":N}
//   {"cmd":"wait_rate","min":N,"timeout_ms":N}   -> {"event":"rate",...} once the in rate reached N
//   {"cmd":"overview"}                           -> {"event":"overview","version","uptime","listeners":[[...]],"guard"}
//   {"cmd":"wait_client","id":I,"timeout_ms":N}  -> {"event":"client","cells":[...]}
//   {"cmd":"bridges","name":N,"state":S,"timeout_ms":N}
//        -> {"event":"bridges","rows":[[...]],"none":bool,"table":bool,"tile":text,"tile_shown":bool} once the
//           overview read the bridges (and, with name, once N's row shows state S, or any state without S)
//   {"cmd":"kick","id":I}                        -> {"event":"kicked","status":...} (Disconnect, then Confirm)
//   {"cmd":"wait_client_gone","id":I,"timeout_ms":N} -> {"event":"client_gone"}
//   {"cmd":"screenshot","path":P}                -> {"event":"screenshot","path":P}
//   {"cmd":"overflow"}                           -> {"event":"overflow","scroll":W,"client":W} (page widths)
//   {"cmd":"errors"}                             -> {"event":"errors","errors":[...],"outside":[...]}
//   {"cmd":"quit"}                               -> closes Chromium, exit status 0
import readline from 'node:readline';
import { fail, launch, out, parseArgs, quit } from './chromium.mjs';

async function main() {
  const o = parseArgs(process.argv.slice(2), { timeout: 20, width: 1280, height: 900 },
                      { '--width': Number, '--height': Number, '--spki': String });
  // --spki trusts the server's key (an https page, its MQTT over wss), as in browser_test.mjs.
  const page = await launch(o.profile, o.spki ? [`--ignore-certificate-errors-spki-list=${o.spki}`] : [],
                            { viewport: { width: o.width, height: o.height } });
  const origin = new URL(o.url).origin;
  const wsOrigin = origin.replace(/^http/, 'ws');
  const errors = [];
  const outside = [];
  page.on('console', (m) => {
    process.stderr.write(`console.${m.type()}: ${m.text()}\n`);
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => {
    process.stderr.write(`pageerror: ${e.message}\n`);
    errors.push(`pageerror: ${e.message}`);
  });
  page.on('request', (r) => {
    const u = r.url();
    // blob: of this origin is local (MQTT.js runs its timers in a worker made from one).
    if (!u.startsWith(origin + '/') && !u.startsWith(`blob:${origin}/`) && !u.startsWith('data:')) outside.push(u);
  });
  page.on('websocket', (ws) => {
    if (!ws.url().startsWith(wsOrigin + '/')) outside.push(ws.url());
  });

  const resp = await page.goto(o.url);
  if (!resp || !resp.ok()) return fail(2, `GET ${o.url}: ${resp ? resp.status() : 'no response'}`);
  await page.waitForFunction(() => !document.getElementById('login-box').hidden
    || document.getElementById('mqtt-status').dataset.state === 'connected', null, { timeout: o.timeout * 1000 });
  out({ event: 'loaded', login: await page.locator('#login-box').isVisible() });

  const text = (sel) => page.locator(sel).textContent();
  const commands = {
    async login(c) {
      await page.fill('#login-user', c.user);
      await page.fill('#login-pass', c.pass);
      await page.click('#login-submit');
      await page.waitForFunction(() => document.getElementById('login-box').hidden
        || document.getElementById('login-error').textContent !== '', null, { timeout: 10000 });
      const ok = await page.locator('#login-box').isHidden();
      if (ok) {
        await page.waitForFunction(() => document.getElementById('mqtt-status').dataset.state === 'connected',
          null, { timeout: 10000 });
      }
      return { event: 'login', ok, error: await text('#login-error') };
    },
    async view(c) {
      await page.click(`#nav-${c.name}`);
      await page.locator(`#view-${c.name}`).waitFor({ state: 'visible', timeout: 5000 });
      return { event: 'view', name: c.name };
    },
    async wait_topic(c) {
      // Armed before the publisher runs: the caller times the publish-to-display delay from "waiting".
      const t0 = Date.now();
      const found = page.waitForFunction(([topic, value]) => {
        for (const li of document.querySelectorAll('#topic-tree li.node')) {
          if (li.dataset.topic !== topic) continue;
          const v = li.querySelector(':scope > .row .value');
          if (v && v.textContent === value) return v.textContent;
        }
        return false;
      }, [c.topic, c.value], { timeout: c.timeout_ms || 5000, polling: 20 });
      out({ event: 'waiting' });
      const v = await (await found).jsonValue();
      return { event: 'topic', value: v, ms: Date.now() - t0 };
    },
    async select_topic(c) {
      const row = page.locator(`#topic-tree li.node[data-topic="${c.topic}"] > .row .value`);
      await row.click();
      await page.waitForFunction((t) => document.getElementById('detail-topic').textContent === t, c.topic,
        { timeout: 5000 });
      return {
        event: 'detail', topic: await text('#detail-topic'), value: await text('#detail-value'),
        kind: await page.locator('#detail-value').getAttribute('data-kind'), meta: await text('#detail-meta'),
        history: await page.locator('#detail-history li').allTextContents(),
        chart: await page.locator('#detail-chart canvas').count(),
      };
    },
    async publish(c) {
      const before = await text('#pub-status');
      await page.fill('#pub-topic', c.topic);
      await page.fill('#pub-payload', c.payload);
      await page.selectOption('#pub-qos', String(c.qos ?? 0));
      await page.setChecked('#pub-retain', !!c.retain);
      if (c.content_type || c.response_topic || c.expiry !== undefined || c.user_props) {
        await page.click('#pub-props summary');
        await page.fill('#pub-content-type', c.content_type || '');
        await page.fill('#pub-response-topic', c.response_topic || '');
        await page.fill('#pub-expiry', c.expiry !== undefined ? String(c.expiry) : '');
        await page.fill('#pub-user-props', c.user_props || '');
      }
      await page.click('#pub-submit');
      await page.waitForFunction((b) => {
        const s = document.getElementById('pub-status').textContent;
        return s !== b && s !== 'publishing…';
      }, before, { timeout: 5000 });
      return { event: 'published', status: await text('#pub-status') };
    },
    async subscribe(c) {
      await page.fill('#sub-filter', c.filter);
      await page.selectOption('#sub-qos', String(c.qos ?? 0));
      await page.click('#sub-submit');
      await page.locator(`#sub-list li[data-filter="${c.filter}"]`).waitFor({ timeout: 5000 });
      return { event: 'subscribed', chips: await page.locator('#sub-list li').allTextContents() };
    },
    async wait_sub_message(c) {
      const li = page.locator(`#sub-messages li[data-topic="${c.topic}"]`, { hasText: c.text }).first();
      await li.waitFor({ timeout: c.timeout_ms || 5000 });
      return { event: 'sub_message', text: await li.textContent(), visible: await li.isVisible() };
    },
    async pause() {
      await page.click('#sub-pause');
      return { event: 'paused', pressed: await page.locator('#sub-pause').getAttribute('aria-pressed') };
    },
    async rate() {
      return {
        event: 'rate',
        in: Number(await page.locator('#rate-msgs-in').getAttribute('data-value')),
        max: Number(await page.locator('#chart-messages').getAttribute('data-max')),
        points: Number(await page.locator('#chart-messages').getAttribute('data-points')),
        canvas: await page.locator('#chart-messages canvas').count(),
      };
    },
    async wait_rate(c) {
      await page.waitForFunction((min) => Number(document.getElementById('rate-msgs-in').dataset.value) >= min,
        c.min, { timeout: c.timeout_ms || 10000, polling: 100 });
      return commands.rate();
    },
    async overview() {
      await page.locator('#listeners tbody tr').first().waitFor({ timeout: 8000 });
      const rows = [];
      for (const tr of await page.locator('#listeners tbody tr').all()) rows.push(await tr.locator('td').allTextContents());
      return {
        event: 'overview', version: await text('#stat-version'), uptime: await text('#stat-uptime'),
        clients: await text('#stat-clients'), listeners: rows, guard: await text('#guard'),
      };
    },
    async bridges(c) {
      await page.waitForFunction(([name, state]) => {
        if (document.getElementById('bridges-section').dataset.loaded !== 'true') return false;
        if (!name) return true;
        const tr = [...document.querySelectorAll('#bridges tbody tr')].find((r) => r.dataset.bridge === name);
        return !!tr && (!state || tr.dataset.state === state);
      }, [c.name || null, c.state || null], { timeout: c.timeout_ms || 8000, polling: 100 });
      const rows = [];
      for (const tr of await page.locator('#bridges tbody tr').all()) rows.push(await tr.locator('td').allTextContents());
      return {
        event: 'bridges', rows, none: await page.locator('#bridges-none').isVisible(),
        table: await page.locator('#bridges').isVisible(), tile: await text('#stat-bridges'),
        tile_shown: await page.locator('#tile-bridges').isVisible(),
      };
    },
    async wait_client(c) {
      const tr = page.locator(`#clients tbody tr[data-client="${c.id}"]`);
      await tr.waitFor({ timeout: c.timeout_ms || 8000 });
      return { event: 'client', cells: await tr.locator('td').allTextContents() };
    },
    async kick(c) {
      const button = () => page.locator(`#clients tbody tr[data-client="${c.id}"] button.kick`);
      await button().click();
      await page.waitForFunction((id) => {
        const b = document.querySelector(`#clients tbody tr[data-client="${id}"] button.kick`);
        return b && b.textContent === 'Confirm?';
      }, c.id, { timeout: 5000 });
      await button().click();
      await page.waitForFunction((id) => document.getElementById('clients-notice').textContent.includes(id), c.id,
        { timeout: 5000 });
      return { event: 'kicked', status: await text('#clients-notice') };
    },
    async wait_client_gone(c) {
      await page.waitForFunction((id) => {
        const tr = document.querySelector(`#clients tbody tr[data-client="${id}"]`);
        return !tr || tr.classList.contains('offline');
      }, c.id, { timeout: c.timeout_ms || 8000 });
      return { event: 'client_gone' };
    },
    async screenshot(c) {
      await page.screenshot({ path: c.path, fullPage: true });
      return { event: 'screenshot', path: c.path };
    },
    async overflow() {
      // Wider content than the window means sideways scrolling of the whole page (a phone screen).
      return {
        event: 'overflow',
        ...(await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth,
          client: document.documentElement.clientWidth }))),
      };
    },
    async errors() {
      return { event: 'errors', errors, outside };
    },
  };

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const c = JSON.parse(line);
    if (c.cmd === 'quit') break;
    const fn = commands[c.cmd];
    if (!fn) {
      out({ event: 'error', message: `unknown command ${line}` });
      continue;
    }
    try {
      out(await fn(c));
    } catch (err) {
      out({ event: 'error', message: `${c.cmd}: ${err && err.message ? err.message : err}` });
    }
  }
  await quit();
}

main().catch((err) => fail(2, String(err && err.message ? err.message : err)));
