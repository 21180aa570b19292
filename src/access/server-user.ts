/**
 * One server identity per grant, never per engineer. The ClickHouse user an approved request becomes carries the
 * request id and the engineer's identity, both exactly (reversibly encoded), so that:
 * - no two requests and no two identities can ever share a user (folding `alice.vendor@example` and
 *   `alice@vendor.example` to one name let one overwrite and revoke the other's access);
 * - revoking or expiring one grant removes only that grant's user;
 * - the customer's audit reads the engineer and the request from the user the server stamped on each query,
 *   not from a tag the client chose.
 *
 * The name holds only `[a-z0-9_]`: users.d XML needs it as an element name and SQL takes it unquoted.
 */
const ENGINEER_USER_PREFIX = 'byoc_';

/** The pattern the customer's audit uses by default to find engineer users. */
export const ENGINEER_USER_PATTERN = '^byoc_';

const REQUEST_ID = /^r-[0-9a-z]+$/;
const SERVER_USER = /^byoc_r_([0-9a-z]+)_((?:[0-9a-z]|_[0-9a-f]{2})+)$/;

/** The same grammar as text, for the customer's audit to read users in SQL (RE2 takes it as is). */
export const SERVER_USER_PATTERN = SERVER_USER.source;

/** What the certificate carries (SAN URI, and the subject's OU for proxies that cannot read a SAN). */
export function requestUrn(requestId: string): string {
  return `urn:byoc:request:${requestId}`;
}

/** `byoc_r_<id>_<identity>`: letters and digits kept, every other UTF-8 byte as `_` and two hex digits. */
export function serverUserFor(requestId: string, identity: string): string {
  if (!REQUEST_ID.test(requestId)) throw new Error(`not a request id: ${requestId}`);
  if (identity === '') throw new Error('an identity is required');
  return `${ENGINEER_USER_PREFIX}r_${requestId.slice(2)}_${encodeIdentity(identity)}`;
}

/** The grant a server user stands for, or undefined for any other user (the customer's own, or a legacy one). */
export function parseServerUser(user: string): { requestId: string; identity: string } | undefined {
  const match = SERVER_USER.exec(user);
  if (!match) return undefined;
  return { requestId: `r-${match[1]}`, identity: decodeIdentity(match[2]!) };
}

/** An identity as `[a-z0-9]` with every other UTF-8 byte as `_` and two hex digits: exact, reversible, safe as a name anywhere. */
export function encodeIdentity(identity: string): string {
  let out = '';
  for (const byte of Buffer.from(identity, 'utf8')) {
    const isPlain = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39);
    out += isPlain ? String.fromCharCode(byte) : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function decodeIdentity(encoded: string): string {
  const bytes: number[] = [];
  for (let index = 0; index < encoded.length; index++) {
    if (encoded[index] === '_') {
      bytes.push(Number.parseInt(encoded.slice(index + 1, index + 3), 16));
      index += 2;
    } else {
      bytes.push(encoded.charCodeAt(index));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
