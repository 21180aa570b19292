/** The broker's wire types (API v1). Add fields, never rename them. */
export const SCOPES = ['clickhouse', 'kubernetes'] as const;
export type Scope = (typeof SCOPES)[number];

export const STATUSES = ['pending', 'approved', 'denied', 'expired', 'revoked'] as const;
export type RequestStatus = (typeof STATUSES)[number];

export interface Review {
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

export interface OperatorConfig {
  requestId: string;
  format: OperatorFormat;
  user: string;
  commonName: string;
  content: string;
}
