/**
 * The eligibility language of actions: small, typed and JSON-serialisable, so a rule can be stored,
 * validated on write with pointed errors, shown in docs and evaluated without any code execution.
 *
 *   Condition := {"and": [Condition…]}          true when every member is (an empty list is true)
 *              | {"or":  [Condition…]}          true when some member is (an empty list is false)
 *              | {"not": Condition}
 *              | {"path": Path, "op": Op, "value": …}
 *
 *   Path := one of traits | features | segments | context, then ".key" steps, e.g.
 *           "traits.plan", "features.rfm.frequency", "context.page.path", "segments".
 *           A step that is a whole number indexes an array ("features.recentlyViewed.0.itemId").
 *
 * Comparisons never coerce types; a missing value or a type mismatch makes a comparison false:
 *
 *   "=="  value is a scalar (string, number, boolean, null); true when the fact is that exact scalar
 *   "!="  exactly `not ==` (so a missing fact is "!=" anything)
 *   "<" "<=" ">" ">="  value is a number or string; the fact must be of the same type; strings
 *         compare by code unit, which orders ISO-8601 timestamps chronologically
 *   "in"  value is an array of scalars; true when the fact is one of them, or, when the fact is an
 *         array (e.g. segments), when any of its elements is one of them
 *   "contains"  value is a scalar; true when the fact is an array holding it, or a string holding
 *         it as a substring (value a string)
 *   "exists"    no value; true when the fact is present and not null
 *
 * Examples: {"path": "segments", "op": "contains", "value": "cart_abandoner"};
 * {"and": [{"path": "traits.plan", "op": "in", "value": ["pro", "team"]},
 *          {"not": {"path": "features.rfm.frequency", "op": ">=", "value": 3}}]}
 */

export const COMPARISON_OPS = ['==', '!=', '<', '<=', '>', '>='] as const;
export const CONDITION_OPS = [...COMPARISON_OPS, 'in', 'contains', 'exists'] as const;
export const FACT_ROOTS = ['traits', 'features', 'segments', 'context'] as const;

/** Limits keep validation and evaluation cheap and bounded whatever a client stores. */
export const CONDITION_LIMITS = {
  depth: 12,
  nodes: 256,
  pathLength: 256,
  pathSteps: 12,
  inValues: 1000,
  stringLength: 1024,
  errors: 50,
} as const;

export type ConditionOp = (typeof CONDITION_OPS)[number];
export type FactRoot = (typeof FACT_ROOTS)[number];
export type Scalar = string | number | boolean | null;

export type Condition =
  | { and: Condition[] }
  | { or: Condition[] }
  | { not: Condition }
  | { path: string; op: '==' | '!='; value: Scalar }
  | { path: string; op: '<' | '<=' | '>' | '>='; value: number | string }
  | { path: string; op: 'in'; value: Scalar[] }
  | { path: string; op: 'contains'; value: Scalar }
  | { path: string; op: 'exists' };

/** What a condition can look at: the person and the request, as plain data. */
export interface Facts {
  traits?: object;
  features?: object;
  segments?: readonly string[];
  context?: object;
}

export interface ConditionError {
  /** JSON pointer of the offending node or key inside the condition ("" is the root) */
  path: string;
  message: string;
}

export type ConditionValidation = { ok: true } | { ok: false; errors: ConditionError[] };

/** Keys that would walk into the prototype chain instead of the data. */
const FORBIDDEN_STEPS = new Set(['__proto__', 'prototype', 'constructor']);
const SHAPES = "a condition is {and: [...]}, {or: [...]}, {not: {...}} or {path, op, value}";

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is Scalar =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
const list = (xs: readonly string[]): string => xs.join(', ');

/** Why `path` is not a usable fact path, or undefined when it is. */
function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return "path must be a string such as 'traits.plan'";
  if (path.length > CONDITION_LIMITS.pathLength) return `path is longer than ${CONDITION_LIMITS.pathLength} characters`;
  const steps = path.split('.');
  const root = steps[0]!;
  if (!(FACT_ROOTS as readonly string[]).includes(root)) return `path must start with one of ${list(FACT_ROOTS)} (got '${root}')`;
  if (steps.length > CONDITION_LIMITS.pathSteps) return `path has more than ${CONDITION_LIMITS.pathSteps} steps`;
  const empty = steps.findIndex((s) => s === '');
  if (empty >= 0) return `path step ${empty + 1} is empty`;
  const forbidden = steps.find((s) => FORBIDDEN_STEPS.has(s));
  if (forbidden !== undefined) return `path may not use '${forbidden}'`;
  return undefined;
}

function valueProblem(op: ConditionOp, node: Record<string, unknown>): string | undefined {
  const has = Object.hasOwn(node, 'value');
  const value = node.value;
  const longString = (v: unknown): boolean => typeof v === 'string' && v.length > CONDITION_LIMITS.stringLength;
  if (op === 'exists') return has ? "'exists' takes no value (wrap it in {not: …} to test absence)" : undefined;
  if (!has) return `'${op}' needs a value`;
  if (longString(value)) return `value is longer than ${CONDITION_LIMITS.stringLength} characters`;
  switch (op) {
    case 'in':
      if (!Array.isArray(value) || !value.every(isScalar)) return "'in' needs an array of strings, numbers, booleans or null";
      if (value.length > CONDITION_LIMITS.inValues) return `'in' accepts at most ${CONDITION_LIMITS.inValues} values`;
      if (value.some(longString)) return `values are limited to ${CONDITION_LIMITS.stringLength} characters`;
      return undefined;
    case '<':
    case '<=':
    case '>':
    case '>=':
      return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string'
        ? undefined
        : `'${op}' needs a number or a string value`;
    default:
      return isScalar(value) ? undefined : `'${op}' needs a string, number, boolean or null value`;
  }
}

/** Checks a would-be condition and explains every problem (up to a limit) with its JSON pointer. */
export function validateCondition(input: unknown): ConditionValidation {
  const errors: ConditionError[] = [];
  let nodes = 0;
  const fail = (path: string, message: string): void => {
    if (errors.length < CONDITION_LIMITS.errors) errors.push({ path, message });
  };

  const visit = (node: unknown, at: string, depth: number): void => {
    if (errors.length >= CONDITION_LIMITS.errors) return;
    if (++nodes > CONDITION_LIMITS.nodes) {
      if (nodes === CONDITION_LIMITS.nodes + 1) fail(at, `condition has more than ${CONDITION_LIMITS.nodes} nodes`);
      return;
    }
    if (depth > CONDITION_LIMITS.depth) return fail(at, `condition nests deeper than ${CONDITION_LIMITS.depth} levels`);
    if (!isRecord(node)) return fail(at, `expected an object: ${SHAPES}`);
    const keys = Object.keys(node);
    const combinator = (['and', 'or', 'not'] as const).find((k) => Object.hasOwn(node, k));
    if (combinator !== undefined) {
      for (const k of keys) if (k !== combinator) fail(`${at}/${k}`, `a condition with '${combinator}' may have no other key (found '${k}')`);
      const members = node[combinator];
      if (combinator === 'not') return visit(members, `${at}/not`, depth + 1);
      if (!Array.isArray(members)) return fail(`${at}/${combinator}`, `'${combinator}' must be an array of conditions`);
      members.forEach((m, i) => visit(m, `${at}/${combinator}/${i}`, depth + 1));
      return;
    }
    if (!Object.hasOwn(node, 'path') && !Object.hasOwn(node, 'op')) return fail(at, `unrecognised condition: ${SHAPES}`);
    for (const k of keys) if (k !== 'path' && k !== 'op' && k !== 'value') fail(`${at}/${k}`, `unknown key '${k}'`);
    const badPath = pathProblem(node.path);
    if (badPath !== undefined) fail(`${at}/path`, badPath);
    const op = node.op;
    if (typeof op !== 'string' || !(CONDITION_OPS as readonly string[]).includes(op)) {
      return fail(`${at}/op`, `op must be one of ${list(CONDITION_OPS)}${typeof op === 'string' ? ` (got '${op}')` : ''}`);
    }
    const badValue = valueProblem(op as ConditionOp, node);
    if (badValue !== undefined) fail(`${at}/value`, badValue);
  };

  visit(input, '', 0);
  return errors.length === 0 ? { ok: true } : { ok: false, errors };
}

/** The fact at a dotted path, or undefined; only own properties are followed. */
export function resolvePath(facts: Facts, path: string): unknown {
  let current: unknown = facts;
  for (const step of path.split('.')) {
    if (FORBIDDEN_STEPS.has(step)) return undefined;
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(step)) return undefined;
      current = current[Number(step)];
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, step)) {
      current = (current as Record<string, unknown>)[step];
    } else {
      return undefined;
    }
  }
  return current;
}

/** Thrown inside evaluation when the condition itself is malformed; never escapes `evaluate`. */
class MalformedCondition extends Error {}

function compare(op: ConditionOp, fact: unknown, value: unknown): boolean {
  switch (op) {
    case '==':
      return isScalar(fact) && fact === value;
    case '!=':
      return !(isScalar(fact) && fact === value);
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const comparable = (typeof fact === 'number' && typeof value === 'number') || (typeof fact === 'string' && typeof value === 'string');
      if (!comparable) return false;
      const [a, b] = [fact as number | string, value as number | string];
      return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
    }
    case 'in': {
      if (!Array.isArray(value)) throw new MalformedCondition();
      const member = (x: unknown): boolean => isScalar(x) && value.includes(x);
      return Array.isArray(fact) ? fact.some(member) : member(fact);
    }
    case 'contains':
      if (Array.isArray(fact)) return isScalar(value) && fact.includes(value);
      return typeof fact === 'string' && typeof value === 'string' && fact.includes(value);
    case 'exists':
      return fact !== undefined && fact !== null;
  }
}

function evaluateNode(node: unknown, facts: Facts, depth: number): boolean {
  if (depth > CONDITION_LIMITS.depth || !isRecord(node)) throw new MalformedCondition();
  if (Object.hasOwn(node, 'and') || Object.hasOwn(node, 'or')) {
    const all = Object.hasOwn(node, 'and');
    const members = all ? node.and : node.or;
    if (!Array.isArray(members)) throw new MalformedCondition();
    // every member is evaluated so a malformed one is caught whatever the others say
    const results = members.map((m) => evaluateNode(m, facts, depth + 1));
    return all ? results.every(Boolean) : results.some(Boolean);
  }
  if (Object.hasOwn(node, 'not')) return !evaluateNode(node.not, facts, depth + 1);
  const { path, op } = node;
  if (pathProblem(path) !== undefined || typeof op !== 'string' || !(CONDITION_OPS as readonly string[]).includes(op)) {
    throw new MalformedCondition();
  }
  return compare(op as ConditionOp, resolvePath(facts, path as string), node.value);
}

/**
 * Whether the facts satisfy the condition. Never throws: a malformed condition (which validation on
 * write rules out) is false as a whole, so a corrupt rule makes an action ineligible rather than
 * eligible for everyone.
 */
export function evaluate(condition: unknown, facts: Facts): boolean {
  try {
    return evaluateNode(condition, facts, 0);
  } catch {
    return false;
  }
}
