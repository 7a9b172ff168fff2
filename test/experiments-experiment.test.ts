import { describe, expect, it } from 'vitest';
import { validateExperiment } from '../src/experiments/experiment.ts';

const valid = {
  placement: 'product_page',
  variants: [
    { id: 'control', weight: 1, config: { blend: { popular: 1 } } },
    { id: 'session_knn', weight: 1, config: { blend: { 'session-knn': 1, covisit: 1 } } },
  ],
  holdoutPercent: 5,
  metrics: ['Product Clicked', { event: 'Order Completed', revenueProperty: 'revenue' }],
  status: 'running',
  seed: 'exp-2025-06',
};

const detailsOf = (body: unknown) => {
  const v = validateExperiment(body);
  return v.ok ? [] : v.details;
};

describe('experiment validation', () => {
  it('accepts a complete experiment and one without optional fields', () => {
    expect(validateExperiment(valid)).toEqual({ ok: true, experiment: valid });
    const { holdoutPercent: _h, seed: _s, ...minimal } = valid;
    expect(validateExperiment(minimal).ok).toBe(true);
  });

  const table: Array<[string, unknown, { field: string; message: RegExp }]> = [
    ['a missing placement', { ...valid, placement: undefined }, { field: '/placement', message: /is required/ }],
    ['no variants', { ...valid, variants: [] }, { field: '/variants', message: /fewer than 1/ }],
    ['a negative weight', { ...valid, variants: [{ id: 'a', weight: -1, config: {} }] }, { field: '/variants/0/weight', message: />= 0/ }],
    ['all weights zero', { ...valid, variants: [{ id: 'a', weight: 0, config: {} }] }, { field: '/variants', message: /positive weight/ }],
    ['duplicate variant ids', { ...valid, variants: [{ id: 'a', weight: 1, config: {} }, { id: 'a', weight: 1, config: {} }] }, { field: '/variants/1/id', message: /duplicate variant id 'a'/ }],
    ['a variant named holdout', { ...valid, variants: [{ id: 'holdout', weight: 1, config: {} }] }, { field: '/variants/0/id', message: /reserved for the global holdout/ }],
    ['a holdout of 100%', { ...valid, holdoutPercent: 100 }, { field: '/holdoutPercent', message: /< 100/ }],
    ['a negative holdout', { ...valid, holdoutPercent: -1 }, { field: '/holdoutPercent', message: />= 0/ }],
    ['an unknown status', { ...valid, status: 'paused' }, { field: '/status', message: /must be one of draft, running, stopped/ }],
    ['no metrics', { ...valid, metrics: [] }, { field: '/metrics', message: /fewer than 1/ }],
    ['a metric measured twice', { ...valid, metrics: ['Order Completed', { event: 'Order Completed' }] }, { field: '/metrics/1', message: /measured twice/ }],
    ['an unknown field', { ...valid, traffic: 50 }, { field: '/traffic', message: /not a known field/ }],
  ];
  it.each(table)('rejects %s, naming the field', (_name, body, expected) => {
    expect(detailsOf(body)).toContainEqual({ field: expected.field, message: expect.stringMatching(expected.message) });
  });
});
