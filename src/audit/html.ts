import type { AccessRequest } from '../access/types.js';
import type { AuditReport, QueryRow } from './audit.js';

export interface ReportHtmlInput {
  service: string;
  window: { since: string; until: string };
  summary: AuditReport;
  events: QueryRow[];
  grants?: AccessRequest[];
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Placeholder until helper "html"'s page lands (the lead keeps theirs at merge): totals only, every text escaped. */
export function renderReportHtml(input: ReportHtmlInput): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>byoc audit: ${escape(input.service)}</title></head><body><h1>byoc audit: ${escape(input.service)}</h1><p>${escape(input.window.since)} to ${escape(input.window.until)}: ${input.events.length} queries, ${input.summary.findings.length} findings</p></body></html>\n`;
}
