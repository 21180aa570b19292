import type { AccessRequest, CertificateIssue, IssuedToken, ListFilter, NewRequest, NewToken, OperatorConfig, OperatorFormat, TokenInfo } from './types.js';

/** The one interface the CLI uses to talk to a broker, embedded in-process or served over HTTP. */
export interface BrokerClient {
  /** where the broker is, for messages: `embedded (<dir>)` or its URL */
  readonly location: string;
  whoami(): Promise<string>;
  create(input: NewRequest): Promise<AccessRequest>;
  get(id: string): Promise<AccessRequest>;
  list(filter?: ListFilter): Promise<AccessRequest[]>;
  approve(id: string, comment?: string): Promise<AccessRequest>;
  deny(id: string, comment: string): Promise<AccessRequest>;
  revoke(id: string, comment?: string): Promise<AccessRequest>;
  issueCertificate(id: string, csrPem: string): Promise<CertificateIssue>;
  operatorConfig(id: string, format: OperatorFormat): Promise<OperatorConfig>;
  ca(): Promise<string>;
  crl(): Promise<BrokerCrl>;
  /** Static tokens (`byoc broker token`): through a served broker, for identities in its `broker.admins` only. */
  createToken(input: NewToken): Promise<IssuedToken>;
  listTokens(): Promise<TokenInfo[]>;
  revokeToken(id: string): Promise<TokenInfo>;
  /**
   * Resolves when the broker's store may have changed (another writer appended), so a waiter reads again only
   * then, or when `signal` aborts. Absent (a served broker over HTTP), a waiter asks again on a timer.
   */
  changed?(signal: AbortSignal): Promise<void>;
  /**
   * The request once it is decided, lapses or `seconds` pass, held by the broker (a served one's long-poll), so a
   * waiter hears of a decision when it happens. Absent: the waiter asks again every few seconds.
   */
  awaitChange?(id: string, seconds: number): Promise<AccessRequest>;
}

/** The broker's certificate revocation list, with what it says (API v1: add fields, never rename them). */
export interface BrokerCrl {
  /** the X.509 v2 CRL signed by the broker CA */
  pem: string;
  /** its cRLNumber: never decreases from one CRL to the next */
  number: number;
  thisUpdate: string;
  /** a server must fetch a newer one by then (thisUpdate + CRL_LIFETIME_MS) */
  nextUpdate: string;
  /** every certificate on the list, with the request it was issued for */
  revoked: { serial: string; requestId: string; revokedAt: string }[];
}
