// The tree a request document is read into (xml-tree.ts: saxes; xml-fast.ts: the common case), and the limits of reading it.

export interface XmlLimits {
  maxDepth: number;
  maxElements: number;
  maxAttributes: number;
  maxAttributeLength: number;
}

export interface XNode {
  /** Local name, as written (case preserved). */
  name: string;
  /** Namespace URI ('' for none). */
  ns: string;
  /** Attributes by local name; namespace declarations are not included. */
  attrs: Record<string, string>;
  /** Namespace URI of the attributes that have one (`xsi:type` -> type: XSI namespace). */
  attrNs?: Record<string, string>;
  children: XNode[];
  /** Concatenated character data directly inside this element. */
  text: string;
  /** A CDATA section stands directly inside (the schema tells it from text: even an empty one is content). */
  cdata?: true;
  /** The element carries xmlns="" (its unprefixed descendants are in no namespace). */
  undeclaresDefault?: true;
  /** On the root only: facts about the whole document that the tree does not show. */
  doc?: XmlDocumentFacts;
}

export interface XmlDocumentFacts {
  /** Every namespace URI declared in the document, in order (repeats kept). */
  namespaces: string[];
  /** The XML declaration's version, when there is one. */
  version?: string;
  /** Deepest element nesting. */
  depth: number;
}
