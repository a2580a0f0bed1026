// Small, allocation-light helpers for emitting XML text. Every document the
// gateway emits is built from these, so escaping lives in exactly one place.

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const ATTR_ESCAPES: Record<string, string> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\n': '&#10;', '\r': '&#13;', '\t': '&#9;',
};

export function escapeText(s: string): string {
  return /[&<>]/.test(s) ? s.replace(/[&<>]/g, (c) => TEXT_ESCAPES[c]!) : s;
}

export function escapeAttr(s: string): string {
  return /[&<>"\n\r\t]/.test(s) ? s.replace(/[&<>"\n\r\t]/g, (c) => ATTR_ESCAPES[c]!) : s;
}

export type AttrValue = string | number | boolean | undefined | null;

/** Renders ` a="1" b="x"`, skipping undefined/null values. */
export function attrs(values: Record<string, AttrValue>): string {
  let out = '';
  for (const key in values) {
    const v = values[key];
    if (v === undefined || v === null) continue;
    out += ` ${key}="${escapeAttr(String(v))}"`;
  }
  return out;
}

/** `<name attrs>inner</name>`, or `<name attrs/>` when inner is empty. `inner` must already be XML. */
export function element(name: string, attributes: Record<string, AttrValue> = {}, inner = ''): string {
  const a = attrs(attributes);
  return inner === '' ? `<${name}${a}/>` : `<${name}${a}>${inner}</${name}>`;
}

/** `<name attrs>escaped text</name>`. */
export function textElement(name: string, text: string, attributes: Record<string, AttrValue> = {}): string {
  return `<${name}${attrs(attributes)}>${escapeText(text)}</${name}>`;
}
