import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { validateXML } from 'xmllint-wasm';

/** The official OASIS schema, beside the repo (CI checks out ../shared next to it). */
export const CAP_XSD_PATH = path.resolve(import.meta.dirname, '../../../shared/cap/CAP-v1.2.xsd');

let xsd: string | undefined;
function schema(): string {
  if (!existsSync(CAP_XSD_PATH)) throw new Error(`CAP schema not found at ${CAP_XSD_PATH} (expected ../shared/cap/CAP-v1.2.xsd beside the repo)`);
  return (xsd ??= readFileSync(CAP_XSD_PATH, 'utf8'));
}

/** Validates a CAP alert against CAP-v1.2.xsd with libxml2 (xmllint compiled to wasm). */
export async function validateCap(xml: string): Promise<{ valid: boolean; errors: string[] }> {
  const result = await validateXML({ xml: [{ fileName: 'alert.xml', contents: xml }], schema: [{ fileName: 'CAP-v1.2.xsd', contents: schema() }] });
  return { valid: result.valid, errors: result.errors.map((e) => e.message) };
}
