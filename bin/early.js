'use strict';
// The answers byoc gives before loading any of itself: the version, and help from the texts the build rendered
// through commander (scripts/precompute.js writes dist/help.json; test/unit/precomputed.test.ts proves each text
// is what main prints for each command line this module answers). CommonJS with no dependency, like bin/byoc.js.
const { readFileSync } = require('node:fs');
const path = require('node:path');

const HELP_FLAGS = ['--help', '-h'];

/**
 * Prints the version or a precomputed help text when argv asks for one and returns true; false: src/cli.ts runs.
 * @param {readonly string[]} argv
 * @param {NodeJS.WriteStream} stdout
 */
function answerEarly(argv, stdout) {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
    quietOnClosedPipe(stdout);
    stdout.write(`${version}\n`);
    return true;
  }
  if (!mayBeHelp(argv)) return false;
  const help = readHelpTexts();
  const found = help && precomputedHelpPath(argv, stdout, help);
  if (found === undefined) return false;
  quietOnClosedPipe(stdout);
  stdout.write(help.texts[found]);
  return true;
}

/** `byoc --help | true`: a reader that left before the text was written is no error (main does the same). */
function quietOnClosedPipe(stdout) {
  stdout.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

/** Only these shapes can be help; a command line of any other shape reads no file. */
function mayBeHelp(argv) {
  return argv.length <= 1 || argv[0] === 'help' || HELP_FLAGS.includes(argv.at(-1));
}

/** dist/help.json; absent (not built yet): main renders help. */
function readHelpTexts() {
  try {
    return JSON.parse(readFileSync(path.join(__dirname, '..', 'dist', 'help.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The command path whose help answers argv, when argv is one of the plain forms main turns into help and the output
 * looks as it did when the texts were rendered; undefined: main decides (an error, a topic, a command).
 *
 * Width: commander wraps help at the terminal's width on a TTY, and at 80 columns elsewhere. The texts are rendered
 * at help.width (80), so they answer a pipe, a file and a terminal that wide; any other width goes to commander.
 * Colour does not matter: byoc's help carries no escape sequences (the test checks), so there is nothing to strip.
 * @param {readonly string[]} argv
 * @param {{ isTTY?: boolean, columns?: number }} stdout
 * @param {{ width: number, texts: Record<string, string> }} help
 * @returns {string | undefined}
 */
function precomputedHelpPath(argv, stdout, help) {
  const width = stdout.isTTY ? stdout.columns : undefined;
  if ((width ?? 80) !== help.width) return undefined;
  const { texts } = help;
  const known = (words) => words.every((word) => /^[a-z0-9][a-z0-9-]*$/.test(word)) && Object.hasOwn(texts, words.join(' '));
  if (argv.length === 0) return '';
  if (HELP_FLAGS.includes(argv.at(-1))) {
    const words = argv.slice(0, -1);
    return known(words) ? words.join(' ') : undefined;
  }
  if (argv[0] === 'help') {
    // `byoc help exit-codes` runs a topic; `byoc help access request` is `byoc access request --help`.
    const topic = argv.slice(1);
    if (topic.length > 0 && known(['help', topic[0]])) return undefined;
    return known(topic) ? topic.join(' ') : undefined;
  }
  // A group named alone prints its help (`byoc access`); a command named alone runs.
  const key = argv.join(' ');
  return known(argv) && Object.keys(texts).some((other) => other.startsWith(`${key} `)) ? key : undefined;
}

module.exports = { answerEarly, precomputedHelpPath };
