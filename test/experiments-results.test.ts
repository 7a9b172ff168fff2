import { describe, expect, it } from 'vitest';
import { expectedShares } from '../src/experiments/assign.ts';
import { experimentResults, floorKey, type VariantTotals } from '../src/experiments/results.ts';
import { alwaysValidPValue, conversionRate, relativeLift, sampleMean } from '../src/experiments/stats.ts';

const experiment = { id: 'e', variants: [{ id: 'control', weight: 1 }, { id: 'blend', weight: 1 }], holdoutPercent: 5 };
const totals: VariantTotals[] = [
  { variant: 'holdout', exposures: 500, metrics: { 'Order Completed': { conversions: 40, revenue: { sum: 2000, sumSquares: 400_000 } } } },
  { variant: 'control', exposures: 4750, metrics: { 'Order Completed': { conversions: 475, revenue: { sum: 23_750, sumSquares: 4_750_000 } }, 'Product Clicked': { conversions: 950 } } },
  { variant: 'blend', exposures: 4750, metrics: { 'Order Completed': { conversions: 570, revenue: { sum: 28_500, sumSquares: 5_700_000 } }, 'Product Clicked': { conversions: 1045 } } },
];

describe('experiment results', () => {
  const results = experimentResults({ totals, expectedShares: expectedShares(experiment) });
  const blend = results.variants.find((v) => v.variant === 'blend')!;
  const control = results.variants.find((v) => v.variant === 'control')!;

  it('uses the first variant that is not the holdout as control', () => {
    expect(results.control).toBe('control');
  });

  it('reports per variant exposures, conversions, rates and revenue per person', () => {
    expect(blend.exposures).toBe(4750);
    expect(blend.metrics['Order Completed']).toMatchObject({ conversions: 570, conversionRate: 0.12, revenuePerPerson: 6 });
    expect(blend.metrics['Product Clicked']).toMatchObject({ conversions: 1045, conversionRate: 0.22 });
    expect(blend.metrics['Product Clicked']!.revenuePerPerson).toBeUndefined();
  });

  it('lift and always-valid p-values vs the control come from the statistics module', () => {
    const m = blend.metrics['Order Completed']!;
    expect(m.lift?.conversionRate).toEqual(relativeLift(conversionRate(4750, 570), conversionRate(4750, 475)));
    expect(m.lift?.revenuePerPerson).toEqual(relativeLift(sampleMean(4750, 28_500, 5_700_000), sampleMean(4750, 23_750, 4_750_000)));
    expect(m.pValue?.conversionRate).toBe(alwaysValidPValue(conversionRate(4750, 570), conversionRate(4750, 475)));
    expect(m.lift?.conversionRate?.estimate).toBeCloseTo(0.2, 12);
    expect(control.metrics['Order Completed']!.lift).toBeUndefined();
    expect(control.metrics['Order Completed']!.pValue).toBeUndefined();
  });

  it('a p-value never rises above the floor of earlier looks', () => {
    const later = experimentResults({
      totals: totals.map((t) => (t.variant === 'blend' ? { ...t, metrics: { ...t.metrics, 'Order Completed': { conversions: 480 } } } : t)),
      expectedShares: expectedShares(experiment),
      floors: new Map(results.variants.flatMap((v) => Object.entries(v.metrics).flatMap(([metric, m]) => (m.pValue ? [[floorKey(v.variant, metric), m.pValue] as const] : [])))),
    });
    const before = blend.metrics['Order Completed']!.pValue!.conversionRate;
    expect(later.variants.find((v) => v.variant === 'blend')!.metrics['Order Completed']!.pValue!.conversionRate).toBe(before);
  });

  it('checks the sample ratio of the buckets reported, holdout included', () => {
    expect(results.sampleRatio).toMatchObject({ chiSquare: 0, mismatch: false });
    const withoutHoldout = experimentResults({ totals: totals.slice(1), expectedShares: expectedShares(experiment) });
    expect(withoutHoldout.sampleRatio.mismatch).toBe(false);
    const skewed = experimentResults({ totals: [totals[0]!, totals[1]!, { ...totals[2]!, exposures: 4000 }], expectedShares: expectedShares(experiment) });
    expect(skewed.sampleRatio.mismatch).toBe(true);
  });

  it('can measure total uplift against the holdout', () => {
    const vsHoldout = experimentResults({ totals, expectedShares: expectedShares(experiment), control: 'holdout' });
    expect(vsHoldout.variants.find((v) => v.variant === 'control')!.metrics['Order Completed']!.lift?.conversionRate?.estimate).toBeCloseTo(0.1 / 0.08 - 1, 12);
  });

  it('refuses results without the control’s totals', () => {
    expect(() => experimentResults({ totals: totals.slice(2), expectedShares: {}, control: 'control' })).toThrow(/control/);
  });
});
