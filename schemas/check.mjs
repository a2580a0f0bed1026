#!/usr/bin/env node
// Validates every sample in schemas/samples/ against the cwa-gateway schemas.
//
//   node schemas/check.mjs [-v]
//
// Sample naming:
//   requests-*.xml   -> cwa-requests.xsd (root in the cwa namespace) or
//                       cwa-logon.xsd (un-namespaced sign-in body).
//                       The <cwaRequests> envelope is validated, then EACH
//                       CHILD ELEMENT separately (as the server does); a child
//                       without a global declaration is a failure.
//   responses-*.xml  -> cwa-responses.xsd (whole document)
//   events-*.xml     -> cwa-events.xsd (whole document)
//   frames-*.xml     -> ws-frames.xsd (whole document: WebSocket ack/ticket frames)
//   *.invalid.xml    -> must FAIL validation; everything else must pass.
//
// Also checks that the named types duplicated between cwa-responses.xsd and
// cwa-events.xsd (the "shared" block) are identical.
//
// Exit status: 0 when every expectation holds, 1 otherwise.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { XmlDocument, XmlElement, XsdValidator } from 'libxml2-wasm';

const CWA_NS = 'http://schemas.microsoft.com/2006/09/rtc/cwa';
const XS_NS = 'http://www.w3.org/2001/XMLSchema';
const here = path.dirname(fileURLToPath(import.meta.url));
const samplesDir = path.join(here, 'samples');
const verbose = process.argv.includes('-v');

function loadSchema(file) {
  const text = fs.readFileSync(path.join(here, file), 'utf8');
  const doc = XmlDocument.fromString(text, { url: `file://${path.join(here, file)}` });
  return { doc, validator: XsdValidator.fromDoc(doc) };
}

const schemas = {
  requests: loadSchema('cwa-requests.xsd'),
  logon: loadSchema('cwa-logon.xsd'),
  responses: loadSchema('cwa-responses.xsd'),
  events: loadSchema('cwa-events.xsd'),
  frames: loadSchema('ws-frames.xsd'),
};

function firstError(e) {
  const d = e && e.details && e.details[0];
  return (d ? `line ${d.line}: ${d.message}` : String(e && e.message)).trim();
}

// Returns a list of error strings (empty = valid).
function validateSample(kind, xmlText) {
  let doc;
  try {
    doc = XmlDocument.fromString(xmlText);
  } catch (e) {
    return [`not well-formed: ${firstError(e)}`];
  }
  const errors = [];
  try {
    if (kind === 'requests') {
      const root = doc.root;
      const schema = root.namespaceUri === CWA_NS ? schemas.requests : schemas.logon;
      try {
        schema.validator.validate(doc); // envelope (children are skipped)
      } catch (e) {
        errors.push(`cwaRequests: ${firstError(e)}`);
      }
      let n = 0;
      for (let c = root.firstChild; c; c = c.next) {
        if (!(c instanceof XmlElement)) continue;
        n += 1;
        try {
          schema.validator.validate(c);
        } catch (e) {
          errors.push(`<${c.name}> #${n}: ${firstError(e)}`);
        }
      }
      if (n === 0) errors.push('cwaRequests has no request element');
    } else {
      try {
        schemas[kind].validator.validate(doc);
      } catch (e) {
        errors.push(firstError(e));
      }
    }
  } finally {
    doc.dispose();
  }
  return errors;
}

// --- shared-type drift check -------------------------------------------------
function namedTypes(schemaDoc) {
  const map = new Map();
  for (const node of schemaDoc.find('/xs:schema/xs:simpleType | /xs:schema/xs:complexType', { xs: XS_NS })) {
    map.set(node.get('@name').content, node.toString());
  }
  return map;
}

let failures = 0;
{
  const a = namedTypes(schemas.responses.doc);
  const b = namedTypes(schemas.events.doc);
  const shared = [...a.keys()].filter((k) => b.has(k));
  const drift = shared.filter((k) => a.get(k) !== b.get(k));
  if (drift.length) {
    failures += drift.length;
    for (const k of drift) console.log(`FAIL  shared type ${k} differs between cwa-responses.xsd and cwa-events.xsd`);
  } else {
    console.log(`ok    shared types identical in responses/events (${shared.join(', ')})`);
  }
}

// --- samples -------------------------------------------------------------
const files = fs.readdirSync(samplesDir).filter((f) => f.endsWith('.xml')).sort();
let passed = 0;
for (const f of files) {
  const kind = f.split('-')[0];
  if (!['requests', 'responses', 'events', 'frames'].includes(kind)) {
    console.log(`FAIL  ${f}: unknown sample prefix (use requests-/responses-/events-/frames-)`);
    failures += 1;
    continue;
  }
  const expectInvalid = f.endsWith('.invalid.xml');
  const errors = validateSample(kind, fs.readFileSync(path.join(samplesDir, f), 'utf8'));
  const valid = errors.length === 0;
  if (valid !== expectInvalid) {
    passed += 1;
    const note = expectInvalid ? `rejected as expected: ${errors[0]}` : 'valid';
    console.log(`ok    ${f}${verbose || expectInvalid ? ` (${note})` : ''}`);
  } else {
    failures += 1;
    console.log(`FAIL  ${f}: ${expectInvalid ? 'expected INVALID but it passed' : errors[0]}`);
    if (verbose) for (const e of errors.slice(1)) console.log(`        ${e}`);
  }
}

for (const s of Object.values(schemas)) {
  s.validator.dispose();
  s.doc.dispose();
}

console.log(`\n${passed}/${files.length} samples as expected, ${failures} failure(s)`);
process.exit(failures ? 1 : 0);
