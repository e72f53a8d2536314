/**
 * What is kept of an endpoint's answer. Receipts are stored per delivery and shown to command staff;
 * a head-end may answer with anything, so only a short head of it is worth keeping.
 */
export const RECEIPT_MAX_BYTES = 512;

/** The longest prefix of `text` that fits in `maxBytes` of UTF-8, never cutting a character in two. */
export function truncateUtf8(text: string, maxBytes: number = RECEIPT_MAX_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
