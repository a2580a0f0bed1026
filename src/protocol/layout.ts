// The layout of emitted event documents. `original` is the layout of a real Communicator
// Web Access server: each child of an element that holds only elements on its own line,
// two spaces deeper than its parent, so that every such child is preceded by one text
// node. Clients written against that server walk child nodes by position (userPresence:
// [text, user, text]) and fail on the compact text. `compact` adds no whitespace at all.
//
// The indenter works on text the gateway itself rendered (protocol/xml.ts), where `<` and
// `>` only ever delimit tags: text and attribute values have them escaped, and no
// comment, CDATA section or processing instruction is ever emitted.

export const XML_LAYOUTS = ['original', 'compact'] as const;
export type XmlLayout = (typeof XML_LAYOUTS)[number];

const pads: string[] = [];
/** A newline and the indentation of an element `depth` levels below cwaEvents. */
export function lineBreak(depth: number): string {
  return (pads[depth] ??= '\n' + '  '.repeat(depth));
}

/**
 * `xml` is a sequence of whole sibling elements, each `depth` levels below the document
 * element: each gets a newline and its indentation before it, and the content of every
 * element that starts with a child element (element-only content) is laid out the same
 * way one level deeper, its end tag on a line of its own. Elements that hold text are
 * copied as they are, with everything inside them, so no character data changes.
 * Nothing follows the last sibling: the caller ends its parent's content.
 */
export function indentElements(xml: string, depth: number): string {
  if (xml.length === 0 || xml.charCodeAt(0) !== 60 /* < */) return xml;
  // The text is copied in runs between the places a line break goes in.
  let out = '';
  let copied = 0;
  // For each open element: whether its children are being laid out.
  const laidOut: boolean[] = [];
  let inside = true; // the siblings themselves are laid out
  let level = depth;
  let lt = xml.indexOf('<');
  while (lt >= 0) {
    const gt = xml.indexOf('>', lt + 1);
    if (gt < 0) throw new Error('indentElements: unterminated tag');
    const closing = xml.charCodeAt(lt + 1) === 47; /* / */
    if (closing) level -= 1;
    if (inside) {
      out += xml.slice(copied, lt) + lineBreak(level);
      copied = lt;
    }
    if (closing) inside = laidOut.pop() ?? false;
    else if (xml.charCodeAt(gt - 1) !== 47 /* not self-closing */) {
      laidOut.push(inside);
      // Children are laid out only when the content starts with a start tag: an element
      // holding text keeps its content as it is.
      inside = inside && xml.charCodeAt(gt + 1) === 60 && xml.charCodeAt(gt + 2) !== 47;
      level += 1;
    }
    lt = xml.indexOf('<', gt + 1);
  }
  return out + xml.slice(copied);
}

/** The content of an element `depth` levels below cwaEvents, laid out; its end tag follows. */
export function layoutContent(layout: XmlLayout, inner: string, depth: number): string {
  if (layout === 'compact' || inner.length === 0 || inner.charCodeAt(0) !== 60) return inner;
  return indentElements(inner, depth + 1) + lineBreak(depth);
}

/** The events of one cwaEvents document, each on its own line in the original layout. */
export function layoutEnvelopeContent(layout: XmlLayout, events: string[]): string {
  if (layout === 'compact') return events.join('');
  let out = '';
  for (const e of events) out += lineBreak(1) + e;
  return out + lineBreak(0);
}
