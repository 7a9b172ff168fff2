/**
 * One decision, minus the I/O: which of a placement's actions to serve a person now. The caller loads
 * the actions, the person's facts and exposure log and the placement's bandit, and afterwards records
 * the returned exposures and the decision log (x, each action's propensity) for rewards and OPE.
 *
 * An action is a candidate when it lists the placement, matches the requested channel (if any), is
 * live (validFrom ≤ now < validUntil), satisfies its eligibility condition and passes its caps and
 * exclusive group (caps.ts). Slots are filled one at a time by the bandit; each filled slot counts as
 * an exposure for the next, so caps and exclusive groups also hold inside one answer. The propensity
 * of slot k is therefore conditional on slots 1…k−1 (for one slot it is simply π(a | x)).
 */
import { isLive, type ActionRecord, type Channel } from './action.ts';
import type { LinUcbBandit } from './bandit.ts';
import { checkCaps, ExposureIndex, type CapBlock, type Exposure } from './caps.ts';
import { evaluate, type Facts } from './conditions.ts';
import type { FeatureVector } from './features.ts';
import type { Random } from './random.ts';

export interface DecisionRequest {
  placement: string;
  channel?: Channel;
  /** how many actions to return at most */
  count: number;
  /** ms since epoch */
  now: number;
  facts: Facts;
  /** the context vector (features.ts); log it with the decision, rewards need the same x */
  x: FeatureVector;
  /** every exposure of the person (all of their ids) that can still matter (caps.ts) */
  exposures: readonly Exposure[];
  /**
   * Actions served to the same person, placement and context a moment ago, in slot order: each one
   * that is still a candidate and passes its caps keeps its slot (propensity 1: it follows
   * deterministically from the earlier draw), so a page reload does not flip the offer.
   */
  preferred?: readonly string[];
}

export interface DecisionDependencies {
  actions: readonly ActionRecord[];
  bandit: LinUcbBandit;
  random: Random;
  /** exclusivePeriods(actions) — pass it in to compute it once per action-set change, not per decision */
  groupPeriods?: ReadonlyMap<string, number>;
}

/**
 * `uniform`: drawn uniformly among the candidates by an experiment variant with `policy: "uniform"`
 * (set by the serving layer, which knows the variant; the value estimate played no part)
 */
export type DecisionReasonType = 'eligible' | 'best_value' | 'exploration' | 'consistent' | 'uniform';

export interface DecisionReason {
  type: DecisionReasonType;
  text: string;
}

export interface DecidedAction {
  actionId: string;
  content: Record<string, unknown>;
  /** estimated expected value: estimated success rate × the action's value */
  score: number;
  /** probability the policy had of choosing this action for this slot */
  propensity: number;
  explored: boolean;
  reasons: DecisionReason[];
  /** true when the slot repeats the preferred (earlier) choice rather than a new draw of the policy */
  repeated?: boolean;
}

export type SkipReason = 'channel' | 'not_live' | 'ineligible' | 'frequency_cap' | 'exclusive_group';

export interface SkippedAction {
  actionId: string;
  reason: SkipReason;
  block?: CapBlock;
}

export interface Decision {
  actions: DecidedAction[];
  /** actions of the placement that could not be served, and why (for debugging and explain views) */
  skipped: SkippedAction[];
  /** what to append to the person's exposure log once the answer is sent */
  exposures: Exposure[];
  /** the actions the policy could choose from for the first slot (its support, which OPE needs) */
  firstSlotCandidates: string[];
}

const percent = (p: number): string => `${(Math.max(0, p) * 100).toFixed(1)}%`;

function reasonsFor(action: ActionRecord, mean: number, explored: boolean): DecisionReason[] {
  const reasons: DecisionReason[] = [];
  if (action.eligibility !== undefined) reasons.push({ type: 'eligible', text: 'Matches the audience rule of this action' });
  if (explored) reasons.push({ type: 'exploration', text: 'Shown to learn how people like this respond to it' });
  else {
    const value = action.value === undefined || action.value === 1 ? '' : ` × value ${action.value}`;
    reasons.push({ type: 'best_value', text: `Highest expected value for this context (${percent(mean)} estimated success${value})` });
  }
  return reasons;
}

function exposureOf(action: ActionRecord, t: number): Exposure {
  return { actionId: action.actionId, channel: action.channel, t, ...(action.exclusiveGroup !== undefined ? { exclusiveGroup: action.exclusiveGroup } : {}) };
}

/** Why an action of the placement cannot be served whatever the exposure log says, if it cannot. */
function standingBlock(action: ActionRecord, request: DecisionRequest): SkipReason | undefined {
  if (request.channel !== undefined && action.channel !== request.channel) return 'channel';
  if (!isLive(action, request.now)) return 'not_live';
  if (action.eligibility !== undefined && !evaluate(action.eligibility, request.facts)) return 'ineligible';
  return undefined;
}

export function decide(request: DecisionRequest, deps: DecisionDependencies): Decision {
  const { now } = request;
  const skipped: SkippedAction[] = [];
  const open: ActionRecord[] = [];
  for (const action of deps.actions) {
    if (!action.placements.includes(request.placement)) continue;
    const reason = standingBlock(action, request);
    if (reason === undefined) open.push(action);
    else skipped.push({ actionId: action.actionId, reason });
  }

  const exposures = ExposureIndex.of(request.exposures);
  const served: Exposure[] = [];
  const chosen: DecidedAction[] = [];
  let remaining = open;
  let firstSlotCandidates: string[] = [];
  for (const id of request.preferred ?? []) {
    if (chosen.length >= request.count) break;
    const action = remaining.find((a) => a.actionId === id);
    if (action === undefined || !checkCaps(action, exposures, now, deps.groupPeriods).allowed) continue;
    const mean = deps.bandit.expectedReward(action.actionId, request.x);
    chosen.push({
      actionId: action.actionId,
      content: action.content,
      score: mean * (action.value ?? 1),
      propensity: 1,
      explored: false,
      reasons: [{ type: 'consistent', text: 'Shown to you a moment ago; kept so the page does not change under you' }],
      repeated: true,
    });
    const exposure = exposureOf(action, now);
    exposures.add(exposure);
    served.push(exposure);
    remaining = remaining.filter((a) => a !== action);
  }
  while (chosen.length < request.count) {
    const allowed: ActionRecord[] = [];
    for (const action of remaining) {
      const verdict = checkCaps(action, exposures, now, deps.groupPeriods);
      if (verdict.allowed) allowed.push(action);
      else skipped.push({ actionId: action.actionId, reason: verdict.block.rule, block: verdict.block });
    }
    if (chosen.length === 0) firstSlotCandidates = allowed.map((a) => a.actionId);
    const candidates = allowed.map((a) => ({ actionId: a.actionId, ...(a.value !== undefined ? { value: a.value } : {}) }));
    const choice = deps.bandit.choose(request.x, candidates, deps.random);
    if (choice === undefined) break;
    const action = allowed.find((a) => a.actionId === choice.actionId)!;
    chosen.push({
      actionId: action.actionId,
      content: action.content,
      score: choice.mean * (action.value ?? 1),
      propensity: choice.propensity,
      explored: choice.explored,
      reasons: reasonsFor(action, choice.mean, choice.explored),
    });
    const exposure = exposureOf(action, now);
    exposures.add(exposure);
    served.push(exposure);
    remaining = allowed.filter((a) => a !== action);
  }
  if (chosen.length > 0 && chosen[0]!.repeated) firstSlotCandidates = [chosen[0]!.actionId];
  return { actions: chosen, skipped, exposures: served, firstSlotCandidates };
}
