// The characters of a request body. Legacy clients post XML in their platform's charset:
// UTF-8, UTF-16, ISO-8859-1 / windows-1252 (a Java library on Windows), Shift_JIS … The
// charset is found as RFC 7303 (XML media types) and the XML spec's appendix F find it:
//   1. a byte order mark (UTF-8, UTF-16LE, UTF-16BE) decides;
//   2. else the Content-Type's charset parameter, which is authoritative over the document;
//   3. else the XML declaration's encoding (read in ASCII, or in UTF-16 when the first
//      bytes are "<\0?\0" / "\0<\0?");
//   4. else UTF-8, and when the bytes are not UTF-8, the configured fallback charset
//      (a client that declares nothing and writes its platform's charset), if any.
// Bytes that are not valid in the charset found are refused (400): a charset named by the
// client (steps 1-3) is never second-guessed. A charset Node cannot decode is refused (415).

export type CharsetOutcome =
  | { ok: true; text: string; charset: string }
  | { ok: false; status: 400 | 415; detail: string };

/** Labels already looked up (clients name a handful; the map stops growing at 256 of them). */
const KNOWN_LABELS = new Map<string, string | null>();

/** The WHATWG name of a charset label Node can decode (`latin1` -> windows-1252), or undefined. */
export function supportedCharset(label: string): string | undefined {
  const known = KNOWN_LABELS.get(label);
  if (known !== undefined) return known ?? undefined;
  let name: string | null;
  try {
    name = new TextDecoder(label.trim()).encoding;
    // "replacement" stands for ISO-2022-KR and the like: it decodes nothing.
    if (name === 'replacement') name = null;
  } catch {
    name = null;
  }
  if (KNOWN_LABELS.size < 256) KNOWN_LABELS.set(label, name);
  return name ?? undefined;
}

/** The charset parameter of a Content-Type, unquoted, if any. */
export function charsetParameter(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType);
  const value = m ? (m[1] ?? m[2] ?? '') : undefined;
  return value === undefined || value === '' ? undefined : value;
}

/** The encoding pseudo-attribute of an XML declaration at the start of `head`. */
const DECLARATION = /^<\?xml\s+version\s*=\s*(["'])[^"']*\1(?:\s+encoding\s*=\s*(["'])([A-Za-z][\w.:-]*)\2)?/;

function bomOf(b: Uint8Array): { charset: string; length: number } | undefined {
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return { charset: 'utf-8', length: 3 };
  if (b[0] === 0xff && b[1] === 0xfe) return { charset: 'utf-16le', length: 2 };
  if (b[0] === 0xfe && b[1] === 0xff) return { charset: 'utf-16be', length: 2 };
  return undefined;
}

/** UTF-16 without a byte order mark, told apart by the first character being ASCII ("<" or a space). */
function sniffUtf16(b: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  if (b.length < 2) return undefined;
  if (b[0] !== 0 && b[1] === 0) return 'utf-16le';
  if (b[0] === 0 && b[1] !== 0) return 'utf-16be';
  return undefined;
}

/** The XML declaration's encoding label, read from the first bytes. */
function declaredEncoding(b: Uint8Array): { label: string; utf16?: 'utf-16le' | 'utf-16be' } | undefined {
  const utf16 = b[1] === 0 && b[0] === 0x3c ? 'utf-16le' : b[0] === 0 && b[1] === 0x3c ? 'utf-16be' : undefined;
  if (!utf16 && !(b[0] === 0x3c && b[1] === 0x3f)) return undefined; // no "<?": no declaration
  const head = utf16 ? new TextDecoder(utf16).decode(b.subarray(0, 400)) : Buffer.from(b.subarray(0, 200)).toString('latin1');
  const m = DECLARATION.exec(head);
  return m?.[3] ? { label: m[3], utf16 } : undefined;
}

/**
 * windows-1252's bytes 0x80-0x9F (smart quotes, dashes, the euro sign …), as the Encoding
 * Standard maps them. Node 20's TextDecoder decodes windows-1252 (and so "iso-8859-1",
 * which names it) as plain ISO-8859-1, leaving them C1 control characters.
 */
const WINDOWS_1252_80_9F =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function decodeWindows1252(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return /[\x80-\x9f]/.test(text) ? text.replace(/[\x80-\x9f]/g, (c) => WINDOWS_1252_80_9F[c.charCodeAt(0) - 0x80]!) : text;
}

/** One strict decoder per charset (a charset is a WHATWG name: a few dozen at most), reused: decoding without `stream` keeps no state. */
const DECODERS = new Map<string, TextDecoder>();

function decode(bytes: Uint8Array, charset: string): string | undefined {
  if (charset === 'windows-1252') return decodeWindows1252(bytes);
  let decoder = DECODERS.get(charset);
  try {
    if (!decoder) DECODERS.set(charset, (decoder = new TextDecoder(charset, { fatal: true })));
    return decoder.decode(bytes);
  } catch {
    // A decoder that failed is not trusted to be back at its initial state.
    DECODERS.delete(charset);
    return undefined;
  }
}

/**
 * The text is handed on as Unicode (and to libxml2 as UTF-8): an encoding declaration no
 * longer describes it, and one the charset parameter overrode never did.
 */
function dropEncodingDeclaration(text: string): string {
  if (!text.startsWith('<?xml')) return text;
  return text.replace(DECLARATION, (decl) => decl.replace(/\s+encoding\s*=\s*(["'])[^"']*\1/, ''));
}

const UNSUPPORTED = (label: string, where: string): CharsetOutcome => ({
  ok: false,
  status: 415,
  detail: `the charset "${label}" (${where}) is not supported: send UTF-8 (or UTF-16, ISO-8859-1, windows-1252)`,
});

const INVALID = (charset: string, where: string): CharsetOutcome => ({
  ok: false,
  status: 400,
  detail: `the body is not valid ${charset.toUpperCase()} (${where})`,
});

/**
 * Decodes a request body. `contentType` is the request's Content-Type header; `fallback`
 * a charset label for a body that names none and is not UTF-8, or undefined to refuse it.
 */
export function decodeBody(bytes: Uint8Array, contentType: string | undefined, fallback: string | undefined): CharsetOutcome {
  const finish = (charset: string, where: string): CharsetOutcome => {
    const text = decode(bytes, charset);
    if (text === undefined) return INVALID(charset, where);
    return { ok: true, text: dropEncodingDeclaration(text), charset };
  };
  const bom = bomOf(bytes);
  // TextDecoder drops a byte order mark of its own encoding.
  if (bom) return finish(bom.charset, 'by its byte order mark');

  const param = charsetParameter(contentType);
  if (param !== undefined) {
    const charset = supportedCharset(param);
    if (!charset) return UNSUPPORTED(param, 'the Content-Type charset');
    // "utf-16" names no byte order; with no mark, the first character tells (RFC 2781 would say big-endian).
    const ordered = /^utf-?16$/i.test(param.trim()) ? (sniffUtf16(bytes) ?? 'utf-16be') : charset;
    return finish(ordered, 'as its Content-Type charset says');
  }

  const declared = declaredEncoding(bytes);
  if (declared) {
    const charset = supportedCharset(declared.label);
    if (!charset) return UNSUPPORTED(declared.label, 'the XML declaration');
    const isUtf16 = charset === 'utf-16le' || charset === 'utf-16be';
    if (isUtf16 && !declared.utf16) return INVALID('utf-16', 'as its XML declaration says, but the declaration is written in single bytes');
    if (!isUtf16 && declared.utf16) return INVALID(charset, `as its XML declaration says, but the declaration is written in ${declared.utf16.toUpperCase()}`);
    return finish(isUtf16 ? declared.utf16! : charset, 'as its XML declaration says');
  }
  // UTF-16 without a byte order mark or a declaration (appendix F): "<\0" or "\0<".
  const utf16 = bytes[0] === 0x3c && bytes[1] === 0 ? 'utf-16le' : bytes[0] === 0 && bytes[1] === 0x3c ? 'utf-16be' : undefined;
  if (utf16) return finish(utf16, 'by its first character');

  const text = decode(bytes, 'utf-8');
  if (text !== undefined) return { ok: true, text, charset: 'utf-8' };
  if (fallback === undefined) {
    return { ok: false, status: 400, detail: 'the body is not valid UTF-8 and names no charset (send a Content-Type charset or an XML encoding declaration)' };
  }
  return finish(supportedCharset(fallback) ?? fallback, 'read in the charset assumed for bodies that name none');
}
