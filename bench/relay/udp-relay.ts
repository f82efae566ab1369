/**
 * The bare relay: the least a Node UDP DNS proxy can do, as the floor every Node
 * proxy here is compared with. It forwards each query upstream under a fresh ID and
 * sends the reply back under the client's ID; nothing else (no checks, no parsing,
 * no timeouts, no metrics).
 *
 *   node udp-relay.js LISTEN_ADDRESS LISTEN_PORT UPSTREAM_ADDRESS UPSTREAM_PORT
 */
import { createSocket } from 'node:dgram';

const [listenAddress, listenPort, upstreamAddress, upstreamPort] = process.argv.slice(2);

/** The same socket buffers as dnsgate's, so neither drops more under a burst. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const ID_SPACE = 65536;
const HEADER_LENGTH = 12;

// Who asked, by upstream ID: typed arrays and one array of strings, no per-query objects.
const clientIds = new Uint16Array(ID_SPACE);
const clientPorts = new Uint16Array(ID_SPACE);
const clientAddresses = new Array<string>(ID_SPACE).fill('');
let nextId = 0;

const options = { type: 'udp4', recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES } as const;
const clients = createSocket(options);
const upstream = createSocket(options);

clients.on('message', (query, from) => {
  if (query.length < HEADER_LENGTH) return;
  const id = nextId;
  nextId = (nextId + 1) & 0xffff;
  clientIds[id] = query.readUInt16BE(0);
  clientPorts[id] = from.port;
  clientAddresses[id] = from.address;
  query.writeUInt16BE(id, 0);
  upstream.send(query);
});

upstream.on('message', (reply) => {
  if (reply.length < HEADER_LENGTH) return;
  const id = reply.readUInt16BE(0);
  reply.writeUInt16BE(clientIds[id], 0);
  clients.send(reply, clientPorts[id], clientAddresses[id]);
});

upstream.connect(Number(upstreamPort), upstreamAddress);
clients.bind(Number(listenPort), listenAddress);
process.on('SIGTERM', () => process.exit(0));
