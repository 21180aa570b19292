import { defineCommand, option } from '../src/command.js';

export default defineCommand({
  examples: ['byoc login', 'byoc login --device', 'byoc login --no-browser --port 8765'],
  options: {
    device: option.boolean({
      flag: '--device', key: 'login.device', env: 'BYOC_LOGIN_DEVICE', default: false,
      description: 'sign in with a code on another device (RFC 8628): for machines without a browser',
    }),
    browser: option.boolean({
      flag: '--[no-]browser', key: 'login.browser', env: 'BYOC_LOGIN_BROWSER', default: true, defaultNote: 'true (on a TTY)',
      description: 'open the sign-in page in a browser on a TTY; --no-browser only prints its URL (to stderr, as always)',
    }),
    port: option.integer({
      flag: '--port <n>', key: 'login.port', env: 'BYOC_LOGIN_PORT', default: 0, min: 0, max: 65_535,
      description: 'loopback port of the sign-in redirect (0: any free port; set one when the provider registers exact ports)',
    }),
  },
  async run({ device, browser, port }, ctx) {
    const { signIn } = await import('../src/auth/sign-in.js');
    return signIn(ctx, { device, browser, port });
  },
  text: (result) =>
    `signed in to ${result.broker} as ${result.identity}${result.groups.length ? ` (groups: ${result.groups.join(', ')})` : ''}; ` +
    `token valid until ${result.expiresAt}${result.refreshable ? ', renewed silently' : ', then run byoc login again'}`,
});
