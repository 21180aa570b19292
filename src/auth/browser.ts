/**
 * Opening a URL in the person's browser (byoc login on a TTY). A client like the others, so tests replace it with
 * a scripted browser. Written here rather than with the `open` package: three platform commands, started detached,
 * and nothing waits on them (the URL is printed to stderr in any case).
 */
import { spawn } from 'node:child_process';

export interface Browser {
  /** true when a browser was started (not that the person looked at it) */
  open(url: string): Promise<boolean>;
}

declare module '../context.js' {
  interface Clients {
    browser: Browser;
  }
}

function command(url: string): [string, string[]] {
  if (process.platform === 'darwin') return ['open', [url]];
  // `start` treats its first quoted argument as a window title: an empty one comes first
  if (process.platform === 'win32') return ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]];
  return ['xdg-open', [url]];
}

export const systemBrowser: Browser = {
  open: (url) =>
    new Promise((resolve) => {
      const [bin, args] = command(url);
      const child = spawn(bin, args, { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    }),
};
