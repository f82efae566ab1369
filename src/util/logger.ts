/** Where dnsgate's own messages go (not the DNS log): every stage that reports takes one. */
export interface Logger {
  info(message: string): void;
  error(message: string): void;
}

export const stderrLogger: Logger = {
  info: (message) => process.stderr.write(`dnsgate: ${message}\n`),
  error: (message) => process.stderr.write(`dnsgate: ${message}\n`),
};
