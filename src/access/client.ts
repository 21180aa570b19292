import type { AccessRequest, CertificateIssue, ListFilter, NewRequest, OperatorConfig, OperatorFormat } from './types.js';

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
}
