import type { ClusterReader } from './cluster-reader.js';
import { ForbiddenError } from './errors.js';
import { RecipeContext, type DiagnosticArea, type Finding, type Recipe } from './recipes/common.js';
import { HEALTH_RECIPES } from './recipes/health.js';
import { NODE_RECIPES } from './recipes/nodes.js';
import { VOLUME_RECIPES } from './recipes/volumes.js';

export type { DiagnosticArea } from './recipes/common.js';
export { parseReadyz,  } from './recipes/health.js';

export const DIAGNOSTIC_AREAS: readonly DiagnosticArea[] = ['volumes', 'nodes', 'health'];

export type CheckStatus = 'PASS' | 'WARN' | 'FAIL' | 'SKIPPED';

export interface Check {
  /** Stable recipe id, e.g. `volumes.volumeattachments`. Several rows may share one. */
  id: string;
  area: DiagnosticArea;
  status: CheckStatus;
  /** `node/ip-10-0-1-23.ec2.internal`, `pod/kube-system/aws-node-x7k2p`, …; absent on PASS and SKIPPED rows. */
  object?: string;
  /** One line: what was seen (reason, count, last seen, message) or, on PASS, what was checked. */
  evidence: string;
  /** What to do next; empty on PASS rows. */
  hint: string;
  /** The kubectl command that shows the same thing. */
  kubectl: string;
}

export interface DiagnoseOptions {
  areas: readonly DiagnosticArea[];
  /** Event window in milliseconds (`--since`). */
  since: number;
  now: Date;
  /** Rows per recipe before the rest is summarised in one row; default 20. */
  maxFindingsPerCheck?: number;
}

const RECIPES: Recipe[] = [...VOLUME_RECIPES, ...NODE_RECIPES, ...HEALTH_RECIPES];

/** The recipe ids per area, in output order (for help text and tests). */
export function recipeIds(area?: DiagnosticArea): string[] {
  return RECIPES.filter((recipe) => area === undefined || recipe.area === area).map((recipe) => recipe.id);
}

/**
 * Runs every recipe of the chosen areas. Each recipe yields its findings, or one PASS row saying what it
 * checked; a 403 on the data a recipe needs makes it one SKIPPED row and the run goes on. Any other
 * error (network, 5xx) propagates: the caller reports it once instead of every row repeating it.
 */
export async function runDiagnostics(reader: ClusterReader, options: DiagnoseOptions): Promise<Check[]> {
  const context = new RecipeContext(reader, options.now, options.since);
  const max = options.maxFindingsPerCheck ?? 20;
  const recipes = RECIPES.filter((recipe) => options.areas.includes(recipe.area));
  const results = await Promise.all(
    recipes.map(async (recipe): Promise<Check[]> => {
      try {
        const { findings, checked } = await recipe.run(context);
        if (findings.length === 0) {
          return [{ id: recipe.id, area: recipe.area, status: 'PASS', evidence: checked, hint: '', kubectl: recipe.kubectl }];
        }
        return capped(sortFindings(findings), max, recipe.kubectl).map((finding) => ({ id: recipe.id, area: recipe.area, ...finding }));
      } catch (error) {
        if (!(error instanceof ForbiddenError)) throw error;
        return [
          {
            id: recipe.id,
            area: recipe.area,
            status: 'SKIPPED',
            evidence: `${error.message} (HTTP 403), so this check did not run`,
            hint: error.hint ?? '',
            kubectl: error.kubectl,
          },
        ];
      }
    }),
  );
  return results.flat();
}

/** FAIL rows first; otherwise the recipe's own order (e.g. most frequent events first) is kept. */
function sortFindings(findings: Finding[]): Finding[] {
  const rank = (finding: Finding) => (finding.status === 'FAIL' ? 0 : 1);
  return [...findings].sort((a, b) => rank(a) - rank(b));
}

function capped(findings: Finding[], max: number, kubectl: string): Finding[] {
  if (findings.length <= max) return findings;
  const rest = findings.slice(max);
  const failing = rest.filter((finding) => finding.status === 'FAIL').length;
  return [
    ...findings.slice(0, max),
    {
      status: failing > 0 ? 'FAIL' : 'WARN',
      object: `${rest.length} more`,
      evidence: `${rest.length} more rows like the above (${failing} FAIL, ${rest.length - failing} WARN) not shown`,
      hint: 'Fix the rows above first, or run the kubectl command for the full list.',
      kubectl,
    },
  ];
}

/** The worst status of a run: FAIL > WARN > SKIPPED > PASS. */
export function worstStatus(checks: readonly Check[]): CheckStatus {
  const order: CheckStatus[] = ['FAIL', 'WARN', 'SKIPPED', 'PASS'];
  return order.find((status) => checks.some((check) => check.status === status)) ?? 'PASS';
}
