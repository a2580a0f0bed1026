// Every UCWA document the gateway emits is checked by the tests: XML against
// schemas/ucwa.xsd (libxml2), JSON against schemas/ucwa.schema.json (ajv).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DocumentSchema, schemaDir } from '../../src/protocol/schema.js';

let xsd: DocumentSchema | undefined;
type Check = ((doc: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
let json: Check | undefined;

export function expectValidUcwaXml(xml: string): void {
  xsd ??= DocumentSchema.load('ucwa.xsd');
  expect(xsd.errors(xml), `UCWA XML invalid against ucwa.xsd:\n${xml}`).to.deep.equal([]);
}

export function expectValidUcwaJson(text: string, where = ''): void {
  if (!json) {
    const Ajv = createRequire(import.meta.url)('ajv') as new (opts: object) => { compile(schema: unknown): Check };
    json = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(schemaDir(), 'ucwa.schema.json'), 'utf8')));
  }
  const doc = JSON.parse(text) as unknown;
  const ok = json(doc);
  expect(ok, `UCWA JSON invalid against ucwa.schema.json (${where}):\n${text}\n${JSON.stringify(json.errors?.slice(0, 5))}`).to.equal(true);
}
