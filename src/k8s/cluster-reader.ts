/**
 * The read-only view of a cluster that diagnostics need. byoc owns this interface: the real one wraps
 * @kubernetes/client-node, tests read fixture folders. Everything returned is API JSON as the server
 * sends it (timestamps may also arrive as Date objects, as client-node deserializes them).
 */

export type ClusterResource =
  | 'nodes'
  | 'pods'
  | 'events'
  | 'persistentvolumeclaims'
  | 'persistentvolumes'
  | 'volumeattachments'
  | 'leases'
  | 'daemonsets'
  | 'deployments'
  | 'statefulsets'
  | 'storageclasses'
  | 'csidrivers';

export interface ListOptions {
  fieldSelector?: string;
  labelSelector?: string;
}

export interface ServerVersion {
  gitVersion: string;
  major: string;
  minor: string;
}

export interface ClusterReader {
  /**
   * All items of a resource, following `continue` tokens. `namespace` undefined means all namespaces
   * (cluster-scoped resources ignore it). Throws ForbiddenError on 403.
   */
  list(resource: ClusterResource, namespace?: string, options?: ListOptions): Promise<{ items: unknown[] }>;
  /** A raw GET (e.g. `/readyz?verbose`); a non-2xx status is returned, not thrown. */
  raw(path: string): Promise<{ status: number; body: string }>;
  version(): Promise<ServerVersion>;
}
