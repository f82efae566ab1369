/**
 * Run by test/dataplane/netlink.test.ts inside a network namespace (a process's netlink
 * socket reaches its own namespace's ruleset): opens dnsgate's netlink path to the table
 * argv[2], sends each batch of argv[3] (JSON: ElementCommand[][]) in turn, and prints
 * one JSON line: how the socket opened, then each batch's outcome, and why the socket
 * may no longer be used. With argv[4] `close-first`, the socket is closed before the
 * batches are sent; with `together`, every batch is sent before any answer is read.
 */
import { NetlinkElements } from '../../src/dataplane/nftables/netlink.js';
import type { ElementCommand } from '../../src/dataplane/nftables/transaction.js';

const [table, batchesJson, mode] = process.argv.slice(2);
const opened = await NetlinkElements.open(table);
const outcomes: string[] = [];
let unusable: string | undefined;
if (typeof opened !== 'string') {
  if (mode === 'close-first') opened.close();
  const outcome = (commands: ElementCommand[]): Promise<string> =>
    opened.run(commands).then(
      () => 'applied',
      (error: Error) => error.message,
    );
  const batches = JSON.parse(batchesJson) as ElementCommand[][];
  if (mode === 'together') outcomes.push(...(await Promise.all(batches.map(outcome))));
  else for (const commands of batches) outcomes.push(await outcome(commands));
  unusable = opened.unusableReason;
  opened.close();
}
process.stdout.write(JSON.stringify({ opened: typeof opened === 'string' ? opened : 'open', outcomes, unusable }));
