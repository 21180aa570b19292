import type { OutputStream } from '../context.js';
import type { SpinnerLine } from './spinner.js';

export interface ProgressOptions {
  stream: OutputStream;
  /** a person watches the stream: it is a terminal, and the output is not --json */
  enabled: boolean;
  color: boolean;
  /** waits shorter than this show nothing */
  delayMs?: number;
  intervalMs?: number;
}

export interface Progress {
  /** Resolves as `work` does; a spinner says `label` while it takes longer than the delay. */
  track<T>(label: string, work: Promise<T>): Promise<T>;
  /** The same for a wait that ends elsewhere; call the returned function when it ends (more calls do nothing). */
  begin(label: string): () => void;
  /** Writes text to the stream without tearing a spinner that is showing. */
  write(text: string): void;
}

const DELAY_MS = 300;
const INTERVAL_MS = 80;

/**
 * Spinners for waits, on stderr. One line at a time: nested waits show the innermost label. Real timers, not the
 * context's clock: what counts is how long a person actually waits, and tests advance a fake clock at will.
 * Nothing is written when disabled (a pipe, --json): no text and no control characters.
 */
export function createProgress(options: ProgressOptions): Progress {
  const delayMs = options.delayMs ?? DELAY_MS;
  const intervalMs = options.intervalMs ?? INTERVAL_MS;
  const waits: { label: string }[] = [];
  let line: SpinnerLine | undefined;
  let delay: ReturnType<typeof setTimeout> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  // ink loads while the work runs, so the first frame is not late by its import.
  let spinnerModule: Promise<typeof import('./spinner.js')> | undefined;

  const show = async () => {
    const { renderSpinner } = await spinnerModule!;
    if (waits.length === 0 || line) return;
    line = renderSpinner(options.stream, () => waits.at(-1)!.label, options.color);
    ticker = setInterval(() => line?.update(), intervalMs);
    ticker.unref?.();
  };

  const hide = () => {
    clearTimeout(delay);
    clearInterval(ticker);
    delay = undefined;
    ticker = undefined;
    line?.stop();
    line = undefined;
  };

  const begin = (label: string): (() => void) => {
    if (!options.enabled) return () => undefined;
    const wait = { label };
    waits.push(wait);
    if (waits.length === 1) {
      spinnerModule ??= import('./spinner.js');
      // An import failure shows as no spinner; the work itself goes on.
      spinnerModule.catch(() => undefined);
      delay = setTimeout(() => void show().catch(() => undefined), delayMs);
      delay.unref?.();
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      waits.splice(waits.indexOf(wait), 1);
      if (waits.length === 0) hide();
    };
  };

  return {
    begin,
    async track(label, work) {
      const end = begin(label);
      try {
        return await work;
      } finally {
        end();
      }
    },
    write(text) {
      if (line) line.interrupt(text);
      else options.stream.write(text);
    },
  };
}
