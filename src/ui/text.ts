import cliTruncate from 'cli-truncate';
import stringWidth from 'string-width';
import wrapAnsi from 'wrap-ansi';

/**
 * Terminal cell arithmetic for everything that aligns columns. A CJK character or an emoji takes two cells and a
 * combining mark none, so `.length` misaligns them; string-width knows the Unicode tables (and ignores ANSI codes).
 * No ink here: the streaming query table uses it too.
 */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

/** `text` followed by spaces up to `width` cells. */
export function padCells(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - stringWidth(text)));
}

/** `text` cut to at most `width` cells, with an ellipsis when it was cut (never splits a wide character). */
export function fitCells(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  if (width <= 0) return '';
  return cliTruncate(text, width, { position: 'end', truncationCharacter: '…' });
}

/** `text` broken into lines of at most `width` cells, at spaces where possible. */
export function wrapCells(text: string, width: number): string[] {
  if (width <= 0) return [text];
  return wrapAnsi(text, width, { hard: true, trim: true }).split('\n');
}
