// What the tests' browser drivers (browser_test.mjs, dashboard_test.mjs) share: their command line, Debian's
// Chromium launched by playwright-core on a profile directory of the test's own, and their output of JSON lines.
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Parses argv: --url and --profile (required), --timeout S, and the options of `more`, each either a function
// that turns the next argument into the value (Number, String) or true for a flag. Returns the options over
// `defaults`, named without their dashes (--ignore-https-errors: ignoreHttpsErrors).
export function parseArgs(argv, defaults, more = {}) {
  const o = { ...defaults };
  const kinds = { '--url': String, '--profile': String, '--timeout': Number, ...more };
  for (let i = 0; i < argv.length; i++) {
    const kind = kinds[argv[i]];
    if (!kind) throw new Error(`unknown argument ${argv[i]}`);
    const name = argv[i].slice(2).replace(/-(.)/g, (m, c) => c.toUpperCase());
    o[name] = kind === true ? true : kind(argv[++i]);
  }
  if (!o.url || !o.profile) throw new Error('--url and --profile are required');
  return o;
}

export const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let context = null;

// Reports message on stderr as {"event":"error",...}, closes Chromium and exits with status.
export async function fail(status, message) {
  process.stderr.write(JSON.stringify({ event: 'error', message }) + '\n');
  if (context) await context.close().catch(() => {});
  process.stdout.write('', () => process.exit(status));
}

// Chromium on the profile directory (the test finds and ends it by that directory whatever happens here), with
// extra switches and playwright context options. Returns its first page.
export async function launch(profile, extraArgs = [], options = {}) {
  // --disable-http2: Mosquitto 2.0.11 (libwebsockets) offers h2 by ALPN on a TLS listener, then
  // fails to serve http_dir files over it (ERR_HTTP2_PROTOCOL_ERROR); HTTP/1.1 is what we test.
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-http2', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs];
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args, ...options,
  });
  return context.pages()[0] || await context.newPage();
}

// Closes Chromium and exits with status 0.
export async function quit() {
  if (context) await context.close();
  context = null;
  process.stdout.write('', () => process.exit(0));
}
