import type { Responder, Transport } from '../query.js';

/** Receives every client message a listener reads. */
export interface QueryHandler {
  onMessage(message: Buffer, transport: Transport, address: string, port: number, responder: Responder): void;
}
