// XSD validation with libxml2 (libxml2-wasm). Requests are validated one child of
// <cwaRequests> at a time, so one bad request in a batch gets its own answer while
// the rest of the batch runs; emitted documents are validated whole (tests, debug).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ParseOption, XmlDocument, XmlElement, XmlParseError, XsdValidator, XmlValidateError } from 'libxml2-wasm';
import { CompiledRequestSchema } from './compiled-schema.js';
import { XmlRejectedError, type XNode } from './xml-tree.js';

export const CWA_NAMESPACE = 'http://schemas.microsoft.com/2006/09/rtc/cwa';

/** Parse without network, external entities or DTD loading; the text was already screened. */
const SAFE_PARSE = ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE;

export function schemaDir(): string {
  // dist/src/protocol/schema.js -> <package>/schemas ; src/protocol/schema.ts -> <package>/schemas
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..';
  return path.resolve(here, up, 'schemas');
}

function loadValidator(file: string): XsdValidator {
  const text = readFileSync(file, 'utf8');
  const doc = XmlDocument.fromString(text, { url: `file://${file}`, option: SAFE_PARSE });
  try {
    return XsdValidator.fromDoc(doc);
  } finally {
    doc.dispose();
  }
}

function messages(err: unknown): string[] {
  if (err instanceof XmlValidateError) return err.details.map((d) => d.message.trim());
  return [err instanceof Error ? err.message : String(err)];
}

export type RequestVerdict =
  | { valid: true }
  | { valid: false; unknown: boolean; errors: string[] };

/**
 * How requests were validated, process-wide (exported as a metric): by the compiled
 * schema alone, or by libxml2 (a request the compiled schema did not find valid, or a
 * document it leaves alone); `disagreements` counts requests the compiled schema found
 * invalid and libxml2 valid (libxml2 wins; the differential test keeps this at zero).
 */
export const requestValidations = { compiled: 0, libxml2: 0, disagreements: 0 };

const VALID: RequestVerdict = Object.freeze({ valid: true });

export class RequestSchema {
  private constructor(
    private readonly validator: XsdValidator,
    readonly compiled: CompiledRequestSchema,
  ) {}

  static load(dir = schemaDir()): RequestSchema {
    const file = path.join(dir, 'cwa-requests.xsd');
    return new RequestSchema(loadValidator(file), CompiledRequestSchema.fromText(readFileSync(file, 'utf8')));
  }

  /**
   * The verdicts of validateRequests, from the tree the screener built out of `xmlText`:
   * the compiled schema decides when it finds every request valid; otherwise libxml2
   * parses and validates the text as before, for its verdicts and messages.
   */
  validateTree(root: XNode, xmlText: string): RequestVerdict[] {
    const fast = this.compiled.validateBatch(root, xmlText);
    if (fast && fast.every((v) => v === true)) {
      requestValidations.compiled += fast.length;
      return fast.map(() => VALID);
    }
    const verdicts = this.validateRequests(xmlText, root.ns === '');
    requestValidations.libxml2 += verdicts.length;
    if (fast && fast.length === verdicts.length) {
      fast.forEach((v, i) => {
        if (v === false && verdicts[i]!.valid) requestValidations.disagreements += 1;
      });
    }
    return verdicts;
  }

  /**
   * Validates each child element of the <cwaRequests> root separately and returns
   * one verdict per child element, in document order. `addNamespace` puts the CWA
   * namespace on a root that was sent without one (the logon request may omit it).
   */
  validateRequests(xmlText: string, addNamespace: boolean): RequestVerdict[] {
    const text = addNamespace ? xmlText.replace(/<cwaRequests(?=[\s>/])/, `<cwaRequests xmlns="${CWA_NAMESPACE}"`) : xmlText;
    let doc: XmlDocument;
    try {
      doc = XmlDocument.fromString(text, { option: SAFE_PARSE });
    } catch (err) {
      // saxes let the text through and libxml2 does not (an xmlns that is not a URI, found by
      // fuzzing): the document is refused as malformed, like any other parse error.
      if (err instanceof XmlParseError) throw new XmlRejectedError('malformed', `malformed XML: ${err.message.split('\n')[0]!.trim()}`);
      throw err;
    }
    try {
      const verdicts: RequestVerdict[] = [];
      for (let node = doc.root.firstChild; node; node = node.next) {
        if (!(node instanceof XmlElement)) continue;
        try {
          this.validator.validate(node);
          verdicts.push({ valid: true });
        } catch (err) {
          const errors = messages(err);
          const unknown = errors.some((m) => m.includes('No matching global declaration'));
          verdicts.push({ valid: false, unknown, errors });
        }
      }
      return verdicts;
    } finally {
      doc.dispose();
    }
  }

  dispose(): void {
    this.validator.dispose();
  }
}

/** Validates whole emitted documents (cwaResponses, cwaEvents, WebSocket frames). */
export class DocumentSchema {
  private constructor(private readonly validator: XsdValidator) {}

  static load(file: 'cwa-responses.xsd' | 'cwa-events.xsd' | 'ws-frames.xsd' | 'ucwa.xsd', dir = schemaDir()): DocumentSchema {
    return new DocumentSchema(loadValidator(path.join(dir, file)));
  }

  /** Returns the validation errors; an empty list means valid. */
  errors(xmlText: string): string[] {
    let doc: XmlDocument;
    try {
      doc = XmlDocument.fromString(xmlText, { option: SAFE_PARSE });
    } catch (err) {
      return messages(err);
    }
    try {
      this.validator.validate(doc);
      return [];
    } catch (err) {
      return messages(err);
    } finally {
      doc.dispose();
    }
  }

  dispose(): void {
    this.validator.dispose();
  }
}
