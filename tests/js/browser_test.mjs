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
import { fail, launch, out, parseArgs, quit } from './chromium.mjs';

async function main() {
  const o = parseArgs(process.argv.slice(2), { timeout: 12, ignoreHttpsErrors: false },
                      { '--spki': String, '--ignore-https-errors': true });
  setTimeout(() => fail(3, `timed out after ${o.timeout}s`), o.timeout * 1000).unref();
  const page = await launch(o.profile, o.spki ? [`--ignore-certificate-errors-spki-list=${o.spki}`] : [],
                            { ignoreHTTPSErrors: o.ignoreHttpsErrors });
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
  await quit();
}

main().catch((err) => fail(2, String(err && err.message ? err.message : err)));
