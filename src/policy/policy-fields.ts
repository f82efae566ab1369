/** Fields every policy kind reads the same way: `types`, and the staged kinds' `stagedAction`. */
import type { PolicyType, StagedAction } from './model.js';
import type { FieldPath, ObjectReader } from './reader.js';

const POLICY_TYPES: readonly PolicyType[] = ['Ingress', 'Egress'];
const STAGED_ACTIONS: readonly StagedAction[] = ['Set', 'Delete'];

/** As written, or Calico's default: Ingress unless only egress rules exist, plus Egress when any do. */
export function parseTypes(reader: ObjectReader, hasIngress: boolean, hasEgress: boolean, path: FieldPath = ['spec', 'types']): PolicyType[] {
  if (!reader.has(path)) {
    const types: PolicyType[] = [];
    if (hasIngress || !hasEgress) types.push('Ingress');
    if (hasEgress) types.push('Egress');
    return types;
  }
  const types: PolicyType[] = [];
  for (const item of reader.strings(path)) {
    const type = POLICY_TYPES.find((known) => known === item.value);
    if (!type) reader.error(item.path, `unknown policy type ${JSON.stringify(item.value)} (Ingress or Egress)`);
    else if (types.includes(type)) reader.error(item.path, `duplicate policy type ${type}`);
    else types.push(type);
  }
  if (hasEgress && !types.includes('Egress')) reader.warning(path, 'egress rules are ignored: types does not include Egress');
  return types;
}

/** `spec.stagedAction`: Set (the default) or Delete, which takes no rules. */
export function stagedAction(reader: ObjectReader): StagedAction {
  const text = reader.string(['spec', 'stagedAction']);
  if (text === undefined) return 'Set';
  const action = STAGED_ACTIONS.find((known) => known === text);
  if (action) return action;
  reader.error(['spec', 'stagedAction'], `stagedAction must be Set or Delete, not ${JSON.stringify(text)}`);
  return 'Set';
}

/** The POLICY part of a staged rule reference, as Calico's flow logs name it: `TIER.staged:NAME`. */
export function stagedName(policyName: string, tier: string): string {
  return policyName.startsWith(`${tier}.`) ? `${tier}.staged:${policyName.slice(tier.length + 1)}` : `staged:${policyName}`;
}

/** A Delete leaves the named policy out of the staged view; rules would mean nothing there. */
export function checkDeleteHasNoRules(reader: ObjectReader, action: StagedAction, fields: readonly string[]): void {
  if (action !== 'Delete') return;
  for (const field of fields) if (reader.has(['spec', field])) reader.error(['spec', field], `stagedAction Delete takes no ${field}`);
}
