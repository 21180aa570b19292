import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../../src/k8s/errors.js';
import { fixtureReader, matchesFieldSelector, matchesLabelSelector } from '../../fakes/k8s-fixture-reader.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/k8s');

describe('the fixture ClusterReader (also the contract of the future mock API server)', () => {
  it('filters by namespace, field selector and label selector like the API server', async () => {
    // Given the healthy fixture
    const reader = fixtureReader(path.join(FIXTURES, 'healthy'));

    // When listing with a namespace, a field selector and a label selector
    const system = await reader.list('pods', 'kube-system');
    const warnings = await reader.list('events', undefined, { fieldSelector: 'type=Warning' });
    const awsNode = await reader.list('pods', 'kube-system', { labelSelector: 'k8s-app=aws-node' });

    // Then only the matching items come back
    expect(system.items).toHaveLength(13);
    expect(system.items.every((pod) => (pod as { metadata: { namespace: string } }).metadata.namespace === 'kube-system')).toBe(true);
    expect(warnings.items).toHaveLength(1);
    expect(awsNode.items).toHaveLength(3);
  });

  it('answers an empty list for a resource without a file, and 403 for a forbidden one', async () => {
    // Given the forbidden fixture (volumeattachments forbidden) and a folder with no files
    const forbidden = fixtureReader(path.join(FIXTURES, 'forbidden'));
    const empty = fixtureReader(path.join(FIXTURES, 'no-such-scenario'));

    // Then the forbidden resource throws ForbiddenError and a missing file is an empty list
    await expect(forbidden.list('volumeattachments')).rejects.toBeInstanceOf(ForbiddenError);
    expect(await empty.list('nodes')).toEqual({ items: [] });
  });

  it('serves /readyz with 200 when every check passes and 500 when one fails', async () => {
    // Given a healthy and a failing API server
    const healthy = await fixtureReader(path.join(FIXTURES, 'healthy')).raw('/readyz?verbose');
    const failing = await fixtureReader(path.join(FIXTURES, 'readyz-failing')).raw('/readyz?verbose');

    // Then the status follows the [-] lines
    expect(healthy.status).toBe(200);
    expect(healthy.body).toMatch(/readyz check passed/);
    expect(failing.status).toBe(500);
    expect(failing.body).toMatch(/^\[-\]etcd failed: reason withheld$/m);
  });

  it.each([
    [{ a: '1', b: '2' }, 'a=1,b=2', true],
    [{ a: '1' }, 'a!=1', false],
    [{ app: 'ebs-csi-node' }, 'app in (ebs-csi-controller,ebs-csi-node)', true],
    [{ app: 'x' }, 'app notin (x,y)', false],
    [{ app: 'x' }, '!app', false],
    [{ app: 'x' }, 'app', true],
  ])('label selector %o %s -> %s', (labels, selector, expected) => {
    expect(matchesLabelSelector(labels, selector)).toBe(expected);
  });

  it('field selectors compare dotted paths', () => {
    // Given a pod
    const pod = { spec: { nodeName: 'n1' }, status: { phase: 'Pending' } };

    // Then equality and inequality terms combine with AND
    expect(matchesFieldSelector(pod, 'spec.nodeName=n1,status.phase=Pending')).toBe(true);
    expect(matchesFieldSelector(pod, 'spec.nodeName=n1,status.phase!=Pending')).toBe(false);
  });
});
