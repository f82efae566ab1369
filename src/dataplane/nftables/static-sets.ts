/**
 * The named sets a compiled ruleset needs for multi-value matches (port lists, CIDR
 * lists, the addresses a selector picks, named ports), named by their content.
 *
 * Every set, anonymous ones included, is a kernel object that the kernel finds by a
 * linear walk of the table's sets, so loading n of them costs O(n²). Naming sets by
 * content makes rules that match the same values (the DNS rule every policy repeats,
 * the same kube-dns pods) share one set, which keeps that n small. A single value
 * needs no set at all and is matched inline.
 */
import { createHash } from 'node:crypto';

export type StaticSetKind = 'ports' | 'addresses4' | 'addresses6' | 'namedPorts4' | 'namedPorts6';

/** The declaration of each kind: key type and flags. Interval sets take CIDRs and ranges; auto-merge lets a pod IP sit inside a NetworkSet's net. */
const DECLARATIONS: Record<StaticSetKind, string> = {
  ports: 'type inet_service; flags interval;',
  addresses4: 'type ipv4_addr; flags interval; auto-merge;',
  addresses6: 'type ipv6_addr; flags interval; auto-merge;',
  namedPorts4: 'type ipv4_addr . inet_proto . inet_service;',
  namedPorts6: 'type ipv6_addr . inet_proto . inet_service;',
};

const PREFIX: Record<StaticSetKind, string> = {
  ports: 'ports',
  addresses4: 'addr4',
  addresses6: 'addr6',
  namedPorts4: 'nport4',
  namedPorts6: 'nport6',
};

export interface StaticSet {
  name: string;
  /** The set's body: declaration and elements. */
  body: string;
}

export class StaticSets {
  private readonly sets = new Map<string, StaticSet>();
  /** Kind and elements → operand, so repeated values cost no hashing. */
  private readonly operands = new Map<string, string>();

  /**
   * What to match `values` against: the value itself when there is one, else `@name` of
   * the set holding them. `values` must be non-empty.
   */
  operand(kind: StaticSetKind, values: readonly string[]): string {
    const elements = [...new Set(values)].sort();
    if (elements.length === 1 && kind !== 'namedPorts4' && kind !== 'namedPorts6') return elements[0];
    const content = `${kind}\n${elements.join('\n')}`;
    let operand = this.operands.get(content);
    if (operand === undefined) {
      const name = `${PREFIX[kind]}_${createHash('sha256').update(content).digest('hex').slice(0, 12)}`;
      this.sets.set(name, { name, body: `${DECLARATIONS[kind]} elements = { ${elements.join(', ')} }` });
      operand = `@${name}`;
      this.operands.set(content, operand);
    }
    return operand;
  }

  all(): StaticSet[] {
    return [...this.sets.values()];
  }
}
