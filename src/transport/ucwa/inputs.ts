// UCWA request inputs (ucwa-messaging.md §1.3): a JSON object, an XML `<input>`, a form,
// or query parameters; names are matched without case (traces send `EndpointId` and
// `endpointId`). Bodies are bounded before anything is parsed (the door reads at most
// --max-body-bytes); XML goes through the same hostile-input checks as CWA documents
// (no DOCTYPE, no entities, depth/element/attribute limits); JSON nesting is bounded
// by --max-xml-depth as well.
import { parseXmlTree, XmlRejectedError, type XmlLimits, type XNode } from '../../protocol/xml-tree.js';
import { UCWA_NS } from '../../protocol/ucwa/resource.js';

export type InputValue = string | string[] | null;

export class Input {
  private readonly props = new Map<string, InputValue>();
  private readonly links = new Map<string, string>();

  set(name: string, value: InputValue): void {
    this.props.set(name.toLowerCase(), value);
  }

  link(rel: string, href: string): void {
    this.links.set(rel.toLowerCase(), href);
  }

  has(name: string): boolean {
    return this.props.has(name.toLowerCase());
  }

  /** A scalar input; arrays give their first item. */
  str(name: string): string | undefined {
    const v = this.props.get(name.toLowerCase());
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v[0] : v;
  }

  /** The raw value, null included (operationId is echoed as sent). */
  raw(name: string): InputValue | undefined {
    return this.props.get(name.toLowerCase());
  }

  list(name: string): string[] | undefined {
    const v = this.props.get(name.toLowerCase());
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v : [v];
  }

  href(rel: string): string | undefined {
    return this.links.get(rel.toLowerCase());
  }

  /** Query parameters, for inputs that may come that way (`?to=`, `?operationId=`); the body wins. */
  addQuery(params: URLSearchParams): void {
    for (const [k, v] of params) if (!this.has(k)) this.set(k, v);
  }
}

export class InputError extends Error {
  constructor(
    readonly status: number,
    readonly subcode: string,
    message: string,
  ) {
    super(message);
  }
}

export function mimeOf(type: string | undefined): string {
  return (type ?? '').split(';')[0]!.trim().toLowerCase();
}

export function isJsonType(mime: string): boolean {
  return mime === 'application/json' || mime.endsWith('+json') || mime === 'text/json';
}

export function isXmlType(mime: string): boolean {
  return mime === 'application/xml' || mime === 'text/xml' || mime.endsWith('+xml');
}

/** The deepest nesting of a JSON text (outside strings), without parsing it. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function scalar(v: unknown): InputValue {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.filter((x) => typeof x === 'string' || typeof x === 'number').map(String);
  throw new InputError(400, 'ParameterValidationFailure', 'An input value must be a string, a number, a boolean, an array of strings or null.');
}

export function parseJsonInput(text: string, maxDepth: number): Input {
  const input = new Input();
  if (text.trim() === '') return input;
  if (jsonDepth(text) > maxDepth) throw new InputError(400, 'DeserializationFailure', `The JSON body is nested deeper than ${maxDepth} levels.`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError(400, 'DeserializationFailure', `The body is not valid JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError(400, 'DeserializationFailure', 'The JSON body must be an object of input properties.');
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k === '_links' && v && typeof v === 'object') {
      for (const [rel, l] of Object.entries(v as Record<string, unknown>)) {
        const href = l && typeof l === 'object' ? (l as { href?: unknown }).href : undefined;
        if (typeof href === 'string') input.link(rel, href);
      }
      continue;
    }
    if (k === '_embedded' || k === 'rel') continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) continue; // nested objects carry no input
    input.set(k, scalar(v));
  }
  return input;
}

export function parseXmlInput(text: string, limits: XmlLimits): Input {
  const input = new Input();
  if (text.trim() === '') return input;
  let root: XNode;
  try {
    root = parseXmlTree(text, limits);
  } catch (err) {
    if (err instanceof XmlRejectedError) throw new InputError(400, 'DeserializationFailure', `The XML body was refused: ${err.message}`);
    throw new InputError(400, 'DeserializationFailure', `The body is not well-formed XML: ${(err as Error).message}`);
  }
  if (root.name !== 'input' && root.name !== 'resource') throw new InputError(400, 'DeserializationFailure', `The XML root must be <input> (in ${UCWA_NS}), not <${root.name}>.`);
  if (root.ns !== UCWA_NS && root.ns !== '') throw new InputError(400, 'DeserializationFailure', `The <input> element must be in the namespace ${UCWA_NS}.`);
  for (const c of root.children) {
    const name = c.attrs.name;
    if (c.name === 'property' && name !== undefined) input.set(name, c.text);
    else if (c.name === 'propertyList' && name !== undefined) input.set(name, c.children.filter((i) => i.name === 'item').map((i) => i.text));
    else if (c.name === 'link' && c.attrs.rel !== undefined && c.attrs.href !== undefined) input.link(c.attrs.rel, c.attrs.href);
  }
  return input;
}

export function parseFormInput(text: string): Input {
  const input = new Input();
  for (const [k, v] of new URLSearchParams(text)) input.set(k, v);
  return input;
}
