import { defineCommand } from '../src/command.js';
import { ByocError, reworded } from '../src/errors.js';
import type { ExecCredential } from '../src/k8s/exec-credential.js';

export default defineCommand({
  examples: ['byoc kube-credential acme-prod'],
  args: { service: { description: 'the customer service', required: true } },
  async run({ service }, ctx): Promise<ExecCredential> {
    const [{ obtainCertificate }, { execCredential }] = await Promise.all([import('../src/access/credentials.js'), import('../src/k8s/exec-credential.js')]);
    try {
      // Never waits and never prompts: kubectl runs this with interactiveMode Never and shows what it prints on stderr.
      const certificate = await obtainCertificate(ctx, service);
      return execCredential({ service, certPem: certificate.certPem, keyPem: certificate.keyPem, notAfter: new Date(certificate.meta.notAfter) });
    } catch (error) {
      if (!(error instanceof ByocError)) throw error;
      // kubectl passes the plugin's stderr through: one line that says what to run next.
      throw reworded(error, `byoc: ${error.message}${error.hint ? `. ${error.hint}` : ''}`, '');
    }
  },
  // kubectl parses stdout: it is the ExecCredential JSON whatever the output settings.
  json: (credential) => credential,
  text: (credential) => JSON.stringify(credential),
});
