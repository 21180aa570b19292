/** The broker's wire types (API v1). Add fields, never rename them. */
export const SCOPES = ['clickhouse', 'kubernetes', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

export const STATUSES = ['pending', 'approved', 'denied', 'expired', 'revoked'] as const;
export type RequestStatus = (typeof STATUSES)[number];

interface Review {
  reviewer: string;
  decision: 'approve' | 'deny';
  comment?: string;
  at: string;
}

export interface AccessRequest {
  id: string;
  service: string;
  scopes: Scope[];
  requester: string;
  reason: string;
  ticket?: string;
  /** as asked, e.g. `2h` */
  duration: string;
  durationMs: number;
  status: RequestStatus;
  reviews: Review[];
  approvalsRequired: number;
  createdAt: string;
  /** a pending request lapses at this time */
  pendingUntil: string;
  approvedAt?: string;
  /** end of the grant: no certificate outlives it */
  notAfter?: string;
  revokedAt?: string;
  revokedBy?: string;
  certificates: { serial: string; notAfter: string; issuedAt: string }[];
}

export interface NewRequest {
  service: string;
  scopes?: Scope[];
  reason: string;
  ticket?: string;
  duration: string;
}

export interface ListFilter {
  mine?: boolean;
  reviewable?: boolean;
  status?: RequestStatus;
  service?: string;
}

export interface CertificateIssue {
  requestId: string;
  certificate: string;
  ca: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  subject: string;
}

export type OperatorFormat = 'sql' | 'xml';

/** create: the approved request's user; drop: the removal once it is revoked or expired. */
type OperatorAction = 'create' | 'drop';

export interface OperatorConfig {
  requestId: string;
  format: OperatorFormat;
  /** the request's own ClickHouse user, `byoc_r_<id>_<identity>` (serverUserFor) */
  user: string;
  /** the engineer's identity (the certificate's CN); never what the server matches the certificate by */
  commonName: string;
  /** what the operator runs (sql) or saves (xml); comments say why and what comes next */
  content: string;
  action: OperatorAction;
  /** approved (create), revoked or expired (drop) */
  status: RequestStatus;
  /** what the server matches the certificate by, e.g. `URI:urn:byoc:request:r-0k3j9x2m1q` */
  subjectAltName: string;
  /** end of the grant: the user's VALID UNTIL and the certificate's expiry */
  notAfter: string;
  /** xml only: the users.d file to save (create) or delete (drop) */
  file?: string;
}

/**
 * Who a served broker's caller is, once authenticated: a static bearer token (its id in `tokenId`) or an identity
 * provider's token (OpenID Connect). `groups` come from the token (`broker token create --group`) or the provider's
 * groups claim; they decide visibility (the auditors group sees every request), never approval (policy approvers
 * are identities).
 */
export interface Principal {
  identity: string;
  groups: readonly string[];
  via: 'token' | 'oidc';
  tokenId?: string;
}

/**
 * What the broker needs of its caller to decide: the identity and its groups. A bare string is an identity without
 * groups (embedded callers and code written before groups existed).
 */
export type Actor = string | Pick<Principal, 'identity' | 'groups'>;

/** A static bearer token as `broker token list` shows it: never the secret, never its hash. */
export interface TokenInfo {
  id: string;
  identity: string;
  groups: string[];
  createdAt: string;
  /** who created it (an admin through the served API, the `user` setting embedded); absent for old tokens */
  createdBy?: string;
  /** absent: it never expires */
  expiresAt?: string;
  /** the last successful authentication the broker knows of (see AccessBroker.authenticateToken for how fresh) */
  lastUsedAt?: string;
  revokedAt?: string;
  revokedBy?: string;
  state: 'active' | 'expired' | 'revoked';
}

export interface NewToken {
  identity: string;
  /** how long it is valid, e.g. `90d`; absent: no expiry */
  ttl?: string;
  groups?: string[];
}

/** A token just created: the secret is in this answer only. */
export interface IssuedToken extends TokenInfo {
  token: string;
}

/** The longest a GET /v1/requests/ID?wait=S holds its answer: under the client's 30 s socket timeout and common proxies' idle limits. */
export const MAX_WAIT_SECONDS = 25;
