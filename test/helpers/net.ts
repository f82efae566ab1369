/** Loopback addresses and ports for one test file, so that files run side by side. */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { randomInt } from 'node:crypto';

/**
 * A random 127.A.B.0/24 for this test file. Every 127/8 address is local on Linux,
 * so servers and clients get distinct addresses without any setup.
 */
export class LoopbackSubnet {
  readonly prefix = `127.${randomInt(1, 255)}.${randomInt(1, 255)}`;

  address(host: number): string {
    return `${this.prefix}.${host}`;
  }
}

/** A port free for both UDP and TCP on `address` right now. */
export async function freePort(address: string): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, address, () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, address, () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}
