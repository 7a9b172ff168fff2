/** Profiles as tests compare them. */

/** a profile without what moves with the clock between two reads (recency, decayed affinities, current session) */
export const timeless = (p: any): any => ({
  ...p,
  features: {
    ...p.features,
    categoryAffinity: Object.keys(p.features.categoryAffinity),
    rfm: { ...p.features.rfm, recencyDays: undefined },
    sessions: { ...p.features.sessions, current: undefined },
  },
});
