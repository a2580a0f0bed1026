// Dockerfile and docker-compose.yml, checked without a Docker engine: their structure (multi-stage
// on node:20-slim, npm ci then prune, a non-root user, a data volume, the health check,
// EXPOSE matching the port the gateway is told) and that everything they name exists: files
// copied, the bin and its command, the health path (the HEALTHCHECK command itself is run
// against a live gateway), the gateway options set in docker-compose.yml and the services they name.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, OPTIONS } from '../src/config.js';
import { startTestGateway } from './support/gateway.js';
import { parseYamlSubset, type YamlValue } from './support/yaml-subset.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && !pending)) return;
    const cont = line.endsWith('\\');
    const part = cont ? line.slice(0, -1).trim() : line;
    pending = pending ? { text: `${pending.text} ${part}`, line: pending.line } : { text: part, line: i + 1 };
    if (cont) return;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(pending.text);
    if (!m) throw new Error(`Dockerfile line ${pending.line}: not an instruction: ${pending.text}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: pending.line });
    pending = undefined;
  });
  if (pending) throw new Error('Dockerfile ends inside a continuation');
  return out;
}

/** The stages: each FROM and the instructions after it. */
function stagesOf(instructions: Instruction[]): { image: string; name?: string; body: Instruction[] }[] {
  const stages: { image: string; name?: string; body: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      expect(m, `FROM at line ${ins.line}`).to.not.equal(null);
      stages.push({ image: m![1]!, name: m![2], body: [] });
    } else {
      expect(stages.length, `${ins.op} before FROM`).to.be.greaterThan(0);
      stages.at(-1)!.body.push(ins);
    }
  }
  return stages;
}

function execForm(ins: Instruction | undefined, what: string): string[] {
  expect(ins, what).to.not.equal(undefined);
  const json = ins!.args.replace(/^(--\S+\s+)*(CMD\s+)?/, '');
  const parsed = JSON.parse(json) as unknown;
  expect(parsed, `${what} in exec (JSON) form`).to.be.an('array');
  return parsed as string[];
}

/** COPY sources and destination (flags such as --from and --chown apart). */
function copyOf(ins: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = ins.args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

function envOf(body: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of body.filter((i) => i.op === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

function run(cmd: string[], env: Record<string, string> = {}): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('Dockerfile and docker-compose.yml (linted; no Docker engine needed)', () => {
  const instructions = parseDockerfile(read('Dockerfile'));
  const stages = stagesOf(instructions);
  const build = stages[0]!;
  const final = stages.at(-1)!;

  it('builds in one node:20-slim stage with npm ci, then prunes the dev dependencies', () => {
    expect(stages.length).to.be.greaterThanOrEqual(2);
    for (const s of stages) expect(s.image).to.equal('node:20-slim');
    expect(build.name).to.equal('build');
    const runs = build.body.filter((i) => i.op === 'RUN').map((i) => i.args);
    const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r));
    const prune = runs.findIndex((r) => /\bnpm prune --omit=dev\b/.test(r));
    expect(ci, 'RUN npm ci').to.be.greaterThanOrEqual(0);
    expect(prune, 'RUN npm prune --omit=dev').to.be.greaterThanOrEqual(ci);
    if (ci === prune) expect(runs[ci]!.indexOf('npm ci')).to.be.lessThan(runs[ci]!.indexOf('npm prune'));
    // What `npm ci` needs is copied before it runs: the workspace's manifest, and for its prepare script
    // (tsc, then esbuild for the web client and the client package) the sources and the build scripts.
    const runAt = build.body.findIndex((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
    const copiedBefore = build.body.slice(0, runAt).filter((i) => i.op === 'COPY').flatMap((i) => copyOf(i).sources);
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'packages/client', 'scripts', 'src', 'bin', 'schemas']) expect(copiedBefore).to.include(needed);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const must of ['node_modules', 'dist', 'data', '.git']) expect(ignored, `.dockerignore: ${must}`).to.include(must);
    for (const ins of instructions.filter((i) => i.op === 'COPY')) {
      const { from, sources } = copyOf(ins);
      if (from) continue;
      for (const src of sources) {
        expect(existsSync(join(ROOT, src)), `COPY ${src} (line ${ins.line})`).to.equal(true);
        expect(ignored.includes(src.split('/')[0]!), `COPY ${src} is in .dockerignore`).to.equal(false);
      }
    }
  });

  it('runs as a non-root user, with what the gateway reads at run time copied from the build', () => {
    const users = final.body.filter((i) => i.op === 'USER').map((i) => i.args.trim());
    expect(users.length).to.be.greaterThan(0);
    expect(users.at(-1)).to.not.be.oneOf(['root', '0', '0:0']);
    const userAt = final.body.findIndex((i) => i.op === 'USER');
    const entryAt = final.body.findIndex((i) => i.op === 'ENTRYPOINT');
    expect(userAt).to.be.lessThan(entryAt);
    const copied = final.body.filter((i) => i.op === 'COPY').map(copyOf);
    const fromBuild = copied.filter((c) => c.from === 'build').flatMap((c) => c.sources.map((s) => s.replace(/^\/app\//, '')));
    // package.json (the version), the compiled gateway, the web client, its bin, production modules, the XSDs it validates with.
    for (const needed of ['package.json', 'dist/src', 'dist/web', 'bin', 'node_modules', 'schemas']) expect(fromBuild).to.include(needed);
    // Each comes from something the build stage has: copied in, or made by npm ci (node_modules, dist).
    const buildHas = new Set([...build.body.filter((i) => i.op === 'COPY').flatMap((i) => copyOf(i).sources), 'node_modules', 'dist']);
    for (const p of fromBuild) expect(buildHas.has(p.split('/')[0]!), `COPY --from=build /app/${p}`).to.equal(true);
    expect(existsSync(join(ROOT, 'dist/src/cli.js')), 'dist/src is what the build makes').to.equal(true);
  });

  it('serves on 0.0.0.0:8080 (EXPOSE), keeps its data in the /data volume, and its ENTRYPOINT and CMD run', async () => {
    const env = envOf(final.body);
    const expose = final.body.filter((i) => i.op === 'EXPOSE').map((i) => i.args.trim());
    expect(expose).to.deep.equal(['8080']);
    expect(env.PORT).to.equal('8080');
    expect(env.HOST).to.equal('0.0.0.0');
    const volumes = final.body.filter((i) => i.op === 'VOLUME').flatMap((i) => JSON.parse(i.args) as string[]);
    expect(volumes).to.deep.equal(['/data']);
    expect(env.CWA_DATA_DIR).to.equal('/data');
    // The image's environment is a valid gateway configuration.
    const config = await loadConfig([], env);
    expect([config.host, config.port, config.dataDir]).to.deep.equal(['0.0.0.0', 8080, '/data']);
    const entry = execForm(final.body.find((i) => i.op === 'ENTRYPOINT'), 'ENTRYPOINT');
    const cmd = execForm(final.body.find((i) => i.op === 'CMD'), 'CMD');
    expect(entry).to.deep.equal(['node', 'bin/cwa-gateway.js']);
    expect(existsSync(join(ROOT, entry[1]!))).to.equal(true);
    const help = spawnSync(process.execPath, [entry[1]!, ...cmd, '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/^Usage: cwa-gateway/);
  });

  it('HEALTHCHECK: its command succeeds against a serving gateway, fails when nothing answers', async function () {
    this.timeout(20_000);
    const hc = instructions.filter((i) => i.op === 'HEALTHCHECK');
    expect(hc).to.have.length(1);
    expect(hc[0]!.args).to.match(/--interval=\d+s/).and.match(/--timeout=\d+s/);
    const cmd = execForm(hc[0], 'HEALTHCHECK CMD');
    expect(cmd.join(' ')).to.include('/readyz');
    const gw = await startTestGateway();
    try {
      const port = new URL(gw.url).port;
      expect(await run(cmd, { PORT: port })).to.equal(0);
    } finally {
      await gw.close();
    }
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const free = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    expect(await run(cmd, { PORT: String(free) })).to.equal(1);
  });

  describe('docker-compose.yml', () => {
    const compose = parseYamlSubset(read('docker-compose.yml')) as Record<string, YamlValue>;
    const services = compose.services as Record<string, Record<string, YamlValue>>;
    const gatewayServices = Object.entries(services).filter(([, s]) => s.build !== undefined || String(s.image).startsWith('cwa-gateway'));
    const knownEnv = new Set(OPTIONS.map((o) => o.env));

    it('one gateway by default; a "cluster" profile of redis and three gateway nodes', () => {
      expect(existsSync(join(ROOT, 'compose.yaml')), 'one compose file').to.equal(false);
      expect(Object.keys(services).sort()).to.deep.equal(['gateway', 'node1', 'node2', 'node3', 'redis']);
      expect(services.gateway!.profiles).to.equal(undefined);
      for (const name of ['redis', 'node1', 'node2', 'node3']) expect(services[name]!.profiles, name).to.deep.equal(['cluster']);
      expect(gatewayServices.map(([n]) => n).sort()).to.deep.equal(['gateway', 'node1', 'node2', 'node3']);
    });

    it('gateway services build this folder, publish the port the image serves, and set only real gateway options', async () => {
      const hostPorts = new Set<string>();
      for (const [name, s] of gatewayServices) {
        expect(s.build, name).to.equal('.');
        expect(existsSync(join(ROOT, String(s.build), 'Dockerfile'))).to.equal(true);
        const ports = s.ports as string[];
        expect(ports, name).to.have.length(1);
        const [host, hostPort, containerPort] = ports[0]!.split(':');
        expect(host, `${name} publishes on loopback only (demo users)`).to.equal('127.0.0.1');
        expect(containerPort, name).to.equal('8080');
        expect(hostPorts.has(hostPort!), `host port ${hostPort} used twice`).to.equal(false);
        hostPorts.add(hostPort!);
        const env = (s.environment ?? {}) as Record<string, string>;
        for (const key of Object.keys(env)) expect(knownEnv.has(key), `${name}: ${key} is not a gateway option`).to.equal(true);
        // The image's environment plus the service's is a valid configuration.
        const config = await loadConfig([], { ...envOf(final.body), ...env });
        if (name === 'gateway') {
          expect(config.store).to.equal('embedded');
          expect(s.volumes, 'the embedded store on a named volume').to.deep.equal(['gateway-data:/data']);
        } else {
          const store = new URL(config.store);
          expect(store.protocol).to.equal('redis:');
          expect(services[store.hostname], `${name}: ${config.store} names a service`).to.not.equal(undefined);
          expect((s.depends_on as Record<string, Record<string, string>>)[store.hostname]!.condition).to.equal('service_healthy');
        }
      }
      const nodesStores = ['node1', 'node2', 'node3'].map((n) => (services[n]!.environment as Record<string, string>).CWA_STORE);
      expect(new Set(nodesStores).size, 'the nodes share one store').to.equal(1);
    });

    it('redis has a health check; every named volume is declared', () => {
      const redis = services.redis!;
      expect(String(redis.image)).to.match(/^redis:\d/);
      expect((redis.healthcheck as Record<string, YamlValue>).test).to.deep.equal(['CMD', 'redis-cli', 'ping']);
      const declared = Object.keys(compose.volumes as Record<string, YamlValue>);
      for (const [name, s] of Object.entries(services)) {
        for (const v of (s.volumes ?? []) as string[]) {
          const source = v.split(':')[0]!;
          if (!source.startsWith('.') && !source.startsWith('/')) expect(declared, `${name}: volume ${source}`).to.include(source);
        }
      }
    });

    it('the reader refuses YAML it does not understand, rather than misreading it', () => {
      expect(() => parseYamlSubset('a:\n  - b: 1\n')).to.throw(/sequences of mappings/);
      expect(() => parseYamlSubset('a: |\n  text\n')).to.throw(/block scalars/);
      expect(() => parseYamlSubset('a: [b, c]\n')).to.throw(/JSON/);
      expect(parseYamlSubset('a:\n  b: "x # y" # c\n  c:\n  - 1\n  - two\n')).to.deep.equal({ a: { b: 'x # y', c: [1, 'two'] } });
    });
  });
});
