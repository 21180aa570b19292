import { NotAllowedError } from '../errors.js';

/**
 * The API server answered 403 for one resource or path. Diagnostics turn it into a SKIPPED check
 * instead of aborting; elsewhere it is a plain refusal (exit 4).
 */
export class ForbiddenError extends NotAllowedError {
  readonly verb: string;

  /**
   * @param resource a resource (`volumeattachments`) or a non-resource path (`/readyz`)
   * @param namespace undefined for cluster-wide or all-namespace calls
   */
  constructor(
    readonly resource: string,
    readonly namespace: string | undefined,
    options: { verb?: string; message?: string } = {},
  ) {
    const verb = options.verb ?? 'list';
    const where = resource.startsWith('/') ? '' : namespace ? ` in namespace ${namespace}` : ' cluster-wide';
    const scope = resource.startsWith('/') ? '' : namespace ? ` -n ${namespace}` : ' -A';
    super('k8s_forbidden', options.message ?? `RBAC forbids ${verb} ${resource}${where}`, {
      hint: `Check with: kubectl auth can-i ${verb} ${resource}${scope}; ask for a role that grants it.`,
    });
    this.verb = verb;
  }

  /** The kubectl command that shows the same refusal. */
  get kubectl(): string {
    const scope = this.resource.startsWith('/') ? '' : this.namespace ? ` -n ${this.namespace}` : ' -A';
    return `kubectl auth can-i ${this.verb} ${this.resource}${scope}`;
  }
}
