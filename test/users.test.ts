import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, isPasswordHash, parsePasswordHash, verifyPassword } from '../src/users/password.js';
import { UserDirectory, UserDirectoryError, type UserEntry } from '../src/users/directory.js';

// Cheap parameters keep the suite fast where the cost itself is not under test.
const FAST = { N: 1024 } as const;

describe('password hashing', () => {
  it('produces the documented scrypt string and verifies it', async () => {
    const stored = await hashPassword('correct horse');
    const parts = stored.split('$');
    expect(parts).to.have.length(6);
    expect(parts.slice(0, 4)).to.deep.equal(['scrypt', '16384', '8', '1']);
    expect(Buffer.from(parts[4]!, 'base64url')).to.have.length(16);
    expect(Buffer.from(parts[5]!, 'base64url')).to.have.length(32);
    expect(await verifyPassword('correct horse', stored)).to.equal(true);
    expect(isPasswordHash(stored)).to.equal(true);
  });

  it('salts each hash', async () => {
    const a = await hashPassword('same', FAST);
    const b = await hashPassword('same', FAST);
    expect(a).not.to.equal(b);
    expect(await verifyPassword('same', b)).to.equal(true);
  });

  it('rejects a wrong password', async () => {
    const stored = await hashPassword('s3cret', FAST);
    expect(await verifyPassword('s3creT', stored)).to.equal(false);
    expect(await verifyPassword('', stored)).to.equal(false);
    expect(await verifyPassword('s3cret ', stored)).to.equal(false);
  });

  it('returns false, without throwing, for malformed or abusive strings', async () => {
    const good = await hashPassword('pw', FAST);
    const [, , , , salt, key] = good.split('$');
    const bad = [
      '', 'pw', 'scrypt', good + '$extra', good.replace('scrypt', 'bcrypt'),
      `scrypt$1000$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$${2 ** 21}$8$1$${salt}$${key}`, // N above 2^20
      `scrypt$1024$0$1$${salt}$${key}`, `scrypt$1024$64$1$${salt}$${key}`,
      `scrypt$1024$8$0$${salt}$${key}`, `scrypt$1024$8$99$${salt}$${key}`,
      `scrypt$1024$8$1$$${key}`, `scrypt$1024$8$1$${salt}$`, `scrypt$1024$8$1$${salt}$not*base64`,
      `scrypt$1024$8$1$AA$${key}`, // salt too short
      `scrypt$01024$8$1$${salt}$${key}`, `scrypt$1024.0$8$1$${salt}$${key}`,
    ];
    for (const s of bad) {
      expect(await verifyPassword('pw', s), s).to.equal(false);
      expect(isPasswordHash(s), s).to.equal(false);
    }
    expect(await verifyPassword('pw', undefined as unknown as string)).to.equal(false);
    expect(await verifyPassword('pw', `scrypt$1024$8$1$${salt}$${key}`)).to.equal(true);
  });
});

describe('UserDirectory', () => {
  const entries = (): UserEntry[] => [
    { login: 'Alice', password: 'alice-pw', uri: 'sip:alice@contoso.com', displayName: 'Alice Anders', title: 'CTO' },
    { login: 'bob', password: 'bob-pw', uri: 'SIP:Bob.Brennan@contoso.com', displayName: 'Bob Brennan' },
  ];

  it('resolves every logon-name form, case-insensitively', () => {
    const dir = UserDirectory.fromRecords(entries());
    const forms = ['alice', 'ALICE', 'CONTOSO\\alice', 'contoso\\Alice', 'alice@contoso.com', 'Alice@elsewhere.org',
      'sip:alice@contoso.com', 'SIP:ALICE@CONTOSO.COM', 'alice@CONTOSO.com', ' alice '];
    for (const form of forms) expect(dir.findByLogonName(form)?.login, form).to.equal('Alice');
    // the URI's user part differs from the login: found through the URI, with or without the scheme
    for (const form of ['bob.brennan@contoso.com', 'sip:bob.brennan@CONTOSO.com', 'bob', 'DOM\\BOB', 'bob@x.y']) {
      expect(dir.findByLogonName(form)?.login, form).to.equal('bob');
    }
    for (const form of ['', 'carol', 'sip:alice@other.com', 'sip:alice', 'DOM\\', '@contoso.com', 'dom\\carol']) {
      expect(dir.findByLogonName(form), form).to.equal(undefined);
    }
  });

  it('finds by URI case-insensitively and publishes no credentials', () => {
    const dir = UserDirectory.fromRecords(entries());
    const bob = dir.findByUri('sip:BOB.brennan@contoso.com');
    expect(bob?.uri).to.equal('sip:Bob.Brennan@contoso.com'); // scheme normalised, rest kept
    expect(dir.findByUri('bob.brennan@contoso.com')).to.equal(undefined);
    for (const record of dir.all()) {
      expect(record).not.to.have.any.keys('password', 'passwordHash');
    }
    expect(dir.all().map((u) => u.login)).to.deep.equal(['Alice', 'bob']);
    expect(dir.findByLogonName('alice')).to.include({ firstName: 'Alice', lastName: 'Anders', title: 'CTO' });
    expect(dir.isDemo).to.equal(false);
    expect(dir.demoCredentials()).to.deep.equal([]);
  });

  it('authenticates clear and hashed passwords', async () => {
    const hash = await hashPassword('carol-pw', FAST);
    const dir = UserDirectory.fromRecords([
      ...entries(),
      { login: 'carol', passwordHash: hash, uri: 'sip:carol@contoso.com', displayName: 'Carol Chen' },
    ]);
    expect((await dir.authenticate('CONTOSO\\alice', 'alice-pw'))?.login).to.equal('Alice');
    expect(await dir.authenticate('alice', 'ALICE-PW')).to.equal(null);
    expect(await dir.authenticate('alice', '')).to.equal(null);
    expect((await dir.authenticate('sip:carol@contoso.com', 'carol-pw'))?.login).to.equal('carol');
    expect(await dir.authenticate('carol', 'carol-p')).to.equal(null);
    expect(await dir.authenticate('nobody', 'alice-pw')).to.equal(null);
    expect(await dir.authenticate('nobody', '')).to.equal(null);
  });

  it('spends comparable time on an unknown login as on a known hashed one', async () => {
    const dir = UserDirectory.fromRecords([
      { login: 'dan', passwordHash: await hashPassword('x'), uri: 'sip:dan@contoso.com', displayName: 'Dan' },
    ]);
    const time = async (user: string): Promise<number> => {
      const t0 = process.hrtime.bigint();
      await dir.authenticate(user, 'wrong');
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    await time('nobody'); // warm-up
    const known = Math.min(await time('dan'), await time('dan'), await time('dan'));
    const unknown = Math.min(await time('nobody'), await time('nobody'), await time('nobody'));
    // an unknown login must run scrypt too, not answer in microseconds
    expect(unknown).to.be.greaterThan(known / 3);
  });

  it('verifies an unknown login against a dummy hash with the scrypt parameters of the directory\'s users', async () => {
    const costOf = (stored: string | undefined) => {
      const h = parsePasswordHash(stored!)!;
      return `N=${h.N} r=${h.r} p=${h.p} key=${h.key.length}`;
    };
    const user = async (login: string, opts: { N: number; r?: number; keyLength?: number }): Promise<UserEntry> =>
      ({ login, passwordHash: await hashPassword(`${login}-pw`, opts), uri: `sip:${login}@contoso.com`, displayName: login });
    const dir = UserDirectory.fromRecords([await user('dan', { N: 1024 }), await user('eve', { N: 1024 }), { login: 'fay', password: 'x', uri: 'sip:fay@contoso.com', displayName: 'Fay' }]);
    for (const name of ['zed', 'nobody', 'CORP\\someone', 'fay']) expect(costOf(dir.dummyHashFor(name)), name).to.equal('N=1024 r=8 p=1 key=32');
    // The unknown-user path runs scrypt on exactly that hash (and a clear-text account's path too).
    const verified: (string | undefined)[] = [];
    const pick = dir.dummyHashFor.bind(dir);
    dir.dummyHashFor = (name) => {
      const stored = pick(name);
      verified.push(stored);
      return stored;
    };
    expect(await dir.authenticate('zed', 'guess')).to.equal(null);
    expect(await dir.authenticate('fay', 'x')).to.not.equal(null);
    expect(verified.map(costOf)).to.deep.equal(['N=1024 r=8 p=1 key=32', 'N=1024 r=8 p=1 key=32']);
    // No hashes at all: no scrypt for anyone.
    expect(UserDirectory.fromRecords(entries()).dummyHashFor('zed')).to.equal(undefined);
  });

  it('spreads unknown logins over the directory\'s scrypt costs as its users are, the same cost for every spelling of a name', async () => {
    const users: UserEntry[] = [];
    for (let i = 0; i < 3; i++) users.push({ login: `a${i}`, passwordHash: await hashPassword('x', { N: 1024 }), uri: `sip:a${i}@contoso.com`, displayName: 'A' });
    users.push({ login: 'b', passwordHash: await hashPassword('x', { N: 2048, r: 4, keyLength: 64 }), uri: 'sip:b@contoso.com', displayName: 'B' });
    const dir = UserDirectory.fromRecords(users);
    const costs = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const h = parsePasswordHash(dir.dummyHashFor(`name${i}`)!)!;
      const cost = `${h.N}/${h.r}/${h.p}/${h.key.length}`;
      costs.set(cost, (costs.get(cost) ?? 0) + 1);
    }
    expect([...costs.keys()].sort()).to.deep.equal(['1024/8/1/32', '2048/4/1/64']);
    expect(costs.get('1024/8/1/32')! / 2000).to.be.within(0.68, 0.82); // three accounts in four
    for (let i = 0; i < 50; i++) {
      const spellings = [`zed${i}`, `CORP\\zed${i}`, `sip:Zed${i}@contoso.com`, `zed${i}@elsewhere`].map((n) => dir.dummyHashFor(n));
      expect(new Set(spellings).size).to.equal(1);
    }
    // The pick does not change between directories built from the same users (restarts).
    const again = UserDirectory.fromRecords(users);
    const cost = (d: UserDirectory, n: string) => parsePasswordHash(d.dummyHashFor(n)!)!.N;
    for (let i = 0; i < 50; i++) expect(cost(again, `name${i}`)).to.equal(cost(dir, `name${i}`));
  });

  it('builds the demo directory', async () => {
    const dir = UserDirectory.demo();
    expect(dir.isDemo).to.equal(true);
    const logins = dir.all().map((u) => u.login);
    expect(logins).to.deep.equal(['alice', 'bob', 'carol', 'dave', 'erin']);
    expect(dir.demoCredentials()).to.deep.equal(logins.map((login) => ({ login, password: `${login}-demo` })));
    for (const u of dir.all()) {
      expect(u.uri).to.equal(`sip:${u.login}@example.com`);
      expect(u.email).to.equal(`${u.login}@example.com`);
      expect(u.title).to.be.a('string').and.not.equal('');
      expect(u.office).to.be.a('string').and.not.equal('');
      expect(`${u.firstName} ${u.lastName}`).to.equal(u.displayName);
      expect(u.firstName!.toLowerCase()).to.equal(u.login);
      expect((await dir.authenticate(u.login, `${u.login}-demo`))?.uri).to.equal(u.uri);
      expect(await dir.authenticate(u.login, 'demo')).to.equal(null);
    }
  });

  describe('users file', () => {
    let tmp: string;
    let n = 0;
    before(async () => { tmp = await mkdtemp(join(tmpdir(), 'cwa-users-')); });
    after(async () => { await rm(tmp, { recursive: true, force: true }); });

    async function usersFile(content: unknown): Promise<string> {
      const file = join(tmp, `users-${n++}.json`);
      await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    }

    async function expectFileError(content: unknown, ...fragments: string[]): Promise<void> {
      const file = await usersFile(content);
      let caught: unknown;
      try {
        await UserDirectory.fromFile(file);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(content)).to.be.instanceOf(UserDirectoryError);
      expect((caught as Error).message).to.include(file);
      for (const f of fragments) expect((caught as Error).message).to.include(f);
    }

    const ok = { login: 'alice', password: 'pw', uri: 'sip:alice@contoso.com', displayName: 'Alice' };

    it('loads a valid file', async () => {
      const hash = await hashPassword('bob-pw', FAST);
      const file = await usersFile({ users: [
        { ...ok, email: 'alice@contoso.com', office: '1/1', phone: '+1 555', company: 'Contoso' },
        { login: 'bob', passwordHash: hash, uri: 'sip:bob@contoso.com', displayName: 'Bob B' },
      ] });
      const dir = await UserDirectory.fromFile(file);
      expect(dir.findByLogonName('alice')).to.include({ email: 'alice@contoso.com', office: '1/1', company: 'Contoso' });
      expect((await dir.authenticate('bob@contoso.com', 'bob-pw'))?.login).to.equal('bob');
      expect((await dir.authenticate('alice', 'pw'))?.login).to.equal('alice');
    });

    it('reports each kind of bad file, naming the file and entry', async () => {
      await expectFileError('{ "users": [', 'invalid JSON');
      await expectFileError({ people: [] }, '"users"');
      await expectFileError({ users: [] }, 'empty');
      await expectFileError({ users: ['alice'] }, 'users[0]', 'object');
      const { login: _l, ...noLogin } = ok;
      await expectFileError({ users: [ok, noLogin] }, 'users[1]', '"login"');
      const { uri: _u, ...noUri } = ok;
      await expectFileError({ users: [noUri] }, 'users[0]', '"uri"');
      const { displayName: _d, ...noName } = ok;
      await expectFileError({ users: [noName] }, 'users[0]', '"displayName"');
      await expectFileError({ users: [{ ...ok, displayName: '  ' }] }, 'users[0]', '"displayName"');
      const { password: _p, ...noPassword } = ok;
      await expectFileError({ users: [noPassword] }, 'users[0]', 'exactly one of "password" or "passwordHash"');
      const hash = await hashPassword('pw', FAST);
      await expectFileError({ users: [{ ...ok, passwordHash: hash }] }, 'users[0]', 'exactly one of');
      await expectFileError({ users: [{ ...noPassword, passwordHash: 'plain' }] }, 'users[0]', 'passwordHash');
      await expectFileError({ users: [{ ...ok, uri: 'alice@contoso.com' }] }, 'users[0]', 'sip:');
      await expectFileError({ users: [{ ...ok, uri: 'tel:+15550100' }] }, 'users[0]', 'sip:');
      await expectFileError({ users: [ok, { ...ok, login: 'ALICE', uri: 'sip:a2@contoso.com' }] }, 'users[1]', 'duplicate login');
      await expectFileError({ users: [ok, { ...ok, login: 'al', uri: 'SIP:Alice@Contoso.com' }] }, 'users[1]', 'duplicate uri');
      await expectFileError({ users: [{ ...ok, pasword: 'x' }] }, 'users[0]', '"pasword"');
      await expectFileError({ users: [{ ...ok, title: 7 }] }, 'users[0]', '"title"');
      await expectFileError({ users: [{ ...ok, login: 'DOM\\alice' }] }, 'users[0]', '"login"');
    });

    it('reports a missing file', async () => {
      const missing = join(tmp, 'nope.json');
      try {
        await UserDirectory.fromFile(missing);
        expect.fail('should throw');
      } catch (err) {
        expect(err).to.be.instanceOf(UserDirectoryError);
        expect((err as Error).message).to.include(missing);
      }
    });
  });
});
