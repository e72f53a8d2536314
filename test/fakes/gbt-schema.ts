import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validateXML } from 'xmllint-wasm';

/** The schema written from GB/T 35965.1-2018's tables (schemas/README.md names its sources). */
export const GBT_XSD_PATH = path.resolve(import.meta.dirname, '../../schemas/gbt35965/GBT35965.1-2018.xsd');
let xsd: string | undefined;

/** Validates a GB/T 35965.1 message with libxml2 (xmllint compiled to wasm). */
export async function validateGbt(xml: string): Promise<{ valid: boolean; errors: string[] }> {
  const result = await validateXML({ xml: [{ fileName: 'gbt35965.xml', contents: xml }], schema: [{ fileName: 'GBT35965.1-2018.xsd', contents: (xsd ??= readFileSync(GBT_XSD_PATH, 'utf8')) }] });
  return { valid: result.valid, errors: result.errors.map((e) => e.message) };
}
