import { defineCommand, tsv } from '../../src/command.js';
import { EXIT_CODES } from '../../src/errors.js';

export default defineCommand({
  examples: ['byoc help exit-codes', 'byoc help exit-codes --json'],
  async run() {
    return { exitCodes: EXIT_CODES.map(({ code, name, meaning }) => ({ code, name, meaning })) };
  },
  text: (result) => tsv(result.exitCodes.map((entry) => [entry.code, entry.name, entry.meaning])),
  async view(result, render) {
    const { ExitCodesView } = await import('../../src/ui/views/exit-codes.js');
    return ExitCodesView({ rows: result.exitCodes, color: render.color, columns: render.columns });
  },
});
