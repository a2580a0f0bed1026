// Data-channel query parameters: names compared without case (real clients send
// `AckID`), empty pairs (`?Sid=5&&AckId=0`) ignored.
const ENCODED = /[%+]/;

export function queryParams(url: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = url.indexOf('?');
  if (q < 0) return out;
  for (const pair of url.slice(q + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    let name: string;
    let value: string;
    if (!ENCODED.test(pair)) {
      // Nothing escaped (what clients send): the text is the value.
      name = rawName.toLowerCase();
      value = rawValue;
    } else {
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' ')).toLowerCase();
        value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
      } catch {
        continue;
      }
    }
    if (name !== '' && !out.has(name)) out.set(name, value);
  }
  return out;
}

/** A non-negative integer, or undefined when absent; NaN when present but not one. */
export function intParam(params: Map<string, string>, name: string): number | undefined {
  const v = params.get(name);
  if (v === undefined || v.trim() === '') return undefined;
  return /^\s*\d{1,15}\s*$/.test(v) ? Number(v) : Number.NaN;
}
