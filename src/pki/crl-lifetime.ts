/**
 * How long a CRL is valid (nextUpdate - thisUpdate). Short, so a server that stopped fetching it soon refuses
 * every client instead of trusting a stale list; the broker makes a fresh one on every request. Apart from
 * crl.ts (node-forge) so the broker can tell which revocations a CRL still owes without loading it.
 */
export const CRL_LIFETIME_MS = 60 * 60_000;
