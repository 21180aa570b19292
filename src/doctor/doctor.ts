import type { Context } from '../context.js';
import { ByocError, errorClassOf, RemoteError, toErrorDocument, type ExitKind } from '../errors.js';

export type StepStatus = 'PASS' | 'WARN' | 'FAIL' | 'SKIPPED';

interface StepResult {
  id: string;
  title: string;
  status: StepStatus;
  evidence: string;
  /** what to do next, when there is something to do */
  next?: string;
  /** for FAIL: which exit code it stands for */
  kind?: ExitKind;
}

export interface DoctorReport {
  service: string | null;
  verdict: 'PASS' | 'WARN' | 'FAIL';
  steps: StepResult[];
}

type Outcome = Omit<StepResult, 'id' | 'title'>;

/** Work shared between steps of one run (a check runs once, several steps read it). */
export type Shared = Map<string, Promise<unknown>>;

export interface DoctorStep {
  id: string;
  title: string;
  /** only with a service argument */
  perService: boolean;
  /** steps that must not have failed for this one to run */
  needs: string[];
  run(ctx: Context, service: string | undefined, shared: Shared): Promise<Outcome>;
}

export const pass = (evidence: string): Outcome => ({ status: 'PASS', evidence });
export const warn = (evidence: string, next?: string): Outcome => ({ status: 'WARN', evidence, ...(next ? { next } : {}) });
export const fail = (kind: ExitKind, evidence: string, next?: string): Outcome => ({ status: 'FAIL', kind, evidence, ...(next ? { next } : {}) });

/** A thrown error as a failed step: typed errors keep their kind and hint. */
export function failFrom(error: unknown): Outcome {
  const { message, hint } = toErrorDocument(error).error;
  return fail(error instanceof ByocError ? error.kind : 'bug', message, hint);
}

export function once<T>(shared: Shared, key: string, compute: () => Promise<T>): Promise<T> {
  let value = shared.get(key) as Promise<T> | undefined;
  if (!value) {
    value = compute();
    shared.set(key, value);
  }
  return value;
}

/**
 * Runs the chain in order. A step whose prerequisites failed (or were skipped) is SKIPPED with the
 * reason; nothing stops the chain, so one run shows everything that can be known.
 */
export async function runDoctor(ctx: Context, steps: readonly DoctorStep[], service: string | undefined): Promise<DoctorReport> {
  const results: StepResult[] = [];
  const shared: Shared = new Map();
  for (const step of steps) {
    if (step.perService && !service) continue;
    const blocked = step.needs.map((id) => results.find((result) => result.id === id)).find((result) => result && (result.status === 'FAIL' || result.status === 'SKIPPED'));
    if (blocked) {
      results.push({ id: step.id, title: step.title, status: 'SKIPPED', evidence: `skipped: ${blocked.title.toLowerCase()} did not pass` });
      continue;
    }
    let outcome: Outcome;
    try {
      outcome = await step.run(ctx, service, shared);
    } catch (error) {
      outcome = failFrom(error);
    }
    results.push({ id: step.id, title: step.title, ...outcome });
  }
  const verdict = results.some((result) => result.status === 'FAIL') ? 'FAIL' : results.some((result) => result.status === 'WARN') ? 'WARN' : 'PASS';
  return { service: service ?? null, verdict, steps: results };
}

/** The exit code of a report: the kind of its first failing step. */
export function doctorOutcome(report: DoctorReport): ByocError | undefined {
  const first = report.steps.find((step) => step.status === 'FAIL');
  if (!first) return undefined;
  const ErrorClass = errorClassOf(first.kind) ?? RemoteError;
  return new ErrorClass(`doctor_${first.id}`, `${first.title}: ${first.evidence}`, first.next ? { hint: first.next } : {});
}
