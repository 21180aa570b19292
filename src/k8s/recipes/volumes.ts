import { formatCoarse } from '../../util/duration.js';
import {
  millis,
  nameOf,
  ZONE_LABELS,
  conditionOf,
  type CsiDriver,
  type Node,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type Pod,
  type StorageClass,
  type VolumeAttachment,
} from '../objects.js';
import {
  containerHint,
  containerProblems,
  describe,
  describeEventObject,
  eventEvidence,
  groupEvents,
  hintFor,
  logsCommand,
  objectRef,
  oneLine,
  podIsHealthy,
  type EventGroup,
  type Finding,
  type Recipe,
  type RecipeContext,
} from './common.js';

const EBS_CSI_DRIVER = 'ebs.csi.aws.com';

/** How long an attach, detach or binding may take before it counts as stuck. */
const STUCK_AFTER_MS = 5 * 60_000;

const MULTI_ATTACH_HINT =
  'The volume is still attached to another node: find the pod still using it there (kubectl get volumeattachments shows the node); the detach completes once that pod is gone or that node is deleted.';

const ATTACH_HINTS: [RegExp, string][] = [
  [/Multi-Attach error/i, MULTI_ATTACH_HINT],
  [
    /UnauthorizedOperation|not authorized|AccessDenied|KMS/i,
    "The EBS CSI controller's IAM role may not attach this volume: check the ebs-csi-controller-sa role (AmazonEBSCSIDriverPolicy) and, for encrypted volumes, the KMS key policy.",
  ],
  [
    /AttachVolume.*(limit|exceeded)|maximum number of attachments|attachment limit/i,
    "The node reached its EBS attachment limit: spread the pods or use an instance type with more attachments (kubectl get csinode shows allocatable).",
  ],
  [
    /timed out|DeadlineExceeded/i,
    'The attach did not finish in time at EC2: read the csi-attacher and ebs-plugin logs of ebs-csi-controller and the volume state in EC2.',
  ],
];
const ATTACH_FALLBACK =
  'Read the VolumeAttachment status and the ebs-csi-controller logs (containers csi-attacher and ebs-plugin).';

const MOUNT_HINTS: [RegExp, string][] = [
  [
    /driver name \S+ not found in the list of registered CSI drivers/i,
    "The CSI node plugin is not registered on the pod's node: check the ebs-csi-node pod on that node (kubectl get pods -n kube-system -o wide | grep ebs-csi-node).",
  ],
  [/Multi-Attach error/i, MULTI_ATTACH_HINT],
  [
    /timed out waiting for the condition|Unable to attach or mount volumes|unmounted volumes/i,
    "The volume never became available on the node: look for FailedAttachVolume events and the pod's VolumeAttachment (attachError).",
  ],
  [
    /wrong fs type|bad superblock|fsck|corrupt/i,
    'The filesystem on the volume looks damaged: snapshot the EBS volume before any repair.',
  ],
  [
    /not found|NotFound|does not exist/i,
    'A volume, Secret or ConfigMap the pod mounts does not exist: read the message and check that object.',
  ],
];
const MOUNT_FALLBACK = 'Read kubectl describe pod and the ebs-csi-node logs on that node (container ebs-plugin).';

/** Attach/mount events are transient when the pod has come up since; that is a WARN, not a FAIL. */
function eventFindings(
  groups: EventGroup[],
  pods: Pod[] | undefined,
  context: RecipeContext,
  hints: [RegExp, string][],
  fallback: string,
): Finding[] {
  return groups.map((group) => {
    const pod =
      group.kind === 'Pod'
        ? pods?.find((candidate) => candidate.metadata?.name === group.name && candidate.metadata?.namespace === group.namespace)
        : undefined;
    const recovered = pod !== undefined && podIsHealthy(pod);
    const node = pod?.spec?.nodeName ?? group.host;
    return {
      status: recovered ? 'WARN' : 'FAIL',
      object: objectRef(group.kind, group.name, group.namespace),
      evidence: `${eventEvidence(group, context)}${node ? ` (node ${node})` : ''}${recovered ? '; the pod is running and ready now' : ''}`,
      hint: hintFor(group.message, hints, fallback),
      kubectl: describeEventObject(group),
    };
  });
}

const attachEvents: Recipe = {
  id: 'volumes.attach-events',
  area: 'volumes',
  kubectl: 'kubectl get events -A --field-selector type=Warning,reason=FailedAttachVolume',
  async run(context) {
    const groups = groupEvents((await context.warnings()).filter((event) => event.reason === 'FailedAttachVolume'));
    const pods = groups.length > 0 ? await context.optional<Pod>('pods') : undefined;
    return {
      findings: eventFindings(groups, pods, context, ATTACH_HINTS, ATTACH_FALLBACK),
      checked: `no FailedAttachVolume warnings in ${context.sinceLabel}`,
    };
  },
};

const mountEvents: Recipe = {
  id: 'volumes.mount-events',
  area: 'volumes',
  kubectl: 'kubectl get events -A --field-selector type=Warning,reason=FailedMount',
  async run(context) {
    const reasons = new Set(['FailedMount', 'FailedMapVolume']);
    const groups = groupEvents((await context.warnings()).filter((event) => reasons.has(event.reason ?? '')));
    const pods = groups.length > 0 ? await context.optional<Pod>('pods') : undefined;
    return {
      findings: eventFindings(groups, pods, context, MOUNT_HINTS, MOUNT_FALLBACK),
      checked: `no FailedMount or FailedMapVolume warnings in ${context.sinceLabel}`,
    };
  },
};

const volumeAttachments: Recipe = {
  id: 'volumes.volumeattachments',
  area: 'volumes',
  kubectl: 'kubectl get volumeattachments',
  async run(context) {
    const attachments = await context.list<VolumeAttachment>('volumeattachments');
    const nodes = await context.optional<Node>('nodes');
    const nodeNames = nodes && new Set(nodes.map(nameOf));
    const findings: Finding[] = [];
    for (const attachment of attachments) {
      const name = nameOf(attachment);
      const pv = attachment.spec?.source?.persistentVolumeName ?? '<inline volume>';
      const node = attachment.spec?.nodeName ?? '<no node>';
      const subject = `PV ${pv} on node ${node} (${attachment.spec?.attacher ?? 'unknown attacher'})`;
      const kubectl = `kubectl get volumeattachment ${name} -o yaml`;
      const object = objectRef('VolumeAttachment', name);
      const { attachError, detachError } = attachment.status ?? {};
      const deleting = millis(attachment.metadata?.deletionTimestamp);
      if (attachError) {
        const message = attachError.message ?? '';
        findings.push({
          status: 'FAIL',
          object,
          evidence: `${subject}: attach failed ${context.ago(millis(attachError.time))}: ${oneLine(message)}`,
          hint: hintFor(message, ATTACH_HINTS, ATTACH_FALLBACK),
          kubectl,
        });
      }
      if (detachError) {
        findings.push({
          status: 'FAIL',
          object,
          evidence: `${subject}: detach failed ${context.ago(millis(detachError.time))}: ${oneLine(detachError.message)}`,
          hint: 'The volume cannot be detached from the old node, so no other node can attach it: read the ebs-csi-controller csi-attacher log and the volume state in EC2.',
          kubectl,
        });
      } else if (deleting !== undefined && context.nowMs - deleting > STUCK_AFTER_MS) {
        findings.push({
          status: 'FAIL',
          object,
          evidence: `${subject}: detaching for ${formatCoarse(context.nowMs - deleting)}`,
          hint: 'The detach is stuck: check that the node still exists and its ebs-csi-node pod runs; a pod still using the volume there blocks it.',
          kubectl,
        });
      }
      if (nodeNames && attachment.spec?.nodeName && !nodeNames.has(attachment.spec.nodeName)) {
        findings.push({
          status: 'WARN',
          object,
          evidence: `${subject}: node ${node} no longer exists`,
          hint: 'The attachment outlived its node: the attach/detach controller normally cleans it up within minutes; if it stays, the volume may be blocked from attaching elsewhere.',
          kubectl,
        });
      }
      const age = context.age(attachment.metadata);
      if (!attachError && attachment.status?.attached !== true && deleting === undefined && age !== undefined && age > STUCK_AFTER_MS) {
        findings.push({
          status: 'WARN',
          object,
          evidence: `${subject}: not attached after ${formatCoarse(age)}`,
          hint: ATTACH_FALLBACK,
          kubectl,
        });
      }
    }
    return { findings, checked: `${attachments.length} VolumeAttachments, none failing or stuck` };
  },
};

const pendingClaims: Recipe = {
  id: 'volumes.pvc-pending',
  area: 'volumes',
  kubectl: 'kubectl get pvc -A',
  async run(context) {
    const claims = await context.list<PersistentVolumeClaim>('persistentvolumeclaims');
    const unbound = claims.filter((claim) => claim.status?.phase === 'Pending' || claim.status?.phase === 'Lost');
    const [classes, pods, warnings] =
      unbound.length > 0
        ? await Promise.all([
            context.optional<StorageClass>('storageclasses'),
            context.optional<Pod>('pods'),
            context.optionalWarnings(),
          ])
        : [undefined, undefined, undefined];
    const findings: Finding[] = [];
    for (const claim of unbound) {
      const name = nameOf(claim);
      const namespace = claim.metadata?.namespace;
      const object = objectRef('PVC', name, namespace);
      const kubectl = describe('pvc', name, namespace);
      if (claim.status?.phase === 'Lost') {
        findings.push({
          status: 'FAIL',
          object,
          evidence: `Lost: its PersistentVolume ${claim.spec?.volumeName ?? ''} is gone`,
          hint: 'The bound volume was deleted: restore it from a snapshot or recreate the claim; data on it is not reachable.',
          kubectl,
        });
        continue;
      }
      const storageClass = classes?.find((candidate) => nameOf(candidate) === claim.spec?.storageClassName);
      const consumers = pods?.filter((pod) => usesClaim(pod, namespace, name));
      // WaitForFirstConsumer claims stay Pending until a pod using them is scheduled: by design, and when
      // that pod cannot be scheduled the pending-pods check names the cause.
      const waitsForConsumer = storageClass?.volumeBindingMode === 'WaitForFirstConsumer';
      if (waitsForConsumer && consumers !== undefined && !consumers.some((pod) => pod.spec?.nodeName)) continue;
      const age = context.age(claim.metadata);
      if (age !== undefined && age < STUCK_AFTER_MS) continue;
      const event = groupEvents(
        (warnings ?? []).filter(
          (candidate) =>
            candidate.involvedObject?.kind === 'PersistentVolumeClaim' &&
            candidate.involvedObject.name === name &&
            candidate.involvedObject.namespace === namespace,
        ),
      )[0];
      const used = consumers && consumers.length > 0 ? `, used by pod ${consumers.map(nameOf).join(', ')}` : '';
      findings.push({
        // Without pods we cannot tell a WaitForFirstConsumer claim that is merely waiting from a stuck one.
        status: waitsForConsumer && consumers === undefined ? 'WARN' : 'FAIL',
        object,
        evidence: `Pending for ${age === undefined ? 'an unknown time' : formatCoarse(age)} (storage class ${claim.spec?.storageClassName ?? 'default'}${used})${event ? `; ${eventEvidence(event, context)}` : ''}`,
        hint: hintFor(
          event?.message ?? '',
          [
            [/UnauthorizedOperation|not authorized|AccessDenied/i, "The EBS CSI controller's IAM role may not create volumes: check its policy (ec2:CreateVolume) and the KMS key policy."],
            [/storageclass.*not found/i, 'The claim names a storage class that does not exist: kubectl get storageclass.'],
          ],
          'Nothing provisioned a volume: check the storage class provisioner, the ebs-csi-controller logs (csi-provisioner) and the claim events.',
        ),
        kubectl,
      });
    }
    return { findings, checked: `${claims.length} PVCs, none stuck Pending or Lost` };
  },
};

function pvZones(pv: PersistentVolume): { key: string; zones: string[] } | undefined {
  for (const term of pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
    for (const requirement of term.matchExpressions ?? []) {
      if (requirement.operator === 'In' && ZONE_LABELS.some((label) => label === requirement.key) && requirement.values?.length) {
        return { key: requirement.key!, zones: requirement.values };
      }
    }
  }
  return undefined;
}

function usesClaim(pod: Pod, namespace: string | undefined, claim: string): boolean {
  return pod.metadata?.namespace === namespace && (pod.spec?.volumes ?? []).some((volume) => volume.persistentVolumeClaim?.claimName === claim);
}

function nodeZone(node: Node, preferredKey: string): string | undefined {
  const labels = node.metadata?.labels ?? {};
  return labels[preferredKey] ?? ZONE_LABELS.map((label) => labels[label]).find((zone) => zone !== undefined);
}

function nodeUsable(node: Node): boolean {
  return conditionOf(node.status?.conditions, 'Ready')?.status === 'True' && node.spec?.unschedulable !== true;
}

const zoneAffinity: Recipe = {
  id: 'volumes.zone-mismatch',
  area: 'volumes',
  kubectl: 'kubectl get pv -o custom-columns=NAME:.metadata.name,CLAIM:.spec.claimRef.name,ZONE:.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]',
  async run(context) {
    const [volumes, nodes] = await Promise.all([context.list<PersistentVolume>('persistentvolumes'), context.list<Node>('nodes')]);
    const pods = await context.optional<Pod>('pods');
    const warnings = await context.optionalWarnings();
    const findings: Finding[] = [];
    let zonal = 0;
    for (const volume of volumes) {
      const affinity = pvZones(volume);
      const claim = volume.spec?.claimRef;
      if (!affinity || !claim?.name) continue;
      zonal++;
      const name = nameOf(volume);
      const volumeId = volume.spec?.csi?.volumeHandle ? ` (${volume.spec.csi.volumeHandle})` : '';
      const zoneList = affinity.zones.join(', ');
      const usableZones = new Set(nodes.filter(nodeUsable).map((node) => nodeZone(node, affinity.key)));
      const consumers = pods?.filter((pod) => usesClaim(pod, claim.namespace, claim.name!));
      if (!affinity.zones.some((zone) => usableZones.has(zone))) {
        const available = [...usableZones].filter((zone) => zone !== undefined).sort().join(', ') || 'none';
        // A pod already running on the volume is fine until it has to move; nothing can start it elsewhere.
        const running = consumers?.filter((pod) => pod.status?.phase === 'Running') ?? [];
        const stillRuns = consumers !== undefined && consumers.length > 0 && running.length === consumers.length;
        findings.push({
          status: stillRuns ? 'WARN' : 'FAIL',
          object: objectRef('PV', name),
          evidence: `PV${volumeId} for claim ${claim.namespace}/${claim.name} lives in ${zoneList}; no Ready schedulable node there (zones with one: ${available})${stillRuns ? `; pod ${running.map(nameOf).join(', ')} still runs, but could not be restarted` : ''}`,
          hint: `EBS volumes cannot leave their zone: bring up a node in ${zoneList} (node group subnets) or make the nodes there Ready and schedulable; else restore the data from a snapshot into another zone.`,
          kubectl: describe('pv', name),
        });
      }
      for (const pod of consumers ?? []) {
        const node = pod.spec?.nodeName ? nodes.find((candidate) => nameOf(candidate) === pod.spec?.nodeName) : undefined;
        const zone = node && nodeZone(node, affinity.key);
        if (zone && !affinity.zones.includes(zone)) {
          findings.push({
            status: 'FAIL',
            object: objectRef('Pod', nameOf(pod), pod.metadata?.namespace),
            evidence: `on node ${nameOf(node)} in ${zone}, but its volume ${name}${volumeId} is in ${zoneList}`,
            hint: 'The pod runs in another zone than its EBS volume, so the attach cannot succeed: delete the pod so the scheduler places it in the volume zone.',
            kubectl: describe('pod', nameOf(pod), pod.metadata?.namespace),
          });
        }
      }
    }
    const conflicts = groupEvents(
      (warnings ?? []).filter((event) => event.reason === 'FailedScheduling' && /volume node affinity conflict/i.test(event.message ?? '')),
    );
    for (const group of conflicts) {
      findings.push({
        status: 'FAIL',
        object: objectRef(group.kind, group.name, group.namespace),
        evidence: eventEvidence(group, context),
        hint: 'No node in the zone of the pod volume can take the pod: add capacity in that zone, or check taints and selectors of the nodes there.',
        kubectl: describeEventObject(group),
      });
    }
    return { findings, checked: `${zonal} zonal PVs with a claim, all reachable from a Ready node in their zone` };
  },
};

const ebsCsiDriver: Recipe = {
  id: 'volumes.ebs-csi-driver',
  area: 'volumes',
  kubectl: 'kubectl get pods -n kube-system -l app.kubernetes.io/name=aws-ebs-csi-driver -o wide',
  async run(context) {
    const systemPods = await context.list<Pod>('pods', 'kube-system');
    const driverPods = systemPods.filter((pod) => {
      const labels = pod.metadata?.labels ?? {};
      return (
        nameOf(pod).startsWith('ebs-csi-') ||
        labels['app.kubernetes.io/name'] === 'aws-ebs-csi-driver' ||
        labels.app === 'ebs-csi-controller' ||
        labels.app === 'ebs-csi-node'
      );
    });
    const findings: Finding[] = [];
    for (const pod of driverPods) {
      const problems = containerProblems(pod);
      const where = pod.spec?.nodeName ? `on node ${pod.spec.nodeName}: ` : '';
      if (pod.status?.phase !== 'Running' && problems.length === 0) {
        findings.push({
          status: 'FAIL',
          object: objectRef('Pod', nameOf(pod), 'kube-system'),
          evidence: `${where}phase ${pod.status?.phase ?? 'unknown'}${pod.status?.reason ? ` (${pod.status.reason})` : ''}`,
          hint: 'The EBS CSI driver pod is not running, so volumes on that node cannot attach or mount: kubectl describe the pod.',
          kubectl: describe('pod', nameOf(pod), 'kube-system'),
        });
      }
      for (const problem of problems) {
        findings.push({
          status: problem.severity,
          object: objectRef('Pod', nameOf(pod), 'kube-system'),
          evidence: `${where}${problem.text}`,
          hint: `Volumes handled by this driver pod cannot attach or mount while it is down. ${containerHint(pod, problem)}`,
          kubectl: logsCommand(pod, problem.container),
        });
      }
    }
    const volumes = await context.optional<PersistentVolume>('persistentvolumes');
    const ebsVolumes = volumes?.filter((volume) => volume.spec?.csi?.driver === EBS_CSI_DRIVER).length ?? 0;
    if (driverPods.length === 0 && ebsVolumes > 0) {
      findings.push({
        status: 'FAIL',
        object: 'namespace/kube-system',
        evidence: `no EBS CSI driver pods in kube-system, but ${ebsVolumes} PVs use ${EBS_CSI_DRIVER}`,
        hint: 'Install or repair the aws-ebs-csi-driver add-on (EKS console: Add-ons), otherwise no EBS volume attaches or mounts.',
        kubectl: 'kubectl get daemonset,deployment -n kube-system',
      });
    }
    const drivers = ebsVolumes > 0 ? await context.optional<CsiDriver>('csidrivers') : undefined;
    if (drivers && !drivers.some((driver) => nameOf(driver) === EBS_CSI_DRIVER)) {
      findings.push({
        status: 'FAIL',
        object: objectRef('CSIDriver', EBS_CSI_DRIVER),
        evidence: `no CSIDriver object ${EBS_CSI_DRIVER}, but ${ebsVolumes} PVs use it`,
        hint: 'The driver registration is missing: reinstall the aws-ebs-csi-driver add-on.',
        kubectl: 'kubectl get csidrivers',
      });
    }
    const checked =
      driverPods.length === 0
        ? `EBS CSI driver not installed and no PV uses ${EBS_CSI_DRIVER}`
        : `${driverPods.length} EBS CSI driver pods running and ready`;
    return { findings, checked };
  },
};

export const VOLUME_RECIPES: Recipe[] = [attachEvents, mountEvents, volumeAttachments, pendingClaims, zoneAffinity, ebsCsiDriver];
