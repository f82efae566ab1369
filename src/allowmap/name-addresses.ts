/**
 * The entries of one (client, name) with more than one address, least recently learnt or
 * extended first: the per-name limit evicts from the front. The order is a list through
 * one record per address, so that moving an address to the back rewrites two links.
 * Kept as a Map's insertion order (delete, then set again) it cost a rebuilt table
 * every other move, many a second under load, and those tables were an eighth of what
 * dnsgate full promoted to the old generation.
 */
import type { AllowedEntry } from './entry.js';

interface Sighting {
  entry: AllowedEntry;
  older: Sighting | undefined;
  newer: Sighting | undefined;
}

export class NameAddresses {
  private readonly byIp = new Map<string, Sighting>();
  private oldest: Sighting | undefined;
  private newest: Sighting | undefined;

  get size(): number {
    return this.byIp.size;
  }

  /** Makes `entry` the most recent, adding it when new. */
  sight(entry: AllowedEntry): void {
    let sighting = this.byIp.get(entry.ip);
    if (sighting === undefined) {
      sighting = { entry, older: undefined, newer: undefined };
      this.byIp.set(entry.ip, sighting);
    } else {
      sighting.entry = entry;
      if (sighting === this.newest) return;
      this.unlink(sighting);
    }
    sighting.older = this.newest;
    if (this.newest === undefined) this.oldest = sighting;
    else this.newest.newer = sighting;
    this.newest = sighting;
  }

  /** Removes `entry`; false when it is not here. */
  remove(entry: AllowedEntry): boolean {
    const sighting = this.byIp.get(entry.ip);
    if (sighting?.entry !== entry) return false;
    this.unlink(sighting);
    this.byIp.delete(entry.ip);
    return true;
  }

  /** Removes and returns the least recent entry. */
  takeOldest(): AllowedEntry | undefined {
    const oldest = this.oldest;
    if (oldest === undefined) return undefined;
    this.unlink(oldest);
    this.byIp.delete(oldest.entry.ip);
    return oldest.entry;
  }

  private unlink(sighting: Sighting): void {
    if (sighting.older === undefined) this.oldest = sighting.newer;
    else sighting.older.newer = sighting.newer;
    if (sighting.newer === undefined) this.newest = sighting.older;
    else sighting.newer.older = sighting.older;
    sighting.older = undefined;
    sighting.newer = undefined;
  }
}
