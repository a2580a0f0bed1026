import { expect } from 'chai';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  camelCaseOf, ConfigError, OPTIONS, defaultConfig, describeOptions, describeOptionsMarkdown, loadConfig, type GatewayConfig,
} from '../src/config.js';

async function expectConfigError(p: Promise<unknown>, ...fragments: string[]): Promise<ConfigError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a ConfigError').to.be.instanceOf(ConfigError);
  for (const f of fragments) expect((caught as Error).message).to.include(f);
  return caught as ConfigError;
}

describe('config', () => {
  let dir: string;
  let n = 0;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'cwa-config-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  async function configFile(content: unknown): Promise<string> {
    const file = join(dir, `config-${n++}.json`);
    await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  it('has the documented defaults', async () => {
    const config = await loadConfig([], {});
    const expected: GatewayConfig = {
      port: 8080, host: '127.0.0.1', pollWaitMs: 1000, holdMs: 25000, confirmationBatchMs: 50, sessionTimeoutS: 600,
      store: 'embedded', redisPrefix: 'cwa:', dataDir: './data', ticketTtlS: 3600, maxBodyBytes: 65536, maxXmlDepth: 16,
      maxXmlElements: 2000, maxAttributes: 32, maxAttributeLength: 4096, maxRequestsPerBatch: 32,
      maxMessageLength: 8192, logMaxEvents: 1000, logMaxBytes: 1048576, ridCacheSize: 8, ridCacheMaxBytes: 33554432, snapshotEvery: 50000,
      logHighWaterPct: 50,
      inviteTimeoutS: 60, maxParticipantsPerConference: 32, maxConferencesPerSession: 64, mpopAcceptS: 7, logLevel: 'info', logFormat: 'auto',
      searchMaxResults: 100, searchDefaultFunction: 'or', enableAppearOffline: 'true', composingRefreshS: 60,
      composingTimeoutS: 120, machineIdleS: 300, machineAwayS: 1200, maxContacts: 1000, maxContainerMembers: 1000,
      maxSessionsPerUser: 10, rateAddress: 1000, rateAddressBurst: 2000, rateTicket: 20, rateTicketBurst: 60,
      rateLogonAddress: 600, rateLogonFailuresAddress: 30, logonBackoffAfter: 5, logonBackoffMaxS: 900,
      rateLogonFailures: 10, logonFailureHoldMs: 3000, trustProxy: 0, headersTimeoutMs: 10000, requestTimeoutMs: 30000,
      keepAliveTimeoutMs: 5000, shutdownTimeoutMs: 10000,
      wsMaxPayloadBytes: 65536, wsMaxBufferedBytes: 4194304, wsPingIntervalMs: 25000, wsFrameRate: 200, wsFrameBurst: 400,
      fallbackCharset: 'windows-1252', xmlLayout: 'original', noWebClient: false,
    };
    // --data-dir is made absolute (./data in the working directory when nothing says otherwise).
    expect(config).to.deep.equal({ ...expected, dataDir: resolve('data') });
    expect(config.usersFile).to.equal(undefined);
    expect(config.configFile).to.equal(undefined);
    expect(defaultConfig()).to.deep.equal(expected);
  });

  it('describes each option once, with a default inside its own range', () => {
    const unique = (xs: string[]): boolean => new Set(xs).size === xs.length;
    expect(unique(OPTIONS.map((o) => o.key))).to.equal(true);
    expect(unique(OPTIONS.map((o) => o.flag))).to.equal(true);
    expect(unique(OPTIONS.map((o) => o.env))).to.equal(true);
    for (const o of OPTIONS) {
      expect(o.description, o.key).to.be.a('string').and.not.equal('');
      if (o.type === 'int') {
        expect(o.default, o.key).to.be.a('number');
        expect(o.default as number).to.be.within(o.min!, o.max!);
      }
    }
  });

  it('applies flags over env over file over defaults, for several keys', async () => {
    const cases: Array<[keyof GatewayConfig, string, string, [unknown, string, string, unknown]]> = [
      // key, flag, env, [file value, env value, flag value, parsed flag value]
      ['port', '--port', 'PORT', [1000, '2000', '3000', 3000]],
      ['host', '--host', 'HOST', ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.3']],
      ['holdMs', '--hold-ms', 'CWA_HOLD_MS', [1, '2', '3', 3]],
      ['logLevel', '--log-level', 'CWA_LOG_LEVEL', ['debug', 'warn', 'trace', 'trace']],
      ['store', '--store', 'CWA_STORE', ['redis://a:6379/0', 'redis://b:6379/1', 'embedded', 'embedded']],
      ['maxRequestsPerBatch', '--max-requests-per-batch', 'CWA_MAX_REQUESTS_PER_BATCH', [5, '6', '7', 7]],
      ['xmlLayout', '--xml-layout', 'CWA_XML_LAYOUT', ['compact', 'original', 'compact', 'compact']],
      ['fallbackCharset', '--fallback-charset', 'CWA_FALLBACK_CHARSET', ['none', 'shift_jis', 'iso-8859-1', 'iso-8859-1']],
    ];
    for (const [key, flag, env, [fileValue, envValue, flagValue, parsedFlag]] of cases) {
      const file = await configFile({ [key]: fileValue });
      const defaultValue = defaultConfig()[key];
      const parsedEnv = typeof fileValue === 'number' ? Number(envValue) : envValue;
      expect((await loadConfig(['--config', file, flag, flagValue], { [env]: envValue }))[key], key).to.equal(parsedFlag);
      expect((await loadConfig(['--config', file], { [env]: envValue }))[key], key).to.equal(parsedEnv);
      expect((await loadConfig(['--config', file], {}))[key], key).to.equal(fileValue);
      expect((await loadConfig([], {}))[key], key).to.equal(defaultValue);
    }
  });

  it('finds the config file through CWA_CONFIG, and --config beats it', async () => {
    const a = await configFile({ port: 1111 });
    const b = await configFile({ port: 2222 });
    expect((await loadConfig([], { CWA_CONFIG: a })).port).to.equal(1111);
    const config = await loadConfig(['--config', b], { CWA_CONFIG: a });
    expect(config.port).to.equal(2222);
    expect(config.configFile).to.equal(b);
  });

  it('accepts --flag=value and --flag value; the last occurrence wins', async () => {
    const config = await loadConfig(['--port=1234', '--host', '::1', '--users=/tmp/u=1.json', '--log-level=debug'], {});
    expect(config.port).to.equal(1234);
    expect(config.host).to.equal('::1');
    expect(config.usersFile).to.equal('/tmp/u=1.json');
    expect(config.logLevel).to.equal('debug');
    expect((await loadConfig(['--port', '1', '--port=2'], {})).port).to.equal(2);
  });

  it('treats an empty environment variable as unset', async () => {
    expect((await loadConfig([], { PORT: '', CWA_USERS: '' })).port).to.equal(8080);
  });

  it('resolves paths in a config file relative to that file', async () => {
    const sub = join(dir, 'sub');
    await mkdir(sub, { recursive: true });
    const file = join(sub, 'gw.json');
    await writeFile(file, JSON.stringify({ usersFile: 'users.json', dataDir: '/abs/data' }));
    const config = await loadConfig(['--config', file], {});
    expect(config.usersFile).to.equal(join(sub, 'users.json'));
    expect(config.dataDir).to.equal('/abs/data');
  });

  it('--data-dir: absolute; relative to the working directory on a flag or in the environment, to the config file in it, `data` beside the config file by default', async () => {
    const sub = join(dir, 'dd');
    await mkdir(sub, { recursive: true });
    const empty = join(sub, 'empty.json');
    await writeFile(empty, JSON.stringify({ port: 8081 }));
    const named = join(sub, 'named.json');
    await writeFile(named, JSON.stringify({ dataDir: 'state' }));
    expect((await loadConfig([], {})).dataDir).to.equal(join(process.cwd(), 'data'));
    expect((await loadConfig(['--data-dir', 'x/y'], {})).dataDir).to.equal(join(process.cwd(), 'x/y'));
    expect((await loadConfig([], { CWA_DATA_DIR: 'z' })).dataDir).to.equal(join(process.cwd(), 'z'));
    expect((await loadConfig(['--config', empty], {})).dataDir).to.equal(join(sub, 'data'));
    expect((await loadConfig(['--config', named], {})).dataDir).to.equal(join(sub, 'state'));
    // A flag or variable still beats the file, and stays relative to the working directory.
    expect((await loadConfig(['--config', named, '--data-dir', 'flag'], {})).dataDir).to.equal(join(process.cwd(), 'flag'));
    expect((await loadConfig(['--config', empty], { CWA_DATA_DIR: '/srv/cwa' })).dataDir).to.equal('/srv/cwa');
  });

  it('rejects out-of-range and non-integer values from flags, env and file, naming the option and range', async () => {
    const ranges: Array<[keyof GatewayConfig, string, string, number, number]> = [
      ['port', '--port', 'PORT', 0, 65535],
      ['holdMs', '--hold-ms', 'CWA_HOLD_MS', 0, 120000],
      ['pollWaitMs', '--poll-wait-ms', 'CWA_POLL_WAIT_MS', 0, 60000],
      ['sessionTimeoutS', '--session-timeout-s', 'CWA_SESSION_TIMEOUT_S', 10, 86400],
    ];
    for (const [key, flag, env, min, max] of ranges) {
      const range = `${min}..${max}`;
      // the bounds themselves are accepted
      expect((await loadConfig([flag, String(min)], {}))[key]).to.equal(min);
      expect((await loadConfig([flag, String(max)], {}))[key]).to.equal(max);
      for (const bad of [String(min - 1), String(max + 1), '1.5', 'abc', '1e3', '0x10', '']) {
        await expectConfigError(loadConfig([`${flag}=${bad}`], {}), flag, range);
        if (bad !== '') await expectConfigError(loadConfig([], { [env]: bad }), env, range);
      }
      for (const bad of [min - 1, max + 1, 1.5, '12', true, null]) {
        const file = await configFile({ [key]: bad });
        await expectConfigError(loadConfig(['--config', file], {}), file, `"${key}"`, range);
      }
    }
  });

  it('rejects zero for every positive limit', async () => {
    for (const o of OPTIONS.filter((x) => x.type === 'int' && x.min === 1)) {
      await expectConfigError(loadConfig([o.flag, '0'], {}), o.flag, `1..${o.max}`);
      await expectConfigError(loadConfig([], { [o.env]: '0' }), o.env);
    }
  });

  it('rejects unknown flags, stray arguments and missing values', async () => {
    await expectConfigError(loadConfig(['--nope', '1'], {}), '--nope');
    await expectConfigError(loadConfig(['--nope=1'], {}), '--nope');
    await expectConfigError(loadConfig(['-p', '1'], {}), '-p');
    await expectConfigError(loadConfig(['8080'], {}), '8080');
    await expectConfigError(loadConfig(['--port'], {}), '--port', 'missing value');
    await expectConfigError(loadConfig(['--host', '--port', '1'], {}), '--host', 'missing value');
    await expectConfigError(loadConfig(['--host='], {}), '--host');
  });

  it('rejects a bad log level and names the allowed ones', async () => {
    await expectConfigError(loadConfig(['--log-level', 'loud'], {}), '--log-level', 'fatal, error, warn, info, debug, trace, silent');
    await expectConfigError(loadConfig([], { CWA_LOG_LEVEL: 'INFO2' }), 'CWA_LOG_LEVEL');
  });

  it('rejects an unknown --xml-layout and a charset Node cannot decode as --fallback-charset', async () => {
    await expectConfigError(loadConfig(['--xml-layout', 'pretty'], {}), '--xml-layout', 'original, compact');
    await expectConfigError(loadConfig(['--fallback-charset', 'utf-32'], {}), '--fallback-charset', 'charset label');
    await expectConfigError(loadConfig([], { CWA_FALLBACK_CHARSET: 'iso-2022-kr' }), 'CWA_FALLBACK_CHARSET');
    expect((await loadConfig(['--fallback-charset', 'none'], {})).fallbackCharset).to.equal('none');
  });

  it('accepts embedded or a redis URL as store, and rejects anything else', async () => {
    for (const good of ['embedded', 'redis://localhost', 'redis://localhost:6379/0', 'rediss://:secret@cache.example:6380/2']) {
      expect((await loadConfig(['--store', good], {})).store).to.equal(good);
    }
    for (const bad of ['memory', 'redis://', 'http://localhost:6379', 'redis://h/db', 'redis://h/0?x=1', 'redis://h:99999']) {
      await expectConfigError(loadConfig(['--store', bad], {}), '--store', 'redis://');
    }
    const err = await expectConfigError(loadConfig([], { CWA_STORE: 'redis://:hunter2@h/x' }), 'CWA_STORE');
    expect(err.message).not.to.include('hunter2');
  });

  it('suggests the nearest flag or key for a typo', async () => {
    const flag = await expectConfigError(loadConfig(['--prot', '80'], {}), '--prot');
    expect(flag.message).to.include('did you mean --port?');
    const far = await expectConfigError(loadConfig(['--zzzzzzzz', '1'], {}), '--zzzzzzzz');
    expect(far.message).not.to.include('did you mean');
    const key = await expectConfigError(loadConfig(['--config', await configFile({ holdMS: 1 })], {}), '"holdMS"');
    expect(key.message).to.include('did you mean holdMs?');
  });

  it('takes every option in a config file by the camelCase name of its flag (and its older key)', async () => {
    for (const o of OPTIONS.filter((x) => !x.noFile)) {
      const camel = camelCaseOf(o.flag);
      const file = await configFile({ [camel]: o.default ?? 'x' });
      const err = await loadConfig(['--config', file], {}).then(() => undefined, (e: unknown) => e as Error);
      // A value some options refuse on their own (paths, tokens) is fine: the key must not be the problem.
      if (err) expect(err.message, camel).not.to.include('unknown key');
    }
    const file = await configFile({ imComposingRefreshS: 45 });
    expect((await loadConfig(['--config', file], {})).composingRefreshS).to.equal(45);
    const older = await configFile({ composingRefreshS: 44 });
    expect((await loadConfig(['--config', older], {})).composingRefreshS).to.equal(44);
  });

  it('rejects unknown or misplaced config-file keys and unreadable files', async () => {
    const typo = await configFile({ prot: 80 });
    await expectConfigError(loadConfig(['--config', typo], {}), typo, '"prot"', 'port');
    const nested = await configFile({ configFile: 'other.json' });
    await expectConfigError(loadConfig(['--config', nested], {}), '"configFile"');
    const flagName = await configFile({ '--port': 80 });
    await expectConfigError(loadConfig(['--config', flagName], {}), '"--port"');
    const broken = await configFile('{ "port": 80,');
    await expectConfigError(loadConfig(['--config', broken], {}), broken, 'invalid JSON');
    const list = await configFile([1, 2]);
    await expectConfigError(loadConfig(['--config', list], {}), list, 'object');
    const missing = join(dir, 'does-not-exist.json');
    await expectConfigError(loadConfig([], { CWA_CONFIG: missing }), missing);
  });

  it('takes --no-web-client as a flag without a value, true/false in the environment and a boolean in a file', async () => {
    expect((await loadConfig(['--no-web-client'], {})).noWebClient).to.equal(true);
    expect((await loadConfig(['--no-web-client', '--port', '81'], {})).port).to.equal(81);
    expect((await loadConfig(['--no-web-client=false'], {})).noWebClient).to.equal(false);
    expect((await loadConfig([], { CWA_NO_WEB_CLIENT: 'true' })).noWebClient).to.equal(true);
    expect((await loadConfig([], { CWA_NO_WEB_CLIENT: '0' })).noWebClient).to.equal(false);
    expect((await loadConfig(['--config', await configFile({ noWebClient: true })], {})).noWebClient).to.equal(true);
    await expectConfigError(loadConfig([], { CWA_NO_WEB_CLIENT: 'yes please' }), 'CWA_NO_WEB_CLIENT', 'true or false');
    await expectConfigError(loadConfig(['--config', await configFile({ noWebClient: 'true' })], {}), 'noWebClient', 'true or false');
    expect(describeOptions()).to.match(/--no-web-client +do not serve the web client/);
  });

  it('documents every option in the help text and the Markdown table', () => {
    const help = describeOptions();
    const md = describeOptionsMarkdown();
    for (const o of OPTIONS) {
      for (const text of [help, md]) {
        expect(text).to.include(o.flag);
        expect(text).to.include(o.env);
        expect(text).to.include(o.description);
      }
      // --data-dir's default depends on --config: the help says how.
      if (o.key === 'dataDir') expect(help).to.include('default: `data` beside the --config file, else ./data');
      else if (o.default !== undefined) expect(help).to.include(`default: ${o.default}`);
    }
  });
});
