// Data-channel query parameters: names compared without case (real clients send
// `AckID`), empty pairs (`?Sid=5&&AckId=0`) ignored.
const ENCODED = /[%+]/;

export function queryParams(url: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = url.indexOf('?');
  if (q < 0) return out;
  // Nothing escaped (what clients send): each pair's text is its name and value.
  const plain = !ENCODED.test(url.slice(q + 1));
  let from = q + 1;
  while (from <= url.length) {
    let to = url.indexOf('&', from);
    if (to < 0) to = url.length;
    if (to > from) {
      const eq = url.indexOf('=', from);
      const split = eq >= 0 && eq < to;
      const rawName = url.slice(from, split ? eq : to);
      const rawValue = split ? url.slice(eq + 1, to) : '';
      let name: string | undefined;
      let value = rawValue;
      if (plain) name = rawName.toLowerCase();
      else {
        try {
          name = decodeURIComponent(rawName.replace(/\+/g, ' ')).toLowerCase();
          value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
        } catch {
          name = undefined;
        }
      }
      if (name !== undefined && name !== '' && !out.has(name)) out.set(name, value);
    }
    from = to + 1;
  }
  return out;
}

/** A non-negative integer, or undefined when absent; NaN when present but not one. */
export function intParam(params: Map<string, string>, name: string): number | undefined {
  const v = params.get(name);
  if (v === undefined) return undefined;
  if (digits(v)) return Number(v);
  if (v.trim() === '') return undefined;
  return /^\s*\d{1,15}\s*$/.test(v) ? Number(v) : Number.NaN;
}

/** 1 to 15 ASCII digits and nothing else (what clients send). */
function digits(v: string): boolean {
  if (v.length === 0 || v.length > 15) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
