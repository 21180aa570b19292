/**
 * A lexer for ClickHouse SQL that splits text exactly where the server's own lexer
 * (src/Parsers/Lexer.cpp) does. The SQL guard depends on this: a string, comment or quoted name
 * that we end one character earlier or later than the server would let text hide from the guard.
 * So the rules below copy the server's, quirks included (`#` is a comment only before a space or
 * `!`, `1abc` is a name, a `.` after a name is always a dot, unicode spaces are whitespace).
 */

export type TokenKind =
  | 'word' // keyword or bare identifier: letters, digits, `_` and `$`
  | 'quoted' // identifier in back quotes or double quotes
  | 'string' // '...', x'..', b'..'
  | 'heredoc' // $$...$$ or $tag$...$tag$
  | 'number'
  | 'operator'
  | 'punct' // ( ) [ ] { } , ; . and a lone $
  | 'comment'
  | 'whitespace';

export interface Token {
  kind: TokenKind;
  /** The source text of the token, quotes and delimiters included. */
  text: string;
  /** Offsets into the query (UTF-16 code units, as JavaScript indexes strings). */
  start: number;
  end: number;
  /** Decoded content of quoted identifiers, strings and heredocs. */
  value?: string;
  /**
   * A quoted identifier or string that used a backslash escape. Escape rules changed between
   * ClickHouse versions, so such a name is never trusted to equal a permitted database name.
   */
  escaped?: boolean;
}

export class LexError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'LexError';
  }
}

/**
 * How a server version splits text. Current servers nest block comments and read heredocs;
 * older ones end a comment at the first `*\/` and read `$` as part of names. The guard checks a
 * query under each reading it could get, so a trick that relies on one reading cannot pass.
 */
export interface Dialect {
  nestedComments: boolean;
  heredoc: boolean;
}

export const CURRENT_DIALECT: Dialect = { nestedComments: true, heredoc: true };
/** Servers with nested comments but before heredocs (`$` is part of names there). */
export const NO_HEREDOC_DIALECT: Dialect = { nestedComments: true, heredoc: false };
/** Servers before nested comments and heredocs. */
export const LEGACY_DIALECT: Dialect = { nestedComments: false, heredoc: false };

export interface LexResult {
  tokens: Token[];
  /** Set when the text cannot be split (unterminated string, stray character...). */
  error?: LexError;
}

/** Every token including whitespace and comments; throws LexError on text the server rejects. */
export function tokenize(sql: string, dialect: Dialect = CURRENT_DIALECT): Token[] {
  const result = lex(sql, dialect);
  if (result.error) throw result.error;
  return result.tokens;
}

/** Like tokenize, but returns the tokens before an error instead of throwing. */
export function lex(sql: string, dialect: Dialect = CURRENT_DIALECT): LexResult {
  return new Lexer(sql, dialect).run();
}

/** Tokens that carry meaning (no whitespace or comments). */
export function significant(tokens: readonly Token[]): Token[] {
  return tokens.filter((token) => token.kind !== 'whitespace' && token.kind !== 'comment');
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isHexDigit = (c: string | undefined): boolean =>
  c !== undefined && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
const isWordChar = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_');
const isAsciiSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/** The unicode spaces ClickHouse skips (skipWhitespacesUTF8), so pasted text from editors works. */
function isUnicodeSpace(code: number): boolean {
  return (
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x180e ||
    (code >= 0x2000 && code <= 0x200d) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x2060 ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

type Significance = 'dot' | 'close' | 'word' | 'quoted' | 'number' | 'other';

/** Code units of the escapes with a meaning of their own, by the code unit after the backslash. */
const SIMPLE_ESCAPES = new Map<number, number>(
  (
    [
      ['a', 0x07],
      ['b', 0x08],
      ['f', 0x0c],
      ['n', 0x0a],
      ['r', 0x0d],
      ['t', 0x09],
      ['v', 0x0b],
      ['0', 0x00],
      ['\\', 0x5c],
      ["'", 0x27],
      ['"', 0x22],
      ['`', 0x60],
      ['/', 0x2f],
    ] as const
  ).map(([escape, code]) => [escape.charCodeAt(0), code]),
);

const BACKSLASH = 0x5c;
const hexValue = (code: number): number =>
  code >= 0x30 && code <= 0x39 ? code - 0x30 : code >= 0x61 && code <= 0x66 ? code - 0x57 : code >= 0x41 && code <= 0x46 ? code - 0x37 : -1;
/** TextDecoder keeps a leading U+FEFF only with ignoreBOM; lone surrogates become U+FFFD, an unknown value. */
const UTF16 = new TextDecoder('utf-16le', { ignoreBOM: true });

/**
 * Decodes the body of a quoted string or identifier the way current servers do. Unknown escapes
 * keep their backslash (ClickHouse does this so LIKE patterns such as '100\%' survive).
 *
 * Code units go into a typed array decoded once: building the value a character (or an escape)
 * at a time made a 10 MB literal take seconds, and the guard must stay linear and fast.
 */
function unquote(body: string, quote: string): { value: string; escaped: boolean } {
  if (!body.includes('\\') && !body.includes(quote)) return { value: body, escaped: false };
  const quoteCode = quote.charCodeAt(0);
  const out = new Uint16Array(body.length);
  let length = 0;
  let escaped = false;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === quoteCode && body.charCodeAt(i + 1) === quoteCode) {
      out[length++] = quoteCode;
      i++;
    } else if (c === BACKSLASH && i + 1 < body.length) {
      escaped = true;
      const next = body.charCodeAt(i + 1);
      const high = hexValue(body.charCodeAt(i + 2));
      const low = hexValue(body.charCodeAt(i + 3));
      if ((next === 0x78 || next === 0x58) && high >= 0 && low >= 0) {
        const code = high * 16 + low;
        // A byte above 0x7f is part of a UTF-8 sequence we do not reassemble; mark it as unknown.
        out[length++] = code < 0x80 ? code : 0xfffd;
        i += 3;
      } else {
        const simple = SIMPLE_ESCAPES.get(next);
        if (simple === undefined) out[length++] = BACKSLASH;
        out[length++] = simple ?? next;
        i++;
      }
    } else {
      out[length++] = c;
    }
  }
  return { value: UTF16.decode(out.subarray(0, length)), escaped };
}

/** The run of characters up to the next quote or backslash, matched natively (sticky). */
const PLAIN_RUNS: Record<string, RegExp> = Object.fromEntries(
  ["'", '"', '`'].map((quote) => [quote, new RegExp(`[^${quote}\\\\]+`, 'y')]),
);

class Lexer {
  private pos = 0;
  private prev: Significance = 'other';
  private readonly tokens: Token[] = [];
  /** Heredoc delimiter -> ascending start offsets of every `$` that opens that delimiter. */
  private delimiters: Map<string, number[]> | undefined;
  private readonly delimiterCursor = new Map<string, number>();

  constructor(
    private readonly text: string,
    private readonly dialect: Dialect,
  ) {}

  run(): LexResult {
    const { text } = this;
    while (this.pos < text.length) {
      const start = this.pos;
      const error = this.next();
      if (error) return { tokens: this.tokens, error };
      if (this.pos <= start) throw new Error('lexer made no progress'); // a bug, never input-driven
    }
    return { tokens: this.tokens };
  }

  private push(kind: TokenKind, start: number, significance: Significance, extra: Partial<Token> = {}): undefined {
    this.tokens.push({ kind, text: this.text.slice(start, this.pos), start, end: this.pos, ...extra });
    if (kind !== 'whitespace' && kind !== 'comment') this.prev = significance;
    return undefined;
  }

  private fail(message: string, offset: number): LexError {
    return new LexError(message, offset);
  }

  private next(): LexError | undefined {
    const { text } = this;
    const start = this.pos;
    const c = text[start]!;

    if (isAsciiSpace(c)) {
      while (this.pos < text.length && isAsciiSpace(text[this.pos])) this.pos++;
      return this.push('whitespace', start, 'other');
    }
    if (isDigit(c)) return this.number(start);

    switch (c) {
      case "'":
        return this.quoted(start, "'", 'string', 'other', 'unterminated string literal');
      case '"':
        return this.quoted(start, '"', 'quoted', 'quoted', 'unterminated double-quoted identifier');
      case '`':
        return this.quoted(start, '`', 'quoted', 'quoted', 'unterminated back-quoted identifier');
      case '(':
      case '[':
      case '{':
      case ',':
      case ';':
        this.pos++;
        return this.push('punct', start, 'other');
      case ')':
      case ']':
        this.pos++;
        return this.push('punct', start, 'close');
      case '}':
        this.pos++;
        return this.push('punct', start, 'other');
      case '.':
        return this.dot(start);
      case '+':
      case '*':
      case '%':
      case '?':
        this.pos++;
        return this.push('operator', start, 'other');
      case '-':
        this.pos++;
        if (text[this.pos] === '>') {
          this.pos++;
          return this.push('operator', start, 'other');
        }
        if (text[this.pos] === '-') return this.lineComment(start);
        return this.push('operator', start, 'other');
      case '/':
        this.pos++;
        if (text[this.pos] === '/') return this.lineComment(start);
        if (text[this.pos] === '*') return this.blockComment(start);
        return this.push('operator', start, 'other');
      case '#':
        // ClickHouse reads `#` as a comment only before a space or `!` (a shebang line).
        if (text[start + 1] === ' ' || text[start + 1] === '!') return this.lineComment(start);
        return this.fail("unexpected character '#' (a # comment needs a space after it)", start);
      case '=':
        this.pos++;
        if (text[this.pos] === '=') this.pos++;
        return this.push('operator', start, 'other');
      case '!':
        if (text[start + 1] === '=') {
          this.pos += 2;
          return this.push('operator', start, 'other');
        }
        return this.fail("unexpected character '!' (only != is an operator)", start);
      case '<':
        this.pos++;
        // <=> (is not distinct from) is one operator to the server, like <= and <>.
        if (text[this.pos] === '=' && text[this.pos + 1] === '>') this.pos += 2;
        else if (text[this.pos] === '=' || text[this.pos] === '>') this.pos++;
        return this.push('operator', start, 'other');
      case '>':
        this.pos++;
        if (text[this.pos] === '=') this.pos++;
        return this.push('operator', start, 'other');
      case ':':
        this.pos++;
        if (text[this.pos] === ':') this.pos++;
        return this.push('operator', start, 'other');
      case '|':
        this.pos++;
        if (text[this.pos] === '|') this.pos++;
        return this.push('operator', start, 'other');
      case '@':
        this.pos++;
        if (text[this.pos] === '@') this.pos++;
        return this.push('operator', start, 'other');
      case '\\':
        if (text[start + 1] === 'G') {
          this.pos += 2;
          return this.push('operator', start, 'other');
        }
        return this.fail("unexpected character '\\'", start);
      default:
        return this.other(start);
    }
  }

  private other(start: number): LexError | undefined {
    const { text } = this;
    const c = text[start]!;
    if (c === '$') {
      if (this.dialect.heredoc) {
        const end = this.heredocEnd(start);
        if (end !== undefined) {
          this.pos = end;
          const delimiterLength = text.indexOf('$', start + 1) + 1 - start;
          return this.push('heredoc', start, 'other', {
            value: text.slice(start + delimiterLength, end - delimiterLength),
          });
        }
      }
      if (!isWordChar(text[start + 1])) {
        this.pos++;
        return this.push('punct', start, 'other');
      }
    }
    if ((c === 'x' || c === 'X' || c === 'b' || c === 'B') && text[start + 1] === "'" && start + 2 < text.length) {
      return this.binaryString(start, c === 'x' || c === 'X');
    }
    if (isWordChar(c) || c === '$') {
      this.pos++;
      while (this.pos < text.length && (isWordChar(text[this.pos]) || text[this.pos] === '$')) this.pos++;
      return this.push('word', start, 'word');
    }
    const code = text.codePointAt(start)!;
    if (isUnicodeSpace(code)) {
      while (this.pos < text.length && (isAsciiSpace(text[this.pos]) || isUnicodeSpace(text.charCodeAt(this.pos)))) {
        this.pos++;
      }
      return this.push('whitespace', start, 'other');
    }
    const shown = String.fromCodePoint(code);
    const hint = code > 0x7f ? ' (characters outside ASCII are allowed only inside quotes)' : '';
    return this.fail(`unexpected character '${shown}' (U+${code.toString(16).toUpperCase().padStart(4, '0')})${hint}`, start);
  }

  /**
   * Where the heredoc opened at `start` ends, or undefined if it is not one. The server takes the
   * text up to the next `$` as the delimiter and looks for its next occurrence; a naive search per
   * `$` is quadratic, so every `$` is indexed once by the delimiter it would open.
   */
  private heredocEnd(start: number): number | undefined {
    const { text } = this;
    const close = text.indexOf('$', start + 1);
    if (close < 0) return undefined;
    const delimiter = text.slice(start, close + 1);
    const positions = this.delimiterIndex().get(delimiter);
    if (!positions) return undefined;
    // Cursors only move forward because lexing does, which keeps the whole search linear.
    let cursor = this.delimiterCursor.get(delimiter) ?? 0;
    while (cursor < positions.length && positions[cursor]! < close + 1) cursor++;
    this.delimiterCursor.set(delimiter, cursor);
    const found = positions[cursor];
    return found === undefined ? undefined : found + delimiter.length;
  }

  private delimiterIndex(): Map<string, number[]> {
    if (this.delimiters) return this.delimiters;
    const index = new Map<string, number[]>();
    const { text } = this;
    let at = text.indexOf('$');
    while (at >= 0) {
      const next = text.indexOf('$', at + 1);
      if (next < 0) break;
      const delimiter = text.slice(at, next + 1);
      const list = index.get(delimiter);
      if (list) list.push(at);
      else index.set(delimiter, [at]);
      at = next;
    }
    this.delimiters = index;
    return index;
  }

  private quoted(
    start: number,
    quote: string,
    kind: TokenKind,
    significance: Significance,
    unterminated: string,
  ): LexError | undefined {
    const { text } = this;
    let pos = start + 1;
    const plain = PLAIN_RUNS[quote]!;
    for (;;) {
      plain.lastIndex = pos;
      if (plain.test(text)) pos = plain.lastIndex;
      if (pos >= text.length) return this.fail(unterminated, start);
      const c = text[pos];
      if (c === quote) {
        if (text[pos + 1] === quote) {
          pos += 2;
          continue;
        }
        pos++;
        break;
      }
      if (c === '\\') {
        if (pos + 1 >= text.length) return this.fail(unterminated, start);
        pos += 2;
        continue;
      }
      pos++;
    }
    this.pos = pos;
    const { value, escaped } = unquote(text.slice(start + 1, pos - 1), quote);
    return this.push(kind, start, significance, escaped ? { value, escaped } : { value });
  }

  private binaryString(start: number, hex: boolean): LexError | undefined {
    const { text } = this;
    let pos = start + 2;
    while (pos < text.length && (hex ? isHexDigit(text[pos]) : text[pos] === '0' || text[pos] === '1')) pos++;
    if (text[pos] !== "'") return this.fail('unterminated string literal', start);
    this.pos = pos + 1;
    return this.push('string', start, 'other', { value: text.slice(start + 2, pos) });
  }

  private lineComment(start: number): undefined {
    const newline = this.text.indexOf('\n', this.pos);
    this.pos = newline < 0 ? this.text.length : newline;
    return this.push('comment', start, 'other');
  }

  private blockComment(start: number): LexError | undefined {
    const { text } = this;
    let pos = start + 2;
    let depth = 1;
    while (pos + 2 <= text.length) {
      if (this.dialect.nestedComments && text[pos] === '/' && text[pos + 1] === '*') {
        pos += 2;
        depth++;
      } else if (text[pos] === '*' && text[pos + 1] === '/') {
        pos += 2;
        depth--;
        if (depth === 0) {
          this.pos = pos;
          return this.push('comment', start, 'other');
        }
      } else {
        pos++;
      }
    }
    return this.fail('unterminated block comment', start);
  }

  private dot(start: number): LexError | undefined {
    const { text } = this;
    // After a name, a closing bracket or a number a dot is always a qualifier or tuple access,
    // so `x.1.1` is x . 1 . 1 and `system .5tables`-style tricks split the way the server does.
    if (
      start > 0 &&
      (!isDigit(text[start + 1]) ||
        this.prev === 'close' ||
        this.prev === 'word' ||
        this.prev === 'quoted' ||
        this.prev === 'number')
    ) {
      this.pos++;
      return this.push('punct', start, 'dot');
    }
    this.pos = start + 1;
    this.digits(true, false);
    this.exponent(false);
    return this.push('number', start, 'number');
  }

  private separator(startOfBlock: boolean, hex: boolean, pos: number): boolean {
    const { text } = this;
    if (text[pos] !== '_' || startOfBlock) return false;
    return pos + 1 < text.length && (hex ? isHexDigit(text[pos + 1]) : isDigit(text[pos + 1]));
  }

  private digits(startOfBlock: boolean, hex: boolean): void {
    const { text } = this;
    let block = startOfBlock;
    while (this.pos < text.length && ((hex ? isHexDigit(text[this.pos]) : isDigit(text[this.pos])) || this.separator(block, hex, this.pos))) {
      this.pos++;
      block = false;
    }
  }

  private exponent(hex: boolean): void {
    const { text } = this;
    const c = text[this.pos];
    if (this.pos + 1 < text.length && (hex ? c === 'p' || c === 'P' : c === 'e' || c === 'E')) {
      this.pos++;
      if (this.pos + 1 < text.length && (text[this.pos] === '-' || text[this.pos] === '+')) this.pos++;
      this.digits(true, false);
    }
  }

  private number(start: number): LexError | undefined {
    const { text } = this;
    if (this.prev === 'dot') {
      // Tuple element access (x.1.2): only a plain integer may follow a dot.
      this.pos = start + 1;
      while (this.pos < text.length && (isDigit(text[this.pos]) || this.separator(false, false, this.pos))) this.pos++;
    } else {
      let hex = false;
      let startOfBlock = false;
      const prefix = text[start + 1];
      if (start + 2 < text.length && text[start] === '0' && prefix !== undefined && 'xXbB'.includes(prefix)) {
        const isHexPrefix = prefix === 'x' || prefix === 'X';
        const valid = isHexPrefix ? isHexDigit(text[start + 2]) : text[start + 2] === '0' || text[start + 2] === '1';
        if (valid) {
          hex = isHexPrefix;
          startOfBlock = true;
          this.pos = start + 2;
        } else {
          this.pos = start + 1;
        }
      } else {
        this.pos = start + 1;
      }
      this.digits(startOfBlock, hex);
      if (text[this.pos] === '.') {
        this.pos++;
        this.digits(true, hex);
      }
      this.exponent(hex);
    }
    if (isWordChar(text[this.pos])) {
      // `1abc` is a name to ClickHouse; `1.5abc` is an error.
      while (this.pos < text.length && isWordChar(text[this.pos])) this.pos++;
      const body = text.slice(start, this.pos);
      if (!/^[A-Za-z0-9_$]+$/.test(body)) return this.fail(`malformed number '${body}'`, start);
      return this.push('word', start, 'word');
    }
    return this.push('number', start, 'number');
  }
}
