/**
 * Special-purpose addresses that an answer never teaches by default: a name that
 * resolves to one is a sinkhole, a misconfiguration or an attempt to reach the node
 * itself (loopback) or the cloud metadata service (169.254.169.254). A pod that truly
 * needs one gets it from a rule whose `nets` lists it.
 *
 * IPv4 (RFC 6890): 0.0.0.0/8 (this network, unspecified), 127.0.0.0/8 (loopback),
 * 169.254.0.0/16 (link-local), 224.0.0.0/4 (multicast), 255.255.255.255 (broadcast).
 * IPv6 (RFC 4291): :: (unspecified), ::1 (loopback), fe80::/10 (link-local),
 * ff00::/8 (multicast); IPv4-mapped addresses (::ffff:0:0/96) are judged as their IPv4
 * address by the caller.
 */

/** Whether the address of `length` bytes (4 or 16) at `offset` is special-purpose. */
export function isSpecialPurpose(bytes: Uint8Array, offset: number, length: 4 | 16): boolean {
  const first = bytes[offset];
  if (length === 4) {
    const second = bytes[offset + 1];
    if (first === 0 || first === 127 || (first & 0xf0) === 224) return true;
    if (first === 169 && second === 254) return true;
    return first === 255 && second === 255 && bytes[offset + 2] === 255 && bytes[offset + 3] === 255;
  }
  if (first === 0xff) return true;
  if (first === 0xfe && (bytes[offset + 1] & 0xc0) === 0x80) return true;
  for (let i = 0; i < 15; i++) if (bytes[offset + i] !== 0) return false;
  const last = bytes[offset + 15];
  return last === 0 || last === 1;
}
