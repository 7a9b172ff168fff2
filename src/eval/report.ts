/** The human-readable form of an evaluation report: a header and one metric per row, systems in columns. */
import type { EvalReport } from './run.ts';

export function formatReport(r: EvalReport, engineName = 'kairos'): string {
  const systems = [engineName, ...Object.keys(r.baselines)];
  const columns = [r.metrics, ...Object.values(r.baselines)];
  const names = Object.keys(r.metrics);
  const width = Math.max(12, ...names.map((n) => n.length + 2));
  const cell = Math.max(12, ...systems.map((s) => s.length + 2));
  const lines = [
    `dataset    ${r.dataset}`,
    `protocol   ${r.protocol}, ${r.mode} (${r.split})`,
    `counts     ${Object.entries(r.counts).map(([k, v]) => `${k} ${v.toLocaleString('en')}`).join(', ')}`,
    `engine     ${r.predictions.toLocaleString('en')} predictions, ${r.predictionsPerSecond.toLocaleString('en')}/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, train ${r.trainSeconds} s`,
    '',
    'metric'.padEnd(width) + systems.map((s) => s.padStart(cell)).join(''),
    ...names.map((n) => n.padEnd(width) + columns.map((m) => (m[n] === undefined ? '–' : m[n]!.toFixed(4)).padStart(cell)).join('')),
  ];
  if (r.licence) lines.push('', r.licence);
  return lines.join('\n');
}
