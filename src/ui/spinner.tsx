import { render, Text } from 'ink';
import type { OutputStream } from '../context.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A one-line spinner on stderr; each update() advances a frame and re-reads the label. */
export function renderSpinner(stream: OutputStream, label: () => string, color: boolean) {
  let frame = 0;
  const element = () => (
    <Text>
      <Text {...(color ? { color: 'cyan' } : {})}>{FRAMES[frame % FRAMES.length]}</Text> {label()}
    </Text>
  );
  const instance = render(element(), { stdout: stream as NodeJS.WriteStream, patchConsole: false, exitOnCtrlC: false });
  return {
    update() {
      frame++;
      instance.rerender(element());
    },
    stop() {
      instance.clear();
      instance.unmount();
    },
  };
}
