/** Validation findings, each rendered as the one line `file:line:col: message`. */
import type { SourcePosition } from './model.js';

export interface PolicyProblem extends SourcePosition {
  severity: 'error' | 'warning';
  message: string;
}

export function formatProblem(problem: PolicyProblem): string {
  const prefix = problem.severity === 'warning' ? 'warning: ' : '';
  return `${problem.file}:${problem.line}:${problem.col}: ${prefix}${problem.message}`;
}

/** By file, then line, then column; the order in which editors list them. */
export function compareProblems(a: PolicyProblem, b: PolicyProblem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.col - b.col;
}

/** Turns the `file:line:col` of SourceError.where into a position. */
export function parsePosition(where: string): SourcePosition {
  const match = /^(.*):(\d+):(\d+)$/.exec(where);
  if (!match) return { file: where, line: 1, col: 1 };
  return { file: match[1], line: Number(match[2]), col: Number(match[3]) };
}

/** Collects problems while a file is read. */
export class ProblemList {
  readonly items: PolicyProblem[] = [];

  error(at: SourcePosition, message: string): void {
    this.items.push({ ...at, severity: 'error', message });
  }

  warning(at: SourcePosition, message: string): void {
    this.items.push({ ...at, severity: 'warning', message });
  }

  get hasErrors(): boolean {
    return this.items.some((problem) => problem.severity === 'error');
  }
}
