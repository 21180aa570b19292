import { describe, expect, it } from 'vitest';
import {
  LEGACY_DIALECT,
  LexError,
  lex,
  NO_HEREDOC_DIALECT,
  significant,
  tokenize,
  type Token,
  type TokenKind,
} from '../../../src/clickhouse/lexer.js';

const kinds = (sql: string): Array<[TokenKind, string]> => significant(tokenize(sql)).map((token) => [token.kind, token.text]);
const only = (sql: string): Token => {
  const tokens = significant(tokenize(sql));
  expect(tokens).toHaveLength(1);
  return tokens[0]!;
};
const lexError = (sql: string): LexError => {
  const { error } = lex(sql);
  expect(error).toBeInstanceOf(LexError);
  return error!;
};

describe('lexer: tokens and offsets', () => {
  it('splits a query into kinds with offsets', () => {
    // Given a simple query / When it is tokenized
    const tokens = tokenize('SELECT a FROM system.parts');
    // Then every token carries its kind, text and offsets, whitespace included
    expect(tokens.map((token) => [token.kind, token.text, token.start, token.end])).toEqual([
      ['word', 'SELECT', 0, 6],
      ['whitespace', ' ', 6, 7],
      ['word', 'a', 7, 8],
      ['whitespace', ' ', 8, 9],
      ['word', 'FROM', 9, 13],
      ['whitespace', ' ', 13, 14],
      ['word', 'system', 14, 20],
      ['punct', '.', 20, 21],
      ['word', 'parts', 21, 26],
    ]);
  });

  it('covers the whole input with no gaps, so nothing escapes the guard', () => {
    // Given a query using every kind of token
    const sql =
      "WITH $t$x$t$ AS h SELECT `a``b`, \"c\\\"d\", 'e''f\\'g', x'4F', 0x1F, 1.5e-3, a::UInt8, b->c, 'x'||'y' -- c\n" +
      '# d\n/* e /* f */ g */ FROM system.one WHERE a != 1 AND b <> 2 AND c <= 3 AND d >= 4 AND e == 5;';
    // When it is tokenized
    const tokens = tokenize(sql);
    // Then the tokens are contiguous and join back into the input
    expect(tokens.map((token) => token.text).join('')).toBe(sql);
    tokens.forEach((token, index) => {
      expect(token.start).toBe(index === 0 ? 0 : tokens[index - 1]!.end);
      expect(sql.slice(token.start, token.end)).toBe(token.text);
    });
  });

  it('reads operators whole', () => {
    // Given every multi-character operator / When tokenized / Then each is one token
    expect(kinds('a::b -> c || d != e <> f <= g >= h == i = j < k > l')).toEqual([
      ['word', 'a'],
      ['operator', '::'],
      ['word', 'b'],
      ['operator', '->'],
      ['word', 'c'],
      ['operator', '||'],
      ['word', 'd'],
      ['operator', '!='],
      ['word', 'e'],
      ['operator', '<>'],
      ['word', 'f'],
      ['operator', '<='],
      ['word', 'g'],
      ['operator', '>='],
      ['word', 'h'],
      ['operator', '=='],
      ['word', 'i'],
      ['operator', '='],
      ['word', 'j'],
      ['operator', '<'],
      ['word', 'k'],
      ['operator', '>'],
      ['word', 'l'],
    ]);
  });

  it('refuses characters ClickHouse does not accept outside quotes', () => {
    // Given a lone `!`, a caret, a NUL and a Cyrillic letter / When lexed / Then each is an error at its offset
    expect(lexError('SELECT !a').offset).toBe(7);
    expect(lexError('SELECT 2 ^ 3').offset).toBe(9);
    expect(lexError('SELECT 1\u0000').offset).toBe(8);
    const cyrillic = lexError('SELECT \u0455ystem');
    expect(cyrillic.offset).toBe(7);
    expect(cyrillic.message).toContain('outside ASCII');
  });

  it('treats the unicode spaces ClickHouse skips as whitespace', () => {
    // Given names separated by a no-break space, an ideographic space, a zero-width space and a BOM
    const tokens = tokenize('\ufeffa\u00a0b\u3000c\u200bd');
    // When only meaningful tokens are kept / Then the four names remain
    expect(significant(tokens).map((token) => token.text)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('lexer: strings and quoted identifiers', () => {
  it('decodes backslash escapes and doubled quotes in strings', () => {
    // Given strings using both escape styles / When lexed / Then the value is decoded
    expect(only("'it''s'").value).toBe("it's");
    expect(only("'a\\'b'").value).toBe("a'b");
    expect(only("'tab\\there'").value).toBe('tab\there');
    expect(only("'\\x41'").value).toBe('A');
    // And unknown escapes keep their backslash, as ClickHouse does for LIKE patterns
    expect(only("'100\\%'").value).toBe('100\\%');
  });

  it('ends a string at the right quote even after escaped backslashes', () => {
    // Given an escaped backslash right before the closing quote
    const tokens = significant(tokenize("'a\\\\' FROM t"));
    // When lexed / Then the string ends there and FROM is code
    expect(tokens.map((token) => token.kind)).toEqual(['string', 'word', 'word']);
    expect(tokens[0]!.value).toBe('a\\');
  });

  it('reads back-quoted and double-quoted identifiers with their escapes', () => {
    // Given quoted identifiers / When lexed / Then they are identifiers with decoded names
    expect(only('`a``b`')).toMatchObject({ kind: 'quoted', value: 'a`b' });
    expect(only('"a""b"')).toMatchObject({ kind: 'quoted', value: 'a"b' });
    expect(only('`a\\`b`')).toMatchObject({ kind: 'quoted', value: 'a`b', escaped: true });
    expect(only('`system.tables`')).toMatchObject({ kind: 'quoted', value: 'system.tables' });
    expect(only('`system`').escaped).toBeUndefined();
  });

  it('reads hex and binary string literals', () => {
    // Given x'..' and b'..' literals / When lexed / Then they are strings
    expect(only("x'4F4B'")).toMatchObject({ kind: 'string', value: '4F4B' });
    expect(only("b'0101'")).toMatchObject({ kind: 'string', value: '0101' });
  });

  it.each([
    ["'abc", 'unterminated string literal'],
    ["'abc\\'", 'unterminated string literal'],
    ["'abc\\", 'unterminated string literal'],
    ['`abc', 'unterminated back-quoted identifier'],
    ['"abc', 'unterminated double-quoted identifier'],
    ["x'4F", 'unterminated string literal'],
  ])('refuses the unterminated %s', (sql, message) => {
    // Given an unterminated literal / When lexed / Then the error names it, at its start
    const error = lexError(`SELECT ${sql}`);
    expect(error.message).toBe(message);
    expect(error.offset).toBe(7);
  });
});

describe('lexer: heredocs', () => {
  it('reads $$...$$ and $tag$...$tag$ as one token with their content', () => {
    // Given heredocs holding quotes, comment markers and other delimiters
    const plain = only("$$it's -- not a comment$$");
    const tagged = only('$sql$ SELECT $$ FROM t $sql$');
    // When lexed / Then each is one heredoc with its content
    expect(plain).toMatchObject({ kind: 'heredoc', value: "it's -- not a comment" });
    expect(tagged).toMatchObject({ kind: 'heredoc', value: ' SELECT $$ FROM t ' });
  });

  it('reads $ that opens no heredoc as part of a name, or alone', () => {
    // Given dollars with no matching closing delimiter / When lexed / Then they are names or punctuation
    expect(kinds('$a $b')).toEqual([
      ['word', '$a'],
      ['word', '$b'],
    ]);
    expect(kinds('$ 1')).toEqual([
      ['punct', '$'],
      ['number', '1'],
    ]);
  });

  it('reads heredocs the way older servers do in the older dialects', () => {
    // Given a heredoc / When lexed as servers without heredocs read it / Then `$` is punctuation or part of names
    const tokens = significant(lex('$$ FROM t $$', NO_HEREDOC_DIALECT).tokens);
    expect(tokens.map((token) => token.text)).toEqual(['$', '$', 'FROM', 't', '$', '$']);
  });

  it('stays linear with many dollar signs', () => {
    // Given a long text with thousands of `$` that open no heredoc (quadratic search would take minutes)
    const sql = `SELECT ${Array.from({ length: 40_000 }, (_, index) => `$a${index}$`).join(' + ')}`;
    // When lexed
    const started = performance.now();
    const { tokens, error } = lex(sql);
    // Then it finishes quickly and finds names, not heredocs
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(error).toBeUndefined();
    expect(tokens.some((token) => token.kind === 'heredoc')).toBe(false);
  });

  it.each([
    ['a plain 10 MB string literal', `SELECT '${'a'.repeat(10_000_000)}' AS s`, 10_000_000],
    ['a 10 MB string literal dense with escapes', `SELECT '${'ab\\n\\x41'.repeat(1_250_000)}' AS s`, 5_000_000],
    ['a 10 MB back-quoted name', `SELECT 1 AS \`${'b'.repeat(10_000_000)}\``, 10_000_000],
  ])('lexes %s in linear time', (_what, sql, decodedLength) => {
    // Given a query around a literal of about 10 MB (5 MB took a second when values were built a character at a time)
    const started = performance.now();
    // When lexed
    const tokens = significant(tokenize(sql));
    const elapsed = performance.now() - started;
    // Then it takes well under a second (about 10 ms plain, 120 ms with escapes on a laptop; CI gets slack)
    expect(elapsed).toBeLessThan(1_000);
    const literal = tokens.find((token) => token.kind === 'string' || token.kind === 'quoted')!;
    expect(literal.value).toHaveLength(decodedLength);
  });

  it('decodes escapes exactly, whatever their neighbours', () => {
    // Given escapes at the edges, a doubled quote, a byte escape above ASCII and a leading byte-order mark
    // When lexed / Then each decodes as the server reads it
    expect(only("'\\n'").value).toBe('\n');
    expect(only("'a''''b\\x4'").value).toBe("a''b\\x4");
    expect(only("'\\xC3\\xA9'").value).toBe('\uFFFD\uFFFD');
    expect(only("'\uFEFF\\t'").value).toBe('\uFEFF\t');
    expect(only("'\\q'")).toMatchObject({ value: '\\q', escaped: true });
    expect(only("'plain'")).toEqual(expect.not.objectContaining({ escaped: true }));
  });
});

describe('lexer: comments', () => {
  it('reads --, //, # and #! line comments to the end of the line', () => {
    // Given each line comment style / When lexed / Then the next line is code again
    for (const comment of ['-- x FROM t', '// x FROM t', '# x FROM t', '#!/usr/bin/clickhouse']) {
      const tokens = significant(tokenize(`SELECT 1 ${comment}\nFROM u`)).map((token) => token.text);
      expect(tokens).toEqual(['SELECT', '1', 'FROM', 'u']);
    }
  });

  it('does not read # as a comment unless a space or ! follows, like ClickHouse', () => {
    // Given `#x` / When lexed / Then it is an error, not a comment hiding the rest
    expect(lexError('SELECT 1 #x').message).toContain('#');
  });

  it('nests block comments', () => {
    // Given a block comment holding another one / When lexed / Then it ends at the outer */
    const tokens = tokenize('SELECT 1 /* a /* b */ c */ FROM t');
    expect(tokens.filter((token) => token.kind === 'comment').map((token) => token.text)).toEqual(['/* a /* b */ c */']);
    expect(significant(tokens).map((token) => token.text)).toEqual(['SELECT', '1', 'FROM', 't']);
  });

  it('ends a block comment at the first */ in the legacy dialect', () => {
    // Given the same nested comment / When lexed as pre-nesting servers read it / Then the rest becomes code
    const tokens = significant(lex('SELECT 1 /* a /* b */ c */ FROM t', LEGACY_DIALECT).tokens).map((token) => token.text);
    expect(tokens).toEqual(['SELECT', '1', 'c', '*', '/', 'FROM', 't']);
  });

  it('refuses unterminated block comments, nested ones included', () => {
    // Given comments that never close / When lexed / Then an error points at the comment
    expect(lexError('SELECT 1 /* x').message).toBe('unterminated block comment');
    expect(lexError('SELECT 1 /* /* */ x').offset).toBe(9);
  });
});

describe('lexer: numbers', () => {
  it.each(['1', '1.5', '1e10', '1.5e-3', '0x1F', '0X1f', '0b101', '1_000_000', '0x1p-2', '.5', '1.'])(
    'reads %s as one number',
    (text) => {
      // Given a number literal / When lexed / Then it is a single number token
      expect(only(text)).toMatchObject({ kind: 'number', text });
    },
  );

  it('reads a number glued to letters as a name, as ClickHouse does', () => {
    // Given 1abc and 0xg / When lexed / Then each is a word
    expect(only('1abc').kind).toBe('word');
    expect(only('0xg').kind).toBe('word');
  });

  it('refuses a decimal glued to letters', () => {
    // Given 1.5abc / When lexed / Then it is a malformed number
    expect(lexError('SELECT 1.5abc').message).toContain('malformed number');
  });

  it('reads x.1.2 as tuple access, not as a float', () => {
    // Given chained tuple access / When lexed / Then dots and integers alternate
    expect(kinds('x.1.2')).toEqual([
      ['word', 'x'],
      ['punct', '.'],
      ['number', '1'],
      ['punct', '.'],
      ['number', '2'],
    ]);
  });

  it('reads a dot after a name as a qualifier even with spaces and comments around it', () => {
    // Given `system . /* c */ tables` / When lexed / Then it is name, dot, name
    expect(kinds('system . /* c */ tables')).toEqual([
      ['word', 'system'],
      ['punct', '.'],
      ['word', 'tables'],
    ]);
  });
});
