/**
 * The text of each nft transaction dnsgate sends. Every text is one transaction, in
 * effect all at once or not at all.
 *
 * A swap turns the table into a new ruleset. Chains and static sets are named by their
 * content, so one that exists already is the one wanted and stays untouched; the rest
 * are deleted (chains emptied first, so that nothing refers to what goes) or defined.
 * The verdict maps and the base chain keep their names and are emptied and refilled,
 * the base chain's hook staying registered throughout. Learnt sets stay with their
 * elements unless the swap writes every element anew.
 *
 * Elements are written with a timeout equal to the entry's remaining lifetime, so the
 * kernel expires them even when dnsgate is gone. In a batch, an element that may exist
 * is added, deleted and added again: older kernels keep the timeout of an existing
 * element on add (Linux 6.18 updates it), nft 1.0.6 does not tolerate deleting an
 * absent one, and within one transaction this leaves no moment without the element.
 */
import type { EntrySnapshot } from '../../allowmap/entry.js';
import type { DataplaneBatch } from '../../allowmap/entry.js';
import { INTERCEPT_PREFIX } from '../../intercept/rules.js';
import type { Ruleset } from './ruleset.js';

/** What the table holds, by name, as `nft -j -t list table` reports it, but for interception's objects, which swaps never touch. */
export interface Inventory {
  chains: string[];
  sets: string[];
  maps: string[];
}

export const EMPTY_INVENTORY: Inventory = { chains: [], sets: [], maps: [] };

/** Elements per `add element` command, so that an error message quoting one stays short. */
const ELEMENTS_PER_COMMAND = 1000;

export function parseInventory(json: string): Inventory {
  const parsed = JSON.parse(json) as { nftables?: Record<string, { name?: string }>[] };
  const inventory: Inventory = { chains: [], sets: [], maps: [] };
  for (const item of parsed.nftables ?? []) {
    if ((item.chain ?? item.set ?? item.map)?.name?.startsWith(INTERCEPT_PREFIX)) continue;
    if (item.chain?.name !== undefined) inventory.chains.push(item.chain.name);
    if (item.set?.name !== undefined) inventory.sets.push(item.set.name);
    if (item.map?.name !== undefined) inventory.maps.push(item.map.name);
  }
  return inventory;
}

/** What the table holds once `ruleset` was swapped in. */
export function inventoryOf(ruleset: Ruleset): Inventory {
  const named = (kind: string): string[] => ruleset.allObjects.filter((object) => object.kind === kind).map((object) => object.name);
  return { chains: named('chain'), sets: named('set'), maps: named('map') };
}

export interface SwapOptions {
  /** Empty the learnt sets the ruleset keeps (their elements are about to be written whole). */
  flushLearnt: boolean;
}

/** The transaction that turns the table from `existing` into `ruleset`. */
export function swapText(ruleset: Ruleset, existing: Inventory, options: SwapOptions): string {
  const table = `inet ${ruleset.options.table}`;
  const wanted = new Map(ruleset.allObjects.map((object) => [object.name, object]));
  const present = new Set([...existing.chains, ...existing.sets, ...existing.maps]);
  const obsolete = (name: string): boolean => !wanted.has(name);
  const lines = [`add table ${table}`];
  for (const object of ruleset.objects) if (object.refill && present.has(object.name)) lines.push(`flush ${object.kind} ${table} ${object.name}`);
  for (const chain of existing.chains.filter(obsolete)) lines.push(`flush chain ${table} ${chain}`);
  // Verdict maps refer to chains, chains to sets: delete in that order.
  for (const map of existing.maps.filter(obsolete)) lines.push(`delete map ${table} ${map}`);
  for (const chain of existing.chains.filter(obsolete)) lines.push(`delete chain ${table} ${chain}`);
  for (const set of existing.sets.filter(obsolete)) lines.push(`delete set ${table} ${set}`);
  if (options.flushLearnt) for (const set of ruleset.learntSets) if (present.has(set.name)) lines.push(`flush set ${table} ${set.name}`);
  return `${lines.join('\n')}\n${ruleset.definition((object) => object.refill || !present.has(object.name))}`;
}

interface Element {
  set: string;
  key: string;
}

/** The elements an entry stands for in `ruleset`: one per learnt set of its rules (and, in pod scope, per client IP of its family). */
function elementsOf(ruleset: Ruleset, entry: EntrySnapshot): Element[] {
  const elements: Element[] = [];
  for (const ref of entry.rules) {
    const set = ruleset.learntSetFor(ref, entry.family);
    if (set === undefined) continue;
    if (ruleset.options.scope === 'node') elements.push({ set, key: entry.ip });
    else for (const client of entry.clientIps) if (client.includes(':') === (entry.family === 6)) elements.push({ set, key: `${client} . ${entry.ip}` });
  }
  return elements;
}

/** Set name → element key → timeout in ms (keys in insertion order, the last write winning). */
type ElementsBySet = Map<string, Map<string, number>>;

function group(ruleset: Ruleset, entries: readonly EntrySnapshot[], now: number): ElementsBySet {
  const bySet: ElementsBySet = new Map();
  for (const entry of entries) {
    const timeout = Math.ceil(entry.expiresAt - now);
    if (timeout <= 0) continue;
    for (const { set, key } of elementsOf(ruleset, entry)) {
      let keys = bySet.get(set);
      if (!keys) bySet.set(set, (keys = new Map()));
      keys.set(key, timeout);
    }
  }
  return bySet;
}

function chunks<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += ELEMENTS_PER_COMMAND) result.push(items.slice(i, i + ELEMENTS_PER_COMMAND));
  return result;
}

/**
 * One command of a transaction on learnt sets: elements added to or deleted from one
 * set. Keys are written as nft writes them (`10.244.1.7 . 192.0.2.7`); an element with
 * a timeout (ms) is added with it.
 */
export interface ElementCommand {
  verb: 'add' | 'delete';
  set: string;
  elements: readonly { key: string; timeoutMs?: number }[];
}

/** Adds `bySet`, replacing elements in the sets where they may exist (`replaceIn`), a plain add into sets known to be empty. */
function addCommands(bySet: ElementsBySet, replaceIn: (set: string) => boolean, commands: ElementCommand[]): void {
  for (const [set, keys] of bySet) {
    const replace = replaceIn(set);
    for (const chunk of chunks([...keys])) {
      const add: ElementCommand = { verb: 'add', set, elements: chunk.map(([key, timeoutMs]) => ({ key, timeoutMs })) };
      commands.push(add);
      if (replace) commands.push({ verb: 'delete', set, elements: chunk.map(([key]) => ({ key })) }, add);
    }
  }
}

export interface ElementCommands {
  commands: ElementCommand[];
  /** Elements added or removed. */
  count: number;
}

/**
 * A batch of the map's changes. Removals of entries whose time is up are skipped: the
 * kernel expired those elements itself.
 */
export function batchCommands(ruleset: Ruleset, batch: DataplaneBatch, now: number): ElementCommands {
  const commands: ElementCommand[] = [];
  let count = 0;
  const removals = new Map<string, Set<string>>();
  for (const removal of batch.removals) {
    if (removal.expiresAt <= now) continue;
    for (const { set, key } of elementsOf(ruleset, removal)) {
      let keys = removals.get(set);
      if (!keys) removals.set(set, (keys = new Set()));
      keys.add(key);
    }
  }
  for (const [set, keys] of removals) {
    for (const chunk of chunks([...keys])) {
      const elements = chunk.map((key) => ({ key }));
      // Adding first makes the delete succeed whether or not the element is still there.
      commands.push({ verb: 'add', set, elements }, { verb: 'delete', set, elements });
      count += chunk.length;
    }
  }
  const upserts = group(ruleset, batch.upserts, now);
  addCommands(upserts, () => true, commands);
  for (const keys of upserts.values()) count += keys.size;
  return { commands, count };
}

/**
 * Every element of `entries`, after a swap: a plain add into sets just emptied or made,
 * and, at the first resync, into the sets where an earlier run's elements stay
 * (`keptSets`), added, deleted and added again: an earlier run may have left an element
 * with a shorter timeout than the restored entry's (its extension deferred), which an
 * add would keep on older kernels.
 */
export function elementCommands(ruleset: Ruleset, entries: readonly EntrySnapshot[], now: number, keptSets: ReadonlySet<string>): ElementCommands {
  const commands: ElementCommand[] = [];
  const bySet = group(ruleset, entries, now);
  addCommands(bySet, (set) => keptSets.has(set), commands);
  let count = 0;
  for (const keys of bySet.values()) count += keys.size;
  return { commands, count };
}

/** `commands` on the learnt sets of `inet TABLE` as nft text, one command a line; empty when there are none. */
export function commandsText(table: string, commands: readonly ElementCommand[]): string {
  let text = '';
  for (const { verb, set, elements } of commands) {
    const written = elements.map(({ key, timeoutMs }) => (timeoutMs === undefined ? key : `${key} timeout ${timeoutMs}ms`)).join(', ');
    text += `${verb} element inet ${table} ${set} { ${written} }\n`;
  }
  return text;
}
