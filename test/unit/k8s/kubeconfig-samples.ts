import type { KubeconfigEntry } from '../../../src/k8s/kubeconfig.js';

/** The entry `byoc connect k8s acme-prod` would write. */
export const ENTRY: KubeconfigEntry = {
  contextName: 'byoc-acme-prod',
  clusterName: 'byoc-acme-prod',
  userName: 'byoc-acme-prod-alice',
  cluster: {
    server: 'https://k8s.abc123.us-east-1.aws.byoc.example.com',
    certificateAuthorityData: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64'),
    tlsServerName: 'k8s.abc123.us-east-1.aws.byoc.example.com',
    proxyUrl: 'http://localhost:1055',
  },
  user: {
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: '/usr/local/bin/byoc',
      args: ['kube-credential', 'acme-prod'],
      env: [{ name: 'BYOC_PROFILE', value: 'support' }],
      interactiveMode: 'Never',
      provideClusterInfo: false,
    },
  },
  namespace: 'clickhouse',
};

/** A kubeconfig as kubectl writes it, plus what people add by hand. */
export const EXISTING = `# Managed by hand: this comment must survive
apiVersion: v1
clusters:
- cluster:
    certificate-authority: ../certs/prod-ca.pem # relative path, must stay relative
    server: https://prod.example.com:6443
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: prod
  name: prod
# byoc entry from an older run
- cluster:
    server: https://old.example.com
  name: byoc-acme-prod
contexts:
- context:
    cluster: prod
    namespace: default
    user: prod-admin
  name: prod
- context:
    cluster: byoc-acme-prod
    user: byoc-acme-prod-alice
  name: byoc-acme-prod
current-context: prod
kind: Config
preferences:
  colors: true
users:
- name: prod-admin
  user:
    token: s3cr3t # a secret the merge must not touch
extensions:
- name: my-extension
  extension:
    foo: bar
`;
