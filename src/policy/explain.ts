/**
 * The answer to "may the client at IP reach NAME?": the object `dnsgate explain --json`
 * prints and the admin API's `GET /v1/explain` returns, and its text form.
 */
import type { Pod } from '../identity/pod.js';
import { canonicalIp } from '../net/address.js';
import type { AllowRule, PolicyEngine } from './engine.js';

export interface Explanation {
  /** Not enforced (unrestricted), or at least one egress Allow rule allows the name. */
  allowed: boolean;
  enforced: boolean;
  /** Null when no known pod has the IP. */
  client: { ip: string; namespace: string; name: string } | null;
  /** References `TIER|POLICY|allow|INDEX` of the allowing rules, in evaluation order. */
  rules: string[];
}

interface Decision {
  ip: string;
  pod: Pod | undefined;
  enforced: boolean;
  allowing: readonly AllowRule[];
}

function decide(engine: PolicyEngine, clientIp: string, name: string): Decision {
  const ip = canonicalIp(clientIp);
  if (ip === undefined) throw new TypeError(`not an IP address: ${JSON.stringify(clientIp)}`);
  const pod = engine.identities.podByIp(ip);
  const client = engine.forClient(pod);
  return { ip, pod, enforced: client.enforced, allowing: client.allowingRules(name) };
}

/** `clientIp` in any textual form; throws TypeError when it is not an IP address. */
export function explain(engine: PolicyEngine, clientIp: string, name: string): Explanation {
  const { ip, pod, enforced, allowing } = decide(engine, clientIp, name);
  return {
    allowed: !enforced || allowing.length > 0,
    enforced,
    client: pod ? { ip, namespace: pod.namespace, name: pod.name } : null,
    rules: allowing.map((rule) => rule.ref),
  };
}

/** A few human-readable lines saying the same as `explain`, with the matching patterns. */
export function explainText(engine: PolicyEngine, clientIp: string, name: string): string {
  const { ip, pod, enforced, allowing } = decide(engine, clientIp, name);
  const who = pod ? `pod ${pod.namespace}/${pod.name} (${ip})` : `${ip} (no known pod)`;
  if (!enforced) return `${name}: allowed for ${who}: no egress policy applies to it, so its egress is unrestricted\n`;
  if (allowing.length === 0) return `${name}: not allowed for ${who}: egress policies apply to it and no egress Allow rule matches the name\n`;
  const lines = allowing.map((rule) => `  ${rule.ref}  (${rule.patterns.join(', ')})`);
  return `${name}: allowed for ${who} by:\n${lines.join('\n')}\n`;
}
