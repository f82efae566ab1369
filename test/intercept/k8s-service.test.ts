/**
 * The node-local DaemonSet's default, `--intercept k8s-service:kube-system/kube-dns`,
 * against real nftables on the node of node.ts. The Kubernetes API is FakeApiServer
 * (test/kube/fake-api.ts), the only fake these tests allow: no API server runs here.
 * The Service's ClusterIP and its endpoints' addresses are intercepted (behind a
 * connect-time load balancer a pod's packet carries a CoreDNS pod's address), and the
 * targets follow the EndpointSlice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dig } from '../helpers/dig.js';
import { waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';
import type { PodNetwork } from '../dataplane/topology.js';
import { SERVICE_POLL_MS } from '../../src/intercept/targets.js';
import { COREDNS_IP, KubeNode, SERVICE_IP, type NodeApi } from './node.js';

const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig', 'getent', 'musl-gcc');
const SERVICE_PATH = '/api/v1/namespaces/kube-system/services/kube-dns';
const SLICES_PATH = '/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices';
/** Where CoreDNS moves: no server listens there, so only interception answers. */
const NEW_ENDPOINT = '10.77.0.56';
let node: KubeNode;
let api: NodeApi;
let webA: PodNetwork;

const endpointSlice = (address: string) => ({
  metadata: { name: 'kube-dns-abcde', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'kube-dns' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: [address], conditions: { ready: true } }],
  ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }],
});

before(async () => {
  if (skip) return;
  node = await KubeNode.create(3);
  [webA] = node.pods;
  api = await node.startApi();
  await api.setObject(SERVICE_PATH, {
    metadata: { name: 'kube-dns', namespace: 'kube-system' },
    spec: { clusterIP: SERVICE_IP, clusterIPs: [SERVICE_IP], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] },
  });
  await api.setCollection(SLICES_PATH, [endpointSlice(COREDNS_IP)]);
  await node.startDnsgate(await freePort('127.0.0.1'), ['--deny-response', 'refused'], {
    intercept: ['k8s-service:kube-system/kube-dns'],
    env: { ...process.env, DNSGATE_KUBE_API: api.url },
  });
});

after(async () => {
  await node?.delete();
});

/** A name no rule allows: CoreDNS answers it, dnsgate refuses it for the enforced pod. */
const denied = (server: string, tcp = false) => dig('nope.denied.world', { server, port: 53, place: webA.namespace, tcp, timeout: 2 });

test('DNS to the ClusterIP and to the endpoint address is intercepted, over UDP and TCP, and teaches', { skip }, async () => {
  for (const server of [SERVICE_IP, COREDNS_IP]) {
    for (const tcp of [false, true]) {
      const answer = await denied(server, tcp);
      assert.equal(answer.status, 'REFUSED', `${server} ${tcp ? 'TCP' : 'UDP'}: dnsgate answered`);
      assert.ok(answer.output.includes(`SERVER: ${server}#53(${server})`), 'the answer comes from the address asked');
    }
  }
  const learnt = await dig('n1.allowed.world', { server: COREDNS_IP, port: 53, place: webA.namespace });
  assert.deepEqual(learnt.answers.map((record) => record.data), ['203.0.113.1']);
  assert.equal(await webA.agent.connects('203.0.113.1', 443), true, 'what the answer from the endpoint address taught is allowed');
});

test('targets follow the EndpointSlice: a new endpoint address is intercepted after the next poll, the old one no longer', { skip }, async () => {
  assert.equal((await denied(NEW_ENDPOINT)).timedOut, true, 'nothing answers the new address before the Service names it');
  await api.setCollection(SLICES_PATH, [endpointSlice(NEW_ENDPOINT)]);
  await waitFor(async () => (await denied(NEW_ENDPOINT)).status === 'REFUSED', SERVICE_POLL_MS * 6, 'interception of the new endpoint address');
  const answer = await dig('n2.allowed.world', { server: NEW_ENDPOINT, port: 53, place: webA.namespace, tcp: true });
  assert.deepEqual(answer.answers.map((record) => record.data), ['203.0.113.2'], 'TCP to the new address too');
  assert.equal(await webA.agent.connects('203.0.113.2', 443), true);
  // The old address is a target no more: CoreDNS there answers the pod itself.
  const old = await denied(COREDNS_IP);
  assert.deepEqual(old.answers.map((record) => record.data), ['203.0.113.51']);
  assert.equal((await denied(SERVICE_IP)).status, 'REFUSED', 'the ClusterIP stays intercepted');
});
