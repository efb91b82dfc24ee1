// Drives Debian's Chromium (playwright-core, no downloaded browser) through tests/web/index.html
// for test_23: prints JSON lines on stdout and takes JSON commands, one a line, on stdin.
//
//   node browser_test.mjs --url http://127.0.0.1:PORT/index.html --profile DIR
//        [--spki HASH] [--ignore-https-errors] [--timeout S]
//
// Once the page says "subscribed":  {"event":"ready","status":"subscribed"}
// Commands:
//   {"cmd":"wait_message","text":"web/in/t hello"}  -> {"event":"message","text":...,"qos":"1"}
//   {"cmd":"publish","topic":"web/out","payload":"p","qos":1}  (fills the form, clicks Publish)
//                                                    -> {"event":"published","status":"published 1"}
//   {"cmd":"quit"}                                   -> closes Chromium, exit status 0
// Any failure: {"event":"error","message":...} on stderr, exit status 2 (3 for --timeout).
// --spki trusts a server key by the base64 SHA-256 of its SubjectPublicKeyInfo (Chromium's
// --ignore-certificate-errors-spki-list); --ignore-https-errors trusts any certificate.
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function parse(argv) {
  const o = { timeout: 12, ignoreHttpsErrors: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--url') o.url = argv[++i];
    else if (a === '--profile') o.profile = argv[++i];
    else if (a === '--spki') o.spki = argv[++i];
    else if (a === '--timeout') o.timeout = Number(argv[++i]);
    else if (a === '--ignore-https-errors') o.ignoreHttpsErrors = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.url || !o.profile) throw new Error('--url and --profile are required');
  return o;
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
let context = null;

async function fail(status, message) {
  process.stderr.write(JSON.stringify({ event: 'error', message }) + '\n');
  if (context) await context.close().catch(() => {});
  process.stdout.write('', () => process.exit(status));
}

async function main() {
  const o = parse(process.argv.slice(2));
  setTimeout(() => fail(3, `timed out after ${o.timeout}s`), o.timeout * 1000).unref();
  // --disable-http2: Mosquitto 2.0.11 (libwebsockets) offers h2 by ALPN on a TLS listener, then
  // fails to serve http_dir files over it (ERR_HTTP2_PROTOCOL_ERROR); HTTP/1.1 is what we test.
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-http2', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (o.spki) args.push(`--ignore-certificate-errors-spki-list=${o.spki}`);
  // A profile directory of the test's own: it can find and end this Chromium whatever happens here.
  context = await chromium.launchPersistentContext(o.profile, {
    executablePath: CHROMIUM, headless: true, args, ignoreHTTPSErrors: o.ignoreHttpsErrors,
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`pageerror: ${e.message}\n`));

  const resp = await page.goto(o.url);
  if (!resp || !resp.ok()) return fail(2, `GET ${o.url}: ${resp ? resp.status() : 'no response'}`);
  const status = page.locator('#status');
  await page.waitForFunction(() => !['loading', 'connected'].includes(
    document.getElementById('status').textContent), null, { timeout: o.timeout * 1000 });
  const text = await status.textContent();
  if (text !== 'subscribed') return fail(2, `page status: ${text}`);
  out({ event: 'ready', status: text });

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const c = JSON.parse(line);
    if (c.cmd === 'wait_message') {
      const li = page.locator('li.message', { hasText: c.text }).first();
      await li.waitFor({ timeout: (c.timeout || 5) * 1000 });
      out({ event: 'message', text: await li.textContent(), qos: await li.getAttribute('data-qos') });
    } else if (c.cmd === 'publish') {
      const before = await page.locator('#pub-status').textContent();
      await page.fill('#pub-topic', c.topic);
      await page.fill('#pub-payload', c.payload);
      await page.selectOption('#pub-qos', String(c.qos ?? 0));
      await page.click('#pub-button');
      await page.waitForFunction((b) => document.getElementById('pub-status').textContent !== b,
                                 before, { timeout: 5000 });
      out({ event: 'published', status: await page.locator('#pub-status').textContent() });
    } else if (c.cmd === 'quit') {
      break;
    } else {
      return fail(1, `unknown command ${line}`);
    }
  }
  await context.close();
  context = null;
  process.stdout.write('', () => process.exit(0));
}

main().catch((err) => fail(2, String(err && err.message ? err.message : err)));
