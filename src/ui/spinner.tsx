import { renderToString, Text } from 'ink';
import type { OutputStream } from '../context.js';
import { fitCells } from './text.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** Carriage return, then erase the whole line (CSI 2K): the cursor is back where the spinner started. */
const ERASE_LINE = '\r\u001b[2K';

export interface SpinnerLine {
  /** next frame, with the label read again */
  update(): void;
  /** prints `text` (whole lines) above the spinner, which is drawn again under it */
  interrupt(text: string): void;
  /** erases the line; nothing of the spinner stays on the terminal */
  stop(): void;
}

/**
 * A one-line spinner on a terminal's stderr, drawn with ink and redrawn in place. Not ink's live `render`: that
 * one switches to "print the last frame at exit" when CI is set and hooks process exit, and a status line that
 * must vanish before the result needs neither. The line is cut to the terminal's width, so erasing it erases it all.
 */
export function renderSpinner(stream: OutputStream, label: () => string, color: boolean): SpinnerLine {
  let frame = 0;
  let stopped = false;
  const columns = Math.max(10, (stream.columns ?? 80) - 1);
  const draw = () => {
    const element = (
      <Text>
        <Text {...(color ? { color: 'cyan' } : {})}>{FRAMES[frame % FRAMES.length]}</Text> {fitCells(label(), columns - 2)}
      </Text>
    );
    stream.write(`${ERASE_LINE}${renderToString(element, { columns: columns + 1 })}`);
  };
  draw();
  return {
    update() {
      if (stopped) return;
      frame++;
      draw();
    },
    interrupt(text) {
      if (stopped) {
        stream.write(text);
        return;
      }
      stream.write(`${ERASE_LINE}${text}`);
      draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      stream.write(ERASE_LINE);
    },
  };
}
