/**
 * The few fields of Kubernetes objects that diagnostics read. Every field is optional because the input
 * is whatever the API (or a fixture) sent; timestamps may be strings or, from client-node, Date objects.
 */

export type Time = string | Date;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: Time;
  deletionTimestamp?: Time;
}

export interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: Time;
  lastHeartbeatTime?: Time;
}

interface Taint {
  key?: string;
  value?: string;
  effect?: string;
  timeAdded?: Time;
}

export interface Node {
  metadata?: ObjectMeta;
  spec?: { unschedulable?: boolean; taints?: Taint[] };
  status?: { conditions?: Condition[]; nodeInfo?: { kubeletVersion?: string } };
}

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: Time };
  terminated?: { reason?: string; exitCode?: number; message?: string; finishedAt?: Time };
}

export interface ContainerStatus {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
}

export interface Pod {
  metadata?: ObjectMeta;
  spec?: {
    nodeName?: string;
    volumes?: { name?: string; persistentVolumeClaim?: { claimName?: string } }[];
  };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: Condition[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

export interface KubeEvent {
  metadata?: ObjectMeta;
  involvedObject?: { kind?: string; namespace?: string; name?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  firstTimestamp?: Time | null;
  lastTimestamp?: Time | null;
  eventTime?: Time | null;
  series?: { count?: number; lastObservedTime?: Time };
  source?: { component?: string; host?: string };
}

export interface PersistentVolumeClaim {
  metadata?: ObjectMeta;
  spec?: { storageClassName?: string; volumeName?: string };
  status?: { phase?: string };
}

interface NodeSelectorRequirement {
  key?: string;
  operator?: string;
  values?: string[];
}

export interface PersistentVolume {
  metadata?: ObjectMeta;
  spec?: {
    csi?: { driver?: string; volumeHandle?: string };
    claimRef?: { namespace?: string; name?: string };
    storageClassName?: string;
    nodeAffinity?: { required?: { nodeSelectorTerms?: { matchExpressions?: NodeSelectorRequirement[] }[] } };
  };
  status?: { phase?: string };
}

export interface VolumeAttachment {
  metadata?: ObjectMeta;
  spec?: { attacher?: string; nodeName?: string; source?: { persistentVolumeName?: string } };
  status?: {
    attached?: boolean;
    attachError?: { message?: string; time?: Time };
    detachError?: { message?: string; time?: Time };
  };
}

export interface Lease {
  metadata?: ObjectMeta;
  spec?: { holderIdentity?: string; renewTime?: Time; leaseDurationSeconds?: number };
}

export interface DaemonSet {
  metadata?: ObjectMeta;
  status?: { desiredNumberScheduled?: number; numberReady?: number; updatedNumberScheduled?: number };
}

export interface Deployment {
  metadata?: ObjectMeta;
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
}

export interface StatefulSet {
  metadata?: ObjectMeta;
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; updatedReplicas?: number };
}

export interface StorageClass {
  metadata?: ObjectMeta;
  provisioner?: string;
  volumeBindingMode?: string;
}

export interface CsiDriver {
  metadata?: ObjectMeta;
}

/** Milliseconds since the epoch; undefined when absent or unparsable. */
export function millis(time: Time | null | undefined): number | undefined {
  if (time === undefined || time === null) return undefined;
  const value = time instanceof Date ? time.getTime() : Date.parse(time);
  return Number.isNaN(value) ? undefined : value;
}

export function conditionOf(conditions: Condition[] | undefined, type: string): Condition | undefined {
  // A pasted or proxied object may hold nulls where a real API server never would: skip them, never crash.
  return Array.isArray(conditions) ? conditions.find((condition) => condition?.type === type) : undefined;
}

export function nameOf(object: { metadata?: ObjectMeta }): string {
  return object.metadata?.name ?? '<unnamed>';
}

/** The last time an event fired, by the newest field the server filled in. */
export function eventTime(event: KubeEvent): number | undefined {
  return (
    millis(event.series?.lastObservedTime) ??
    millis(event.lastTimestamp) ??
    millis(event.eventTime) ??
    millis(event.metadata?.creationTimestamp)
  );
}

export function eventCount(event: KubeEvent): number {
  return event.series?.count ?? event.count ?? 1;
}

export const ZONE_LABELS = [
  'topology.kubernetes.io/zone',
  'topology.ebs.csi.aws.com/zone',
  'failure-domain.beta.kubernetes.io/zone',
] as const;
