import { expect } from 'chai';
import { attr, child, parseXmlTree, XmlRejectedError } from '../src/protocol/xml-tree.js';

const LIMITS = { maxDepth: 5, maxElements: 10, maxAttributes: 3, maxAttributeLength: 20 };

function rejection(xml: string): string {
  try {
    parseXmlTree(xml, LIMITS);
  } catch (err) {
    if (err instanceof XmlRejectedError) return err.kind;
    throw err;
  }
  return 'accepted';
}

describe('XML screening (parseXmlTree)', () => {
  it('builds a tree with local names, namespaces, attributes and text; predefined and character references are fine', () => {
    const root = parseXmlTree('<?xml version="1.0" encoding="UTF-8"?><r xmlns="urn:x" a="1"><c>a &amp; b &#65;</c><![CDATA[<raw>]]></r>', LIMITS);
    expect(root).to.include({ name: 'r', ns: 'urn:x', text: '<raw>' });
    expect(root.attrs).to.deep.equal({ a: '1' });
    expect(child(root, 'C')!.text).to.equal('a & b A');
    expect(attr(root, 'A')).to.equal('1');
  });

  it('starts every document clean after one refused mid-scan (the parser is reused)', () => {
    const tight = { maxDepth: 3, maxElements: 3, maxAttributes: 2, maxAttributeLength: 16 };
    const bad = ['<a><b><c><d/></c></b></a>', '<a><b', '<a x="1" y="2" z="3"/>', '<!DOCTYPE a><a/>', '<a>&foo;</a>', '<p:a xmlns:p="urn:x"><p:b>'];
    for (const text of bad) {
      expect(() => parseXmlTree(text, tight), text).to.throw(XmlRejectedError);
      const root = parseXmlTree('<?xml version="1.0"?><r xmlns="urn:y" k="v"><s>t</s></r>', tight);
      expect([root.name, root.ns, root.attrs, root.children.map((c) => [c.name, c.ns, c.text]), root.doc]).to.deep.equal([
        'r', 'urn:y', { k: 'v' }, [['s', 'urn:y', 't']], { namespaces: ['urn:y'], version: '1.0', depth: 2 },
      ]);
    }
  });

  it('rejects each hostile construct by kind', () => {
    expect(rejection('<!DOCTYPE r><r/>')).to.equal('doctype');
    expect(rejection('<r>&custom;</r>')).to.equal('entity');
    expect(rejection('<r a="&custom;"/>')).to.equal('entity');
    expect(rejection('<r><?pi x?></r>')).to.equal('processingInstruction');
    expect(rejection('<a><b><c><d><e><f/></e></d></c></b></a>')).to.equal('depth');
    expect(rejection(`<r>${'<x/>'.repeat(10)}</r>`)).to.equal('elements');
    expect(rejection('<r a="1" b="2" c="3" d="4"/>')).to.equal('attributes');
    expect(rejection(`<r a="${'x'.repeat(21)}"/>`)).to.equal('attributeLength');
    expect(rejection('<r>')).to.equal('malformed');
    expect(rejection('<r></s>')).to.equal('malformed');
    expect(rejection('')).to.equal('malformed');
  });

  it('counts namespace declarations as attributes, and their URIs against the attribute length', () => {
    expect(rejection('<r xmlns="urn:a" xmlns:b="urn:b" c="1" d="2"/>')).to.equal('attributes');
    expect(rejection('<r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" xmlns:d="urn:d"/>')).to.equal('attributes');
    expect(rejection(`<r xmlns="urn:${'x'.repeat(17)}"/>`)).to.equal('attributeLength');
    expect(rejection(`<r xmlns:p="urn:${'x'.repeat(17)}"/>`)).to.equal('attributeLength');
    expect(rejection(`<r xmlns="urn:${'x'.repeat(16)}" xmlns:b="urn:b" c="1"/>`)).to.equal('accepted');
    // Each element has its own count.
    expect(rejection('<r xmlns:a="urn:a" xmlns:b="urn:b" c="1"><s xmlns:d="urn:d" e="2" f="3"/></r>')).to.equal('accepted');
  });

  it('accepts documents exactly at the limits', () => {
    expect(rejection('<a><b><c><d><e/></d></c></b></a>')).to.equal('accepted');
    expect(rejection(`<r>${'<x/>'.repeat(9)}</r>`)).to.equal('accepted');
    expect(rejection(`<r a="${'x'.repeat(20)}" b="" c=""/>`)).to.equal('accepted');
  });
});
