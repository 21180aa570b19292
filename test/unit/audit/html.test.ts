import { describe, expect, it } from 'vitest';
import { escapeHtml, queryKind, renderReportHtml } from '../../../src/audit/html.js';
import { fixture, INJECTED } from './html-fixture.js';

/** The <section> of one request, so an assertion cannot be satisfied by another request's part of the page. */
function section(html: string, requestId: string): string {
  const start = html.indexOf(`<section data-request="${requestId}">`);
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</section>', start));
}

describe('renderReportHtml', () => {
  it('is one self-contained page under a policy that loads and runs nothing', () => {
    // Given the two-request fixture / When it is rendered
    const html = renderReportHtml(fixture());
    // Then the policy is the strict one, and nothing in the page points outside it or runs
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;; img-src data:; base-uri &#39;none&#39;; form-action &#39;none&#39;">`);
    expect(html).not.toMatch(/<script|<link|<iframe|<object|<embed|@import|url\(/i);
    // (every text is escaped, so each `<` opens a tag of ours: none has an address or a handler)
    const tags = html.match(/<[a-z][^>]*>/gi) ?? [];
    expect(tags.length).toBeGreaterThan(100);
    expect(tags.filter((tag) => /\s(src|href|on[a-z]+)=/i.test(tag))).toEqual([]);
  });

  it('escapes every text: a query carrying <script> shows as text', () => {
    // Given a query text with a script, an image with an onerror, and a detail and reason with markup
    const html = renderReportHtml(fixture());
    // Then it appears escaped, in the tooltip of bob's timeline and nowhere as markup
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain(escapeHtml(INJECTED.slice(0, 300)));
    expect(html).toContain('referenced default.cards &lt;b&gt;bold&lt;/b&gt;');
    expect(html).toContain('reason: slow merges &lt;investigate&gt;');
    expect(escapeHtml(`<a href="x" title='y'>&`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;');
  });

  it('draws per request the queries on the approved window, those outside it in red', () => {
    const html = renderReportHtml(fixture());
    // Given alice's window 09:00-10:00 from the audit and her 5 queries, one at 11:30
    const alice = section(html, 'r-aaaaaaaaaa');
    expect(alice).toContain('Approved window: 2026-11-21T09:00:00.000Z to 2026-11-21T10:00:00.000Z (approved)');
    expect(alice.match(/<line [^>]*data-outside="true"/g)).toHaveLength(1);
    expect(alice.match(/<line [^>]*data-outside="false"/g)).toHaveLength(4);
    expect(alice).toMatch(/<line [^>]*stroke="#b3261e"[^>]*data-outside="true"><title>2026-11-21T11:30:00.000Z alice@vendor.example finish OUTSIDE THE APPROVED WINDOW/);
    // And bob's grant, revoked at 10:30, ends his window early: his 10:40 query is outside it
    const bob = section(html, 'r-bbbbbbbbbb');
    expect(bob).toContain('Approved window: 2026-11-21T10:00:00.000Z to 2026-11-21T10:30:00.000Z (approved, revoked early)');
    expect(bob).toMatch(/data-outside="true"><title>2026-11-21T10:40:00.000Z bob@vendor.example/);
    expect(bob.match(/data-outside="true"/g)).toHaveLength(1);
    expect(bob).toContain('reason: slow merges &lt;investigate&gt; &middot; ticket INC-42 &middot; asked by bob@vendor.example');
  });

  it('lists per request its findings, top tables, query kinds and totals', () => {
    const html = renderReportHtml(fixture());
    const alice = section(html, 'r-aaaaaaaaaa');
    // Then alice's findings are hers only: the refusal and the late query
    expect(alice.match(/<span class="kind">/g)).toHaveLength(2);
    expect(alice).toContain('<span class="kind">denied</span>');
    expect(alice).toContain('alice@vendor.example was refused: Code: 164, DB::Exception: readonly');
    expect(alice).not.toContain('default.cards');
    // And the tables come from the server's list or, without one, from the query text (SHOW TABLES has none)
    expect(alice).toMatch(/<code>system\.parts<\/code><\/td><td class="n">2<\/td>/);
    expect(alice).toMatch(/<code>system\.merges<\/code><\/td><td class="n">1<\/td>/);
    expect(alice).toMatch(/<code>system\.one<\/code><\/td><td class="n">1<\/td>/);
    // And the kinds are counted past the leading comment
    expect(alice).toMatch(/<td>SELECT<\/td><td class="n">3<\/td>/);
    expect(alice).toMatch(/<td>SHOW<\/td><td class="n">1<\/td>/);
    expect(alice).toMatch(/<td>INSERT<\/td><td class="n">1<\/td>/);
    // And the totals are the audit's
    expect(alice).toMatch(/<b>5<\/b>queries/);
    expect(alice).toMatch(/class="card bad"><b>1<\/b>refused/);
    expect(alice).toMatch(/class="card bad"><b>1<\/b>outside the window/);
    expect(alice).toMatch(/<b>8\.0 KiB<\/b>bytes read/);
    // And the page's totals add both requests
    const head = html.slice(0, html.indexOf('<section'));
    expect(head).toMatch(/<b>7<\/b>queries/);
    expect(head).toMatch(/<b>4<\/b>findings/);
    expect(head).toMatch(/<b>2<\/b>requests/);
    expect(head).toMatch(/<span class="kind">outside-window<\/span><\/td><td class="n">2<\/td>/);
    expect(head).toMatch(/<td>alice@vendor\.example<\/td><td>r-aaaaaaaaaa<\/td>/);
  });

  it('is the same bytes for the same input (the manifest signs it)', () => {
    expect(renderReportHtml(fixture())).toBe(renderReportHtml(fixture()));
  });

  it('tells a request with no known window and untagged queries apart', () => {
    // Given no grants and no audit window for alice, and an untagged query
    const input = fixture();
    input.grants = [];
    input.summary.requests = input.summary.requests.map((request) => ({ ...request, grant: undefined }));
    input.events = [...input.events, { ...input.events[0]!, requestId: null, taggedRequestId: null, queryId: 'adhoc' }];
    const html = renderReportHtml(input);
    // Then no query is called outside a window nobody knows, and the untagged query has its own section
    expect(html).not.toContain('data-outside="true"');
    expect(section(html, 'r-aaaaaaaaaa')).toContain('no approved window known to this report');
    expect(section(html, '')).toContain('Queries without a request');
  });

  it('draws a week of queries as a bounded number of marks, still showing the ones outside the window', () => {
    // Given 300,000 queries for alice every 2 s from 09:00, her window ending at 10:00, and a refusal among them
    const input = fixture();
    const base = input.events[0]!;
    const start = Date.parse('2026-11-21T09:00:00.000Z');
    input.events = Array.from({ length: 300_000 }, (_, index) => ({ ...base, time: new Date(start + index * 2000).toISOString(), queryId: `q${index}`, type: index === 1000 ? 'exception-before-start' : 'finish' }));
    // When it is rendered (Math.min over the times as arguments would overflow the stack here)
    const alice = section(renderReportHtml(input), 'r-aaaaaaaaaa');
    // Then there is at most one mark per drawn position and kind, the outside ones among them, each counted
    const marks = alice.match(/<line [^>]*data-outside="(true|false)"/g) ?? [];
    expect(marks.length).toBeLessThan(3 * 1100);
    expect(marks.filter((mark) => mark.includes('"true"')).length).toBeGreaterThan(500);
    expect(alice).toMatch(/<title>\d+ queries OUTSIDE THE APPROVED WINDOW, 2026-11-2\dT/);
    expect(alice).toMatch(/stroke="#b26a00"[^>]*data-outside="false"><title>2026-11-21T09:33:20\.000Z alice@vendor\.example exception-before-start: /);
    expect(alice).toContain('<code>system.parts</code></td><td class="n">300,000</td>');
  });

  it('says what the audit could not check, and says nothing when it checked everything', () => {
    // Given an audit that could not read failed logins on this server
    const input = fixture();
    const checked = renderReportHtml(input);
    Object.assign(input.summary, { notes: ['failed logins not checked: this server keeps no system.session_log <18.16>'] });
    // Then the page says so, escaped, above the findings; and without notes there is no such heading
    expect(renderReportHtml(input)).toContain('<h3>Not checked</h3>\n<ul class="bad"><li>failed logins not checked: this server keeps no system.session_log &lt;18.16&gt;</li></ul>');
    expect(checked).not.toContain('Not checked');
  });

  it('gives a request with findings but no query its own section', () => {
    // Given a failed login under a request that ran no query
    const input = fixture();
    const login = { ...input.events[0]!, requestId: 'r-cccccccccc', taggedRequestId: null, query: '', type: 'exception-before-start' as const, error: 'AUTHENTICATION_FAILED' };
    input.summary.findings = [...input.summary.findings, { kind: 'denied', detail: 'carol failed to log in <x>', row: login }];
    // Then it has a section naming the finding, and no query drawn
    const carol = section(renderReportHtml(input), 'r-cccccccccc');
    expect(carol).toContain('carol failed to log in &lt;x&gt;');
    expect(carol).toContain('No queries.');
  });

  it('reads the statement kind past comments and parentheses', () => {
    expect(queryKind('-- who\n  /* x */ (select 1)')).toBe('SELECT');
    expect(queryKind('describe system.parts')).toBe('DESCRIBE');
    expect(queryKind('  ')).toBe('OTHER');
  });
});
