/**
 * The successor's side of an upgrade, for the allowed map. It restored the state file,
 * which lacks what the predecessor learnt since its last periodic save, during the
 * overlap and while it drained. The kernel holds those elements (the predecessor
 * committed each before releasing its answer), but the map does not, so a full resync
 * (which writes the learnt sets whole) would drop them, and so would the successor's
 * state saves and /v1/allowed.
 *
 * So the predecessor, once replaced, writes its final save beside the state file
 * (state-file.ts), and the successor merges it as soon as it lands: entries it lacks
 * are added, those it holds keep the later expiry, and the union is saved. Until then,
 * and while the predecessor still runs, the dataplane keeps learnt elements the map
 * does not hold. The merge, rather than reading the kernel's elements back, because
 * the kernel holds neither the names behind an element nor the retained mappings, and
 * it keeps changing until the predecessor has drained.
 */
import type { IdentitySnapshot } from '../identity/snapshot.js';
import { errorText } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { StateFile } from './state-file.js';

/** How often the successor looks for the predecessor's final save. */
const POLL_MS = 1000;
/**
 * How long after the predecessor's lease ran out its final save may still land: the
 * lease ends when it begins to stop, then it drains (up to 5 s) and saves. Beyond
 * this it is taken for dead (kill -9, OOM): there is no final save to wait for.
 */
const GRACE_MS = 30_000;

export interface HandoverParts {
  stateFile: StateFile | undefined;
  identities(): IdentitySnapshot;
  /** Whether the predecessor still holds its interception lease. */
  predecessorRunning(): Promise<boolean>;
  /** The map holds every entry in force on the node: resyncs may drop elements it does not hold. */
  complete(): void;
  /** Commits what a merge added to the map. */
  commit(): void;
  logger: Logger;
}

export class StateHandover {
  private waiting = false;
  private timer: NodeJS.Timeout | undefined;
  private polling = Promise.resolve();
  private goneSince: number | undefined;

  constructor(private readonly parts: HandoverParts) {}

  /** Once this process took interception over; `predecessor`: whether one was still running. */
  begin(predecessor: boolean): void {
    if (!predecessor) return this.parts.complete();
    this.waiting = true;
    this.timer = setInterval(() => {
      // A failed poll is said and the next one tries again: nothing here may stop the process.
      this.polling = this.polling.then(() => this.poll()).catch((error: unknown) => this.parts.logger.error(`merging the predecessor's final save: ${errorText(error)}`));
    }, POLL_MS);
    this.timer.unref();
  }

  /**
   * At stop, once the queries drained: a final save of the predecessor that landed is
   * merged first, then the map is saved, to the handover file when a successor replaced
   * this process.
   */
  async end(replaced: boolean): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
    if (this.waiting) await this.parts.stateFile?.mergeHandover(this.parts.identities());
    this.waiting = false;
    await this.parts.stateFile?.save(replaced);
  }

  private async poll(): Promise<void> {
    if (!this.waiting) return;
    const { stateFile, logger } = this.parts;
    if (await stateFile?.mergeHandover(this.parts.identities())) return this.finish();
    // An nft that cannot answer says nothing about the predecessor: keep waiting.
    if (await this.parts.predecessorRunning().catch(() => true)) {
      this.goneSince = undefined;
      return;
    }
    this.goneSince ??= Date.now();
    if (Date.now() - this.goneSince < GRACE_MS) return;
    if (stateFile !== undefined) {
      logger.error(`the predecessor stopped without a final save (${stateFile.handoverPath}): what it learnt since its last save is not in the map, and the next full resync drops it`);
    }
    this.finish();
  }

  private finish(): void {
    this.waiting = false;
    clearInterval(this.timer);
    this.parts.commit();
    this.parts.complete();
  }
}
