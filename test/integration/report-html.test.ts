import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml } from '../../src/audit/html.js';
import { fixture } from '../unit/audit/html-fixture.js';

/**
 * report.html in a real browser: Debian's chromium, headless. Skipped with a message where it is not installed,
 * except under CI=true, where a missing browser is a failure (.ci/run installs it).
 */
const CHROMIUM = process.env.BYOC_CHROMIUM ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);

interface Run {
  stderr: string;
  stdout: string;
}

let dir = '';
let profiles = 0;

/** One headless chromium on an empty profile, killed (its whole process group) whatever happens. */
async function chromium(args: readonly string[]): Promise<Run> {
  const profile = join(dir, `profile-${++profiles}`);
  const child = spawn(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--enable-logging=stderr', '--v=0', '--window-size=1200,900', ...args],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chromium did not finish in 60 s:\n${stderr}`)), 60_000);
      child.on('error', reject);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    if (code !== 0) throw new Error(`chromium exited with ${code}:\n${stderr}`);
    return { stdout, stderr };
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already: nothing left to stop
    }
  }
}

/** The page's console as chromium logs it to stderr (CSP refusals are console messages too), and uncaught errors. */
function consoleLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /:CONSOLE|Uncaught|Content Security Policy|Refused to/.test(line));
}

/**
 * The distinct RGBA values of a PNG (8-bit RGB or RGBA, not interlaced: what chromium writes). Decoded by hand with
 * node:zlib because a PNG library for one test is not worth a dependency; the five row filters are the spec's.
 */
function distinctPixels(png: Buffer): number {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      expect(body[8]).toBe(8);
      expect(body[12]).toBe(0);
      channels = { 2: 3, 6: 4 }[body[9]!] ?? 0;
      expect(channels).toBeGreaterThan(0);
    }
    if (type === 'IDAT') data.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const previous = Buffer.alloc(stride);
  const current = Buffer.alloc(stride);
  const seen = new Set<number>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x]!;
      const left = x >= channels ? current[x - channels]! : 0;
      const up = previous[x]!;
      const upLeft = x >= channels ? previous[x - channels]! : 0;
      let predicted = 0;
      if (filter === 1) predicted = left;
      else if (filter === 2) predicted = up;
      else if (filter === 3) predicted = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        predicted = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      current[x] = (value + predicted) & 0xff;
    }
    for (let x = 0; x < stride; x += channels) seen.add(current.readUIntBE(x, 3) * 256 + (channels === 4 ? current[x + 3]! : 255));
    current.copy(previous);
  }
  return seen.size;
}

async function screenshot(name: string, html: string): Promise<{ pixels: number; console: string[] }> {
  const page = join(dir, `${name}.html`);
  const shot = join(dir, `${name}.png`);
  await writeFile(page, html);
  const run = await chromium([`--screenshot=${shot}`, `file://${page}`]);
  return { pixels: distinctPixels(await readFile(shot)), console: consoleLines(run.stderr) };
}

async function dom(name: string, html: string): Promise<string> {
  const page = join(dir, `${name}.html`);
  await writeFile(page, html);
  return (await chromium(['--dump-dom', `file://${page}`])).stdout;
}

describe.skipIf(!present && process.env.CI !== 'true')('report.html in headless chromium', () => {
  beforeAll(async () => {
    if (!present) throw new Error(`CI=true but ${CHROMIUM} is missing; .ci/run installs Debian's chromium`);
    dir = await mkdtemp(join(tmpdir(), 'byoc-report-html-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders a page that is not blank and logs nothing to the console', { timeout: 120_000 }, async () => {
    // Given the fixture's report, and as controls a blank page and a page whose inline script the same policy refuses
    const report = await screenshot('report', renderReportHtml(fixture()));
    const blank = await screenshot('blank', '<!DOCTYPE html><html><head><title>x</title></head><body></body></html>');
    const refused = await screenshot('refused', `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head><body><script>document.title = 'ran'</script></body></html>`);
    // Then the report's screenshot has the many colours of text, tables and timeline; the blank one has one
    expect(blank.pixels).toBe(1);
    expect(report.pixels).toBeGreaterThan(50);
    // And the report logs nothing, where the control shows such a refusal would be seen
    expect(refused.console.join('\n')).toMatch(/Content Security Policy/);
    expect(report.console).toEqual([]);
  });

  it('does not run a <script> an engineer put in a query text, even without the policy', { timeout: 120_000 }, async () => {
    // Given the report whose bob ran a query carrying a script and an image with an onerror handler
    const html = renderReportHtml(fixture());
    // When the page is loaded with its policy, and once more with the policy removed (so escaping alone is tested)
    const withPolicy = await dom('with-policy', html);
    const withoutPolicy = await dom('without-policy', html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, ''));
    expect(withoutPolicy).not.toBe(withPolicy);
    for (const page of [withPolicy, withoutPolicy]) {
      // Then the document has no script or image element, the title is ours, and nothing set the attribute
      expect(page).toContain('<title>byoc audit: acme-prod</title>');
      expect(page).not.toMatch(/<script|<img/i);
      expect(page).not.toContain('data-pwned="1"');
      // And the text is there to read, as text
      expect(page).toContain('&lt;script&gt;document.title="PWNED"');
    }
    // And the control: the same payload unescaped does run in this browser without the policy
    const control = await dom('control', `<!DOCTYPE html><html><head><title>ok</title></head><body><script>document.title="PWNED";document.body.setAttribute("data-pwned","1")</script></body></html>`);
    expect(control).toContain('data-pwned="1"');
  });
});
