#!/usr/bin/env node
// A fake `tailscale` CLI that replays recorded outputs, for tests that need a real subprocess on PATH.
//
// FAKE_TAILSCALE_SCENARIO=/path/scenario.json selects what it prints:
//   {
//     "commands": [
//       { "match": "^status --json$",            // regular expression tested against argv joined by single spaces
//         "stdoutFile": "status-direct.json",     // or "stdout": "..." ; files are relative to the scenario file
//         "stderr": "", "stderrFile": "...",
//         "exitCode": 0,
//         "earlyStdout": "...",                  // printed at once, before delayMs (a command cut short still shows it)
//         "delayMs": 0 },
//       { "argv": ["ping", "-c", "1", "ch"], ... } // or an exact argv
//     ],
//     "fallback": { "stderr": "...", "exitCode": 2 } // when nothing matches (default: exit 97 naming the argv)
//   }
// The first matching entry wins. FAKE_TAILSCALE_LOG=/path appends one JSON line per call:
//   {"argv": [...], "startedAt": <ms>, "endedAt": <ms>}
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
const startedAt = Date.now();
const scenarioFile = process.env.FAKE_TAILSCALE_SCENARIO;
if (!scenarioFile) {
  process.stderr.write('fake-tailscale: FAKE_TAILSCALE_SCENARIO is not set\n');
  process.exit(98);
}
const scenario = JSON.parse(readFileSync(scenarioFile, 'utf8'));
const base = path.dirname(path.resolve(scenarioFile));
const joined = argv.join(' ');
const entry =
  (scenario.commands ?? []).find((candidate) =>
    Array.isArray(candidate.argv)
      ? candidate.argv.length === argv.length && candidate.argv.every((arg, index) => arg === argv[index])
      : new RegExp(candidate.match ?? '^$').test(joined),
  ) ??
  scenario.fallback ?? { stderr: `fake-tailscale: no scenario entry matches: ${joined}\n`, exitCode: 97 };

const read = (text, file) => (file !== undefined ? readFileSync(path.resolve(base, file), 'utf8') : (text ?? ''));
const write = (stream, text) => new Promise((resolve) => (text === '' ? resolve() : stream.write(text, resolve)));

await write(process.stdout, entry.earlyStdout ?? '');
if (entry.delayMs) await new Promise((resolve) => setTimeout(resolve, entry.delayMs));
await write(process.stdout, read(entry.stdout, entry.stdoutFile));
await write(process.stderr, read(entry.stderr, entry.stderrFile));
if (process.env.FAKE_TAILSCALE_LOG) {
  appendFileSync(process.env.FAKE_TAILSCALE_LOG, `${JSON.stringify({ argv, startedAt, endedAt: Date.now() })}\n`);
}
process.exitCode = entry.exitCode ?? 0;
