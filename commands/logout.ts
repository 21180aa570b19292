import { defineCommand } from '../src/command.js';

export default defineCommand({
  examples: ['byoc logout'],
  async run(_input, ctx) {
    const { signOut } = await import('../src/auth/sign-in.js');
    return signOut(ctx);
  },
  text: (result) => {
    if (!result.signedOut) return 'not signed in: nothing to do';
    const certificates = result.certificates.length ? `; deleted the keys and certificates for ${result.certificates.join(', ')}` : '';
    return `signed out ${result.identity} from ${result.broker}${result.revoked ? ' (refresh token revoked)' : ''}${certificates}`;
  },
});
