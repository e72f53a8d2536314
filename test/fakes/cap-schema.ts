import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { validateXML } from 'xmllint-wasm';

/** The official OASIS schema, kept in the repo (schemas/README.md names its source). */
export const CAP_XSD_PATH = path.resolve(import.meta.dirname, '../../schemas/cap/CAP-v1.2.xsd');

let xsd: string | undefined;
function schema(): string {
  if (!existsSync(CAP_XSD_PATH)) throw new Error(`CAP schema not found at ${CAP_XSD_PATH} (it is kept in the repo at schemas/cap/)`);
  return (xsd ??= readFileSync(CAP_XSD_PATH, 'utf8'));
}

/** Validates a CAP alert against CAP-v1.2.xsd with libxml2 (xmllint compiled to wasm). */
export async function validateCap(xml: string): Promise<{ valid: boolean; errors: string[] }> {
  const result = await validateXML({ xml: [{ fileName: 'alert.xml', contents: xml }], schema: [{ fileName: 'CAP-v1.2.xsd', contents: schema() }] });
  return { valid: result.valid, errors: result.errors.map((e) => e.message) };
}
