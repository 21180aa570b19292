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
  matchRule,
  objectRef,
  oneLine,
  podIsHealthy,
  type EventGroup,
  type Finding,
  type HintRule,
  type Recipe,
  type RecipeContext,
} from './common.js';

const EBS_CSI_DRIVER = 'ebs.csi.aws.com';

/** How long an attach, detach or binding may take before it counts as stuck. */
const STUCK_AFTER_MS = 5 * 60_000;

const MULTI_ATTACH_HINT =
  'The volume is still attached to another node: find the pod still using it there (kubectl get volumeattachments shows the node); the detach completes once that pod is gone or that node is deleted.';

const VOLUME_IN_USE_HINT =
  'EC2 says the volume is still attached to another instance (VolumeInUse): find the node and pod still holding it (kubectl get volumeattachments, or the volume in the EC2 console); it frees once that pod is gone or the instance is stopped.';

const IAM_ATTACH_HINT =
  "EC2 refused the attach for lack of permission (UnauthorizedOperation): CSI volumes attach with the ebs-csi-controller-sa IAM role (AmazonEBSCSIDriverPolicy), in-tree kubernetes.io/aws-ebs volumes with the control plane's (cloud provider's) role; for encrypted volumes also check the KMS key policy.";

const KMS_HINT =
  'The KMS key of the encrypted volume cannot be used: let the ebs-csi-controller-sa IAM role use the key (kms:CreateGrant, kms:Decrypt, kms:GenerateDataKeyWithoutPlainText) in the key policy, and check that the key is enabled.';

const ATTACH_LIMIT_HINT =
  'The node reached its EBS attachment limit: spread the pods or use an instance type with more attachments (kubectl get csinode shows allocatable).';

const ATTACH_TIMEOUT_HINT =
  'The attach timed out (not an attachment limit): read the csi-attacher and ebs-plugin logs of ebs-csi-controller and the volume state in EC2 (stuck "attaching"); it often clears on retry.';

/** Case-sensitive: the encoded authorization message of an UnauthorizedOperation is random text. */
const KMS_ERROR = /\bKMS\b|\bkms:[A-Za-z]|KmsKey|KMS key/;

/** The attach-detach controller waited for the CSI external-attacher sidecar to set VolumeAttachment.status.attached. */
function externalAttacherHint(match: RegExpExecArray): string {
  return `The external-attacher of ${match[1]} never marked the VolumeAttachment attached: check that the CSI controller (for EBS: ebs-csi-controller) runs, the log of its csi-attacher sidecar and its RBAC on volumeattachments/status; read the VolumeAttachment attachError.`;
}

/**
 * Ordered: the first match wins. The limit pattern names the AWS error codes and wordings, never a bare
 * "exceeded", which would match a gRPC DeadlineExceeded, a timeout.
 */
const ATTACH_HINTS: HintRule[] = [
  [/Multi-Attach error/i, MULTI_ATTACH_HINT],
  [/timed out waiting for external-attacher of (\S+) CSI driver/i, externalAttacherHint],
  [KMS_ERROR, KMS_HINT],
  [/UnauthorizedOperation|not authorized|AccessDenied/i, IAM_ATTACH_HINT],
  [/VolumeInUse|already attached to an instance/i, VOLUME_IN_USE_HINT],
  [/AttachmentLimitExceeded|VolumeLimitExceeded|maximum number of (volume )?attachments|attachment limit|exceed(s|ed)? max volume count/i, ATTACH_LIMIT_HINT],
  [/InvalidVolume\.ZoneMismatch|not in the same availability zone/i, 'The volume is in another availability zone than the node: EBS volumes attach only within their zone. Delete the pod so the scheduler places it in the volume zone (the PV needs zone node affinity), or restore the data from a snapshot in the node zone.'],
  [/has no NodeID annotation|cannot find NodeID for driver/i, "The CSI node plugin never registered on that node (no NodeID): check the node plugin pod there (for EBS: ebs-csi-node, its node-driver-registrar container) and that the DaemonSet tolerates the node's taints."],
  [/volume attachment is being deleted/i, 'The VolumeAttachment from the previous node is still being deleted (a detach in progress): wait for it, or look at why the detach hangs (kubectl get volumeattachments; its node and detachError).'],
  [/Failed to get AWS Cloud Provider|GetCloudProvider returned <nil>/i, 'The in-tree kubernetes.io/aws-ebs plugin needs the AWS cloud provider, which this cluster does not run: install the EBS CSI driver (CSI migration moves in-tree volumes to it) or run the cloud provider.'],
  [/attachment timeout|attach timeout|timed out|timeout expired|DeadlineExceeded|deadline exceeded|expected device to be attached but was attaching|is attaching/i, ATTACH_TIMEOUT_HINT],
  [/InvalidVolume\.NotFound|volume .* does not exist/i, 'EC2 does not know the volume: it was deleted or lives in another account or region; restore it from a snapshot or recreate the claim.'],
];
const ATTACH_FALLBACK =
  'Read the VolumeAttachment status and the ebs-csi-controller logs (containers csi-attacher and ebs-plugin).';

/** The DaemonSet that registers a CSI driver on each node, for the drivers BYOC clusters use. */
const NODE_PLUGINS: Record<string, string> = {
  'ebs.csi.aws.com': 'ebs-csi-node',
  'efs.csi.aws.com': 'efs-csi-node',
  's3.csi.aws.com': 's3-csi-node (Mountpoint for Amazon S3)',
};

function driverNotRegisteredHint(match: RegExpExecArray): string {
  const driver = match[1]!;
  const plugin = NODE_PLUGINS[driver];
  const which = plugin ? `the ${plugin} pod` : `the pod of the node plugin DaemonSet of ${driver}`;
  const grep = plugin ? ` (kubectl get pods -n kube-system -o wide | grep ${plugin.split(' ')[0]})` : '';
  return `The CSI node plugin of ${driver} is not registered on the pod's node: check ${which} on that node${grep}, its node-driver-registrar container, and that the DaemonSet tolerates the node's taints.`;
}

const MOUNT_HINTS: HintRule[] = [
  [/driver name (\S+) not found in the list of registered CSI drivers/i, driverNotRegisteredHint],
  [/Multi-Attach error/i, MULTI_ATTACH_HINT],
  // In-tree kubernetes.io/aws-ebs logged attach failures as FailedMount.
  [KMS_ERROR, KMS_HINT],
  [/UnauthorizedOperation|not authorized to perform/i, IAM_ATTACH_HINT],
  [/VolumeInUse|already attached to an instance/i, VOLUME_IN_USE_HINT],
  [
    /timed out waiting for the condition|Unable to attach or mount volumes|unmounted volumes|timeout expired waiting for volumes/i,
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
  hints: HintRule[],
  fallback: string,
): Finding[] {
  return groups.map((group) => {
    const pod =
      group.kind === 'Pod'
        ? pods?.find((candidate) => candidate.metadata?.name === group.name && candidate.metadata?.namespace === group.namespace)
        : undefined;
    const recovered = pod !== undefined && podIsHealthy(pod);
    const node = pod?.spec?.nodeName ?? group.host;
    const rule = matchRule(group.message, hints);
    return {
      status: recovered ? 'WARN' : 'FAIL',
      object: objectRef(group.kind, group.name, group.namespace),
      evidence: `${eventEvidence(group, context, rule?.focus)}${node ? ` (node ${node})` : ''}${recovered ? '; the pod is running and ready now' : ''}`,
      hint: rule?.hint ?? fallback,
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
          evidence: `${subject}: attach failed ${context.ago(millis(attachError.time))}: ${oneLine(message, 200, matchRule(message, ATTACH_HINTS)?.focus)}`,
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

/** Set by the scheduler on a WaitForFirstConsumer claim: the node its first consumer pod is going to. */
const SELECTED_NODE = 'volume.kubernetes.io/selected-node';

/** Provisioning failures by cause: IAM, KMS, quota, then the rest. */
const PROVISIONING_HINTS: HintRule[] = [
  // An encrypted volume whose KMS key the role cannot use is created and vanishes at once: EC2 then
  // answers InvalidVolume.NotFound for the volume it has just returned.
  [/\bKMS\b|\bkms:[A-Za-z]|KmsKey|KMS key|InvalidVolume\.NotFound/, `The volume was created and then vanished, which is what EC2 does when the KMS key of an encrypted volume cannot be used. ${KMS_HINT}`],
  [/UnauthorizedOperation|not authorized|AccessDenied/i, "The EBS CSI controller's IAM role may not create volumes (IAM): check the ebs-csi-controller-sa role (ec2:CreateVolume, ec2:CreateTags in AmazonEBSCSIDriverPolicy) and, for encrypted volumes, the KMS key policy."],
  [/VolumeLimitExceeded|MaxIOPSLimitExceeded|LimitExceeded|quota|maximum (allowed )?(total )?(storage|number of volumes)/i, 'An EC2 quota is exhausted (volumes, storage or IOPS in the region): raise it in Service Quotas (Amazon EBS) or delete unused volumes and snapshots.'],
  [/storageclass.*not found/i, 'The claim names a storage class that does not exist: kubectl get storageclass.'],
  [/InvalidParameter|InvalidZone|Unsupported|invalid/i, 'EC2 rejected the storage class parameters (type, iops, throughput, zone): compare them with what EBS allows for that volume type.'],
  [/DeadlineExceeded|deadline exceeded|timed out/i, 'The CSI controller did not answer in time: check that ebs-csi-controller runs and reaches the EC2 API (VPC endpoint or NAT, credentials via IRSA / Pod Identity).'],
];
const PROVISIONING_FALLBACK =
  'Nothing provisioned a volume: check the storage class provisioner, the ebs-csi-controller logs (csi-provisioner) and the claim events.';

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
      const event = groupEvents(
        (warnings ?? []).filter(
          (candidate) =>
            candidate.involvedObject?.kind === 'PersistentVolumeClaim' &&
            candidate.involvedObject.name === name &&
            candidate.involvedObject.namespace === namespace,
        ),
      )[0];
      const failed = event?.reason === 'ProvisioningFailed';
      // WaitForFirstConsumer (EKS's gp2/gp3 default) claims stay Pending until a pod using them is scheduled:
      // by design, and when that pod cannot be scheduled the pending-pods check names the cause. Once the
      // scheduler has picked a node (the selected-node annotation) a ProvisioningFailed is a real failure.
      const waitsForConsumer = storageClass?.volumeBindingMode === 'WaitForFirstConsumer';
      const selectedNode = claim.metadata?.annotations?.[SELECTED_NODE];
      if (!failed && waitsForConsumer && consumers !== undefined && !consumers.some((pod) => pod.spec?.nodeName)) continue;
      const age = context.age(claim.metadata);
      if (!failed && age !== undefined && age < STUCK_AFTER_MS) continue;
      const rule = event ? matchRule(event.message, PROVISIONING_HINTS) : undefined;
      const used = consumers && consumers.length > 0 ? `, used by pod ${consumers.map(nameOf).join(', ')}` : '';
      const going = selectedNode ? `, consumer going to node ${selectedNode}` : '';
      const binding = waitsForConsumer ? ', WaitForFirstConsumer' : '';
      findings.push({
        // Without pods we cannot tell a WaitForFirstConsumer claim that is merely waiting from a stuck one.
        status: failed || !(waitsForConsumer && consumers === undefined) ? 'FAIL' : 'WARN',
        object,
        evidence: `Pending for ${age === undefined ? 'an unknown time' : formatCoarse(age)} (storage class ${claim.spec?.storageClassName ?? 'default'}${binding}${used}${going})${event ? `; ${eventEvidence(event, context, rule?.focus)}` : ''}`,
        hint: rule?.hint ?? PROVISIONING_FALLBACK,
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

/** The scheduler's wordings: VolumeBinding (CSI and newer) and the older VolumeZone predicate. */
const VOLUME_ZONE_CONFLICT = /volume node affinity conflict|had no available volume zone|NoVolumeZoneConflict/i;

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
      (warnings ?? []).filter((event) => event.reason === 'FailedScheduling' && VOLUME_ZONE_CONFLICT.test(event.message ?? '')),
    );
    for (const group of conflicts) {
      findings.push({
        status: 'FAIL',
        object: objectRef(group.kind, group.name, group.namespace),
        evidence: eventEvidence(group, context, VOLUME_ZONE_CONFLICT.exec(group.message)?.[0]),
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
