import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DomainIndex } from '../../src/policy/domain-index.js';
import { checkDomainPattern, isUnderDomain, normalizeQueryName } from '../../src/policy/domain-pattern.js';
import { TESTDATA } from './files.js';

interface DomainCases {
  valid: string[];
  invalid: string[];
  matches: [string, string, boolean][];
}

const testdata = JSON.parse(readFileSync(join(TESTDATA, 'domain-patterns.json'), 'utf8')) as DomainCases;

function reasonOf(pattern: string): string {
  const check = checkDomainPattern(pattern);
  assert.ok(!check.ok, `${JSON.stringify(pattern)} was accepted`);
  return check.reason;
}

test('every shared valid pattern is accepted', () => {
  for (const pattern of testdata.valid) assert.deepEqual(checkDomainPattern(pattern), { ok: true, pattern }, pattern);
});

test('every shared invalid pattern is refused', () => {
  for (const pattern of testdata.invalid) reasonOf(pattern);
});

test('every shared match case holds, alone in an index', () => {
  for (const [pattern, name, expected] of testdata.matches) {
    const index = new DomainIndex<string>();
    index.add(pattern, pattern);
    assert.deepEqual(index.lookup(name), expected ? [pattern] : [], `${pattern} vs ${name}`);
  }
});

test('every shared match case holds with all the patterns in one index', () => {
  const index = new DomainIndex<string>();
  for (const pattern of new Set(testdata.matches.map(([pattern]) => pattern))) index.add(pattern, pattern);
  for (const [pattern, name, expected] of testdata.matches) {
    assert.equal(index.lookup(name).includes(pattern), expected, `${pattern} vs ${name}`);
  }
});

test('each rule of pattern validation has its own reason', () => {
  assert.match(reasonOf(''), /empty domain/);
  assert.match(reasonOf('example.com.'), /must not end with "\."/);
  assert.match(reasonOf('*'), /bare "\*"/);
  assert.match(reasonOf('*.*.mycompany.com'), /only one "\*"/);
  assert.match(reasonOf('www.g*.com'), /whole label/);
  assert.match(reasonOf('www.google.*'), /cannot be the last label/);
  assert.match(reasonOf('a..b.com'), /empty label/);
  assert.match(reasonOf('.a.com'), /empty label/);
  assert.match(reasonOf('exa mple.com'), /invalid character " "/);
  assert.match(reasonOf('_dmarc.example.com'), /invalid character "_"/);
  assert.match(reasonOf(`${'a'.repeat(250)}.com`), /longer than 253/);
  assert.deepEqual(checkDomainPattern(`${'a.'.repeat(126)}b`), { ok: true, pattern: `${'a.'.repeat(126)}b` });
});

test('labels are DNS-1123 labels, as Calico checks them: no "-" at either end, at most 63 characters', () => {
  assert.match(reasonOf('-api.example.com'), /label "-api" must start and end with a letter or digit/);
  assert.match(reasonOf('api-.example.com'), /label "api-" must start and end with a letter or digit/);
  assert.match(reasonOf('*.-example.com'), /label "-example"/);
  assert.match(reasonOf('api.example.com-'), /label "com-"/);
  assert.match(reasonOf(`${'a'.repeat(64)}.com`), /label longer than 63/);
  for (const pattern of ['a-b.example.com', 'x--y.example.com', `${'a'.repeat(63)}.com`, '1.example.com']) {
    assert.deepEqual(checkDomainPattern(pattern), { ok: true, pattern }, pattern);
  }
});

test('patterns are lowercased before checking', () => {
  assert.deepEqual(checkDomainPattern('API.Alice.COM'), { ok: true, pattern: 'api.alice.com' });
  assert.deepEqual(checkDomainPattern('*.Example.com'), { ok: true, pattern: '*.example.com' });
});

test('queried names compare in lowercase without their trailing dot', () => {
  assert.equal(normalizeQueryName('WWW.Example.COM.'), 'www.example.com');
  const index = new DomainIndex<number>();
  index.add('Update.*.MyCompany.com', 1);
  assert.deepEqual(index.lookup('UPDATE.tools.mycompany.COM.'), [1]);
  assert.deepEqual(index.lookup('update.tools.mycompany.com..'), []);
});

test('names compare by labels: a dot inside a label (written \\.) is no label boundary', () => {
  const index = new DomainIndex<string>();
  index.add('*.example.com', 'under-example');
  index.add('*.com', 'under-com');
  index.add('example.com', 'exact');
  assert.deepEqual(index.lookup('evil\\.example.com'), ['under-com'], 'one label `evil.example` under com');
  assert.deepEqual(index.lookup('a.evil\\.example.com'), ['under-com']);
  assert.deepEqual(index.lookup('example\\.com'), [], 'one label, not example.com');
  assert.deepEqual(new Set(index.lookup('a\\\\.example.com')), new Set(['under-example', 'under-com']), 'an escaped backslash ends its label');
  assert.equal(normalizeQueryName('Evil\\.Example.com.'), 'evil\\046example.com');
});

test('a lookup returns the values of every matching pattern, exact and wildcard', () => {
  const index = new DomainIndex<string>();
  index.add('www.example.com', 'exact');
  index.add('*.example.com', 'suffix');
  index.add('www.*.com', 'middle');
  index.add('*.com', 'tld');
  index.add('www.example.com', 'exact-again');
  index.add('*.www.example.com', 'deeper');
  assert.equal(index.size, 6);
  assert.deepEqual(new Set(index.lookup('www.example.com')), new Set(['exact', 'suffix', 'middle', 'tld', 'exact-again']));
  assert.deepEqual(new Set(index.lookup('a.www.example.com')), new Set(['suffix', 'tld', 'deeper']));
  assert.deepEqual(new Set(index.lookup('www.a.b.com')), new Set(['middle', 'tld']));
  assert.deepEqual(index.lookup('example.com'), ['tld']);
  assert.deepEqual(index.lookup('com'), []);
  assert.deepEqual(index.lookup('www.example.org'), []);
  assert.deepEqual(index.lookup(''), []);
});

test('the wildcard needs at least one label between the prefix and the suffix', () => {
  const index = new DomainIndex<string>();
  index.add('a.b.*.y.z', 'p');
  assert.deepEqual(index.lookup('a.b.y.z'), []);
  assert.deepEqual(index.lookup('a.b.c.y.z'), ['p']);
  assert.deepEqual(index.lookup('a.b.c.d.e.y.z'), ['p']);
  assert.deepEqual(index.lookup('a.x.c.y.z'), []);
  assert.deepEqual(index.lookup('b.c.y.z'), []);
  assert.deepEqual(index.lookup('a.b.c.y'), []);
});

test('adding a pattern Calico rejects throws', () => {
  const index = new DomainIndex<number>();
  assert.throws(() => index.add('www.g*.com', 1), /invalid domain pattern "www\.g\*\.com": "\*" must be a whole label/);
  assert.equal(index.size, 0);
});

test('the index agrees with a direct matcher on random patterns and names', () => {
  let state = 7;
  const next = (): number => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
  const labels = ['a', 'b', 'c', 'www', 'com'];
  const randomName = (): string[] => Array.from({ length: 1 + Math.floor(next() * 5) }, () => labels[Math.floor(next() * labels.length)]);
  // A direct reading of the rule: the `*` takes one or more labels at its place.
  const matches = (pattern: string[], name: string[]): boolean => {
    const star = pattern.indexOf('*');
    if (star < 0) return pattern.join('.') === name.join('.');
    const before = pattern.slice(0, star);
    const after = pattern.slice(star + 1);
    return (
      name.length >= before.length + after.length + 1 &&
      before.every((label, i) => name[i] === label) &&
      after.every((label, i) => name[name.length - after.length + i] === label)
    );
  };
  const patterns: string[][] = [];
  const index = new DomainIndex<number>();
  for (let i = 0; i < 300; i++) {
    const pattern = randomName();
    if (next() < 0.5 && pattern.length > 1) pattern[Math.floor(next() * (pattern.length - 1))] = '*';
    patterns.push(pattern);
    index.add(pattern.join('.'), i);
  }
  for (let i = 0; i < 2000; i++) {
    const name = randomName();
    const expected = patterns.flatMap((pattern, id) => (matches(pattern, name) ? [id] : []));
    assert.deepEqual([...index.lookup(name.join('.'))].sort((a, b) => a - b), expected, name.join('.'));
  }
});

test('isUnderDomain matches a domain and names below it, by whole labels only', () => {
  const domains = ['cluster.local', 'svc.example'];
  assert.equal(isUnderDomain('cluster.local', domains), true);
  assert.equal(isUnderDomain('kube-dns.kube-system.svc.cluster.local', domains), true);
  assert.equal(isUnderDomain('a.svc.example', domains), true);
  assert.equal(isUnderDomain('evilcluster.local', domains), false);
  assert.equal(isUnderDomain('local', domains), false);
  assert.equal(isUnderDomain('cluster.local.attacker.com', domains), false);
  assert.equal(isUnderDomain('cluster.local', []), false);
});
