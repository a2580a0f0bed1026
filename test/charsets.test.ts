// Request bodies in a client platform's charset: a Java library posts XML form-encoded
// in windows-1252 or ISO-8859-1 (with or without an encoding declaration), others in
// UTF-16 with a byte order mark. protocol/charset.ts finds the charset; the transports
// decode logon and command bodies with it, after the byte limit.
import { expect } from 'chai';
import { decodeBody } from '../src/protocol/charset.js';
import { CWA_NS, LegacyClient, parse } from './support/client.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { expectValidResponses } from './support/schemas.js';

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const utf16le = (s: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(s, 'utf16le')]);
const utf16be = (s: string) => {
  const le = Buffer.from(s, 'utf16le');
  for (let i = 0; i < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1]!, le[i]!];
  return Buffer.concat([Buffer.from([0xfe, 0xff]), le]);
};
/** “quoted” – in windows-1252: 0x93 quoted 0x94 0x96. */
const SMART = Buffer.from([0x93, ...Buffer.from('quoted'), 0x94, 0x20, 0x96]);

describe('request bodies in the client platform\'s charset', () => {
  describe('decodeBody', () => {
    const text = (o: ReturnType<typeof decodeBody>) => {
      if (!o.ok) throw new Error(`refused ${o.status}: ${o.detail}`);
      return o.text;
    };

    it('reads the XML declaration\'s encoding: ISO-8859-1, windows-1252, UTF-8; and drops it from the text handed on', () => {
      expect(text(decodeBody(latin1('<?xml version="1.0" encoding="ISO-8859-1"?><a>Grüße</a>'), 'text/xml', undefined))).to.equal('<?xml version="1.0"?><a>Grüße</a>');
      expect(text(decodeBody(Buffer.concat([latin1(`<?xml version='1.0' encoding='windows-1252'?><a>`), SMART, latin1('</a>')]), undefined, undefined))).to.equal(`<?xml version='1.0'?><a>“quoted” –</a>`);
      expect(text(decodeBody(Buffer.from('<?xml version="1.0" encoding="utf-8"?><a>Grüße</a>'), 'text/xml', undefined))).to.equal('<?xml version="1.0"?><a>Grüße</a>');
    });

    it('reads UTF-16 with a byte order mark (LE and BE), and UTF-16 declared and written without one', () => {
      const doc = '<?xml version="1.0" encoding="UTF-16"?><a>Grüße ☃</a>';
      expect(text(decodeBody(utf16le(doc), 'text/xml', undefined))).to.equal('<?xml version="1.0"?><a>Grüße ☃</a>');
      expect(text(decodeBody(utf16be(doc), 'application/x-www-form-urlencoded', undefined))).to.equal('<?xml version="1.0"?><a>Grüße ☃</a>');
      expect(text(decodeBody(Buffer.from(doc, 'utf16le'), 'text/xml', undefined))).to.equal('<?xml version="1.0"?><a>Grüße ☃</a>');
    });

    it('takes the Content-Type charset over the declaration, and a byte order mark over both', () => {
      expect(text(decodeBody(latin1('<?xml version="1.0" encoding="UTF-8"?><a>Grüße</a>'), 'text/xml; charset=ISO-8859-1', undefined))).to.equal('<?xml version="1.0"?><a>Grüße</a>');
      expect(text(decodeBody(latin1('<a>Grüße</a>'), 'application/x-www-form-urlencoded; charset="latin1"', undefined))).to.equal('<a>Grüße</a>');
      expect(text(decodeBody(utf16le('<a>Grüße</a>'), 'text/xml; charset=ISO-8859-1', undefined))).to.equal('<a>Grüße</a>');
      expect(text(decodeBody(Buffer.from('<a>Grüße</a>', 'utf16le'), 'text/xml; charset=utf-16', undefined))).to.equal('<a>Grüße</a>');
    });

    it('refuses a charset it cannot decode with 415, and bytes not valid in the charset named with 400', () => {
      expect(decodeBody(Buffer.from('<?xml version="1.0" encoding="UTF-32"?><a/>'), 'text/xml', undefined)).to.deep.include({ ok: false, status: 415 });
      expect(decodeBody(Buffer.from('<a/>'), 'text/xml; charset=x-klingon', undefined)).to.deep.include({ ok: false, status: 415 });
      expect(decodeBody(Buffer.from('<?xml version="1.0" encoding="ISO-2022-KR"?><a/>'), 'text/xml', undefined)).to.deep.include({ ok: false, status: 415 });
      const lying = decodeBody(latin1('<?xml version="1.0" encoding="UTF-8"?><a>Grüße</a>'), 'text/xml', 'windows-1252');
      expect(lying).to.deep.include({ ok: false, status: 400 });
      expect((lying as { detail: string }).detail).to.match(/not valid UTF-8 \(as its XML declaration says\)/);
      expect(decodeBody(latin1('<a>Grüße</a>'), 'text/xml; charset=utf-8', 'windows-1252')).to.deep.include({ ok: false, status: 400 });
      expect(decodeBody(Buffer.from('<?xml version="1.0" encoding="UTF-16"?><a/>'), 'text/xml', undefined)).to.deep.include({ ok: false, status: 400 });
    });

    it('reads a body that names no charset as UTF-8, and in the fallback charset when it is not UTF-8; refuses it without a fallback', () => {
      expect(text(decodeBody(Buffer.from('<a>Grüße</a>'), undefined, 'windows-1252'))).to.equal('<a>Grüße</a>');
      expect(text(decodeBody(Buffer.concat([latin1('<a>'), SMART, latin1('</a>')]), 'application/x-www-form-urlencoded', 'windows-1252'))).to.equal('<a>“quoted” –</a>');
      const refused = decodeBody(latin1('<a>Grüße</a>'), 'application/x-www-form-urlencoded', undefined);
      expect(refused).to.deep.include({ ok: false, status: 400 });
      expect((refused as { detail: string }).detail).to.match(/not valid UTF-8 and names no charset/);
    });
  });

  describe('on the wire', () => {
    let gw: TestGateway;
    let alice: LegacyClient;
    let bob: LegacyClient;
    afterEach(() => gw.close());

    async function start(overrides = {}) {
      gw = await startTestGateway({ holdMs: 0, ...overrides });
      alice = await new LegacyClient(gw.url, 'alice').signIn();
      bob = await new LegacyClient(gw.url, 'bob').signIn();
      await bob.poll();
    }

    async function post(path: string, body: Buffer, contentType: string | undefined, ticket = alice.ticket) {
      const res = await fetch(`${gw.url}${path}`, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: { ...(contentType !== undefined ? { 'Content-Type': contentType } : {}), ...(ticket ? { 'CWA-Ticket': ticket } : {}) },
      });
      const text = await res.text();
      expectValidResponses(text);
      return { status: res.status, text };
    }

    /** An invitation to bob carrying `content`, as the bytes `encode` makes of the whole document. */
    function invitation(content: string, declaration = ''): string {
      return `${declaration}<cwaRequests xmlns="${CWA_NS}" sid="${alice.sid}"><conference rid="${alice.nextRid()}" confId="0"><initiateImSession><uris><uri>sip:bob@example.com</uri></uris><message><content>${content}</content></message></initiateImSession></conference></cwaRequests>`;
    }

    async function bobReceives(): Promise<string> {
      const events = await bob.pollUntil((e) => e.children[0]?.name === 'imSessionReceived');
      const received = events.find((e) => e.children[0]?.name === 'imSessionReceived')!.children[0]!;
      return received.children.find((c) => c.name === 'message')!.children.find((c) => c.name === 'content')!.text;
    }

    it('delivers "Grüße" posted form-encoded in ISO-8859-1 with an encoding declaration, and with a Content-Type charset', async () => {
      await start();
      const declared = await post('/cwa/MainCommandHandler.ashx', latin1(invitation('Grüße', '<?xml version="1.0" encoding="ISO-8859-1"?>')), 'application/x-www-form-urlencoded');
      expect(declared.status, declared.text).to.equal(200);
      expect(parse(declared.text).children[0]!.name).to.equal('initiateImSessionAccepted');
      expect(await bobReceives()).to.equal('Grüße');
      const byHeader = await post('/cwa/MainCommandHandler.ashx', latin1(invitation('Grüße 2')), 'application/x-www-form-urlencoded; charset=ISO-8859-1');
      expect(byHeader.status, byHeader.text).to.equal(200);
      expect(await bobReceives()).to.equal('Grüße 2');
    });

    it('delivers a message posted in UTF-16 with a byte order mark, and windows-1252 smart quotes posted with no charset at all', async () => {
      await start();
      const utf16 = await post('/cwa/MainCommandHandler.ashx', utf16le(invitation('Grüße ☃', '<?xml version="1.0" encoding="UTF-16"?>')), 'text/xml');
      expect(utf16.status, utf16.text).to.equal(200);
      expect(await bobReceives()).to.equal('Grüße ☃');
      const [head, tail] = invitation('\u0000').split('\u0000') as [string, string];
      const smart = await post('/cwa/MainCommandHandler.ashx', Buffer.concat([latin1(head), SMART, latin1(tail)]), 'application/x-www-form-urlencoded');
      expect(smart.status, smart.text).to.equal(200);
      expect(await bobReceives()).to.equal('“quoted” –');
    });

    it('refuses an unsupported charset with 415, a lying declaration with 400, and (with --fallback-charset none) an undeclared non-UTF-8 body with 400', async () => {
      await start({ fallbackCharset: 'none' });
      const header = await post('/cwa/MainCommandHandler.ashx', Buffer.from(invitation('x')), 'text/xml; charset=UTF-32');
      expect(header.status).to.equal(415);
      expect(header.text).to.match(/charset &quot;UTF-32&quot;.*not supported/);
      const declared = await post('/cwa/MainCommandHandler.ashx', Buffer.from(invitation('x', '<?xml version="1.0" encoding="EBCDIC-US"?>')), 'text/xml');
      expect(declared.status).to.equal(415);
      const lying = await post('/cwa/MainCommandHandler.ashx', latin1(invitation('Grüße', '<?xml version="1.0" encoding="UTF-8"?>')), 'text/xml');
      expect(lying.status).to.equal(400);
      expect(lying.text).to.match(/not valid UTF-8/);
      const undeclared = await post('/cwa/MainCommandHandler.ashx', latin1(invitation('Grüße')), 'application/x-www-form-urlencoded');
      expect(undeclared.status).to.equal(400);
      expect(undeclared.text).to.match(/names no charset/);
      // Nothing of those ran: bob was invited by none of them.
      const { events } = await bob.poll();
      expect(events.filter((e) => e.children[0]?.name === 'imSessionReceived')).to.deep.equal([]);
    });

    it('decodes logon bodies the same way, and applies the byte limit before decoding', async () => {
      await start({ maxBodyBytes: 300 });
      const logon = utf16le('<?xml version="1.0" encoding="UTF-16"?><cwaRequests><logon><user>carol</user><password>carol-demo</password></logon></cwaRequests>');
      expect(logon.length).to.be.within(200, 300);
      const ok = await post('/forms/logon.html', logon, 'application/x-www-form-urlencoded', undefined);
      expect(ok.status, ok.text).to.equal(200);
      // Fewer than 300 characters, more than 300 bytes in UTF-16: the limit is on bytes.
      const big = utf16le(`<cwaRequests><logon><user>carol</user><password>${'x'.repeat(87)}</password></logon></cwaRequests>`);
      expect(big.length).to.be.above(300);
      const refused = await post('/forms/logon.html', big, 'text/xml', undefined);
      expect(refused.status).to.equal(413);
    });
  });
});
