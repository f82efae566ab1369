/** DNS over TCP framing (RFC 1035 4.2.2): each message behind a 2-byte length. */

/** Reassembles length-prefixed messages from stream chunks. */
export class FrameDecoder {
  private pending: Buffer | undefined;

  /**
   * Adds a chunk and calls `onMessage` for each complete message. Returns false at a
   * length below `minLength`, after which the stream cannot be trusted.
   */
  push(chunk: Buffer, minLength: number, onMessage: (message: Buffer) => void): boolean {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let offset = 0;
    while (data.length - offset >= 2) {
      const length = data.readUInt16BE(offset);
      if (length < minLength) return false;
      if (data.length - offset - 2 < length) break;
      onMessage(data.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    if (offset < data.length) this.pending = data.subarray(offset);
    return true;
  }
}

/** `message` behind its 2-byte length, in one buffer so that it is one write. */
export function frame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(message.length + 2);
  framed.writeUInt16BE(message.length, 0);
  framed.set(message, 2);
  return framed;
}
