// Measures node oidc-provider the way inkan-bench measures inkan: a JWT
// access token by client credentials (the peer of Issue) and a refresh
// token rotation (the peer of Refresh), at a concurrency, for a duration;
// the provider's own CPU read from /proc, so the driver's cost is not in it.
//
//   node bench/peer/bench.mjs [--concurrency 16] [--duration 10] [--warmup 3] [--json out.json]
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const concurrency = Number(args.concurrency ?? 16);
const duration = Number(args.duration ?? 10) * 1000;
// V8 compiles hot code as it runs: each scenario runs unmeasured first.
const warmup = Number(args.warmup ?? 3) * 1000;
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const child = spawn(process.execPath, [fileURLToPath(new URL('provider.mjs', import.meta.url))], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise((resolve, reject) => {
  createInterface({ input: child.stdout }).once('line', resolve);
  child.once('exit', (code) => reject(new Error(`provider exited with ${code}`)));
});
const base = `http://127.0.0.1:${port}`;
const auth = `Basic ${Buffer.from('bench:a-benchmark-client-secret-of-some-length').toString('base64')}`;
const version = JSON.parse(readFileSync(new URL('node_modules/oidc-provider/package.json', import.meta.url))).version;

function cpuSeconds() {
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks;
}
function peakRssKib() {
  const m = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/);
  return m ? Number(m[1]) : null;
}

async function token(body) {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(json.error ?? `HTTP ${res.status}`);
  // A JWT access token, as inkan issues, not an opaque reference.
  if (json.access_token?.split('.').length !== 3) throw new Error('access token is not a JWT');
  return json;
}

async function scenario(name, prepare, call) {
  const states = await prepare();
  const warmEnd = performance.now() + warmup;
  await Promise.all(states.map(async (state) => {
    while (performance.now() < warmEnd) await call(state);
  }));
  const latencies = [];
  const errors = {};
  const before = cpuSeconds();
  const started = performance.now();
  const deadline = started + duration;
  let calls = 0;
  const progress = setInterval(() => {
    const s = (performance.now() - started) / 1000;
    process.stderr.write(`\r${name}: ${s.toFixed(0)} s, ${calls} calls, ${(calls / s).toFixed(0)}/s   `);
  }, 1000);
  await Promise.all(states.map(async (state) => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        await call(state);
      } catch (e) {
        errors[e.message] = (errors[e.message] ?? 0) + 1;
      }
      latencies.push(performance.now() - t);
      calls += 1;
    }
  }));
  clearInterval(progress);
  process.stderr.write('\n');
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds() - before;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    name,
    calls: latencies.length,
    seconds,
    per_second: latencies.length / seconds,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    p999_ms: q(0.999),
    errors,
    server_cpu_us: (cpu * 1e6) / latencies.length,
    database_cpu_us: 0,
    memory: { peak_kib: peakRssKib() },
  };
}

const workers = () => Array.from({ length: concurrency }, () => ({}));
const results = [];
results.push(await scenario('client credentials (peer of Issue)', async () => workers(), () => token({
  grant_type: 'client_credentials', scope: 'api', resource: 'urn:inkan-bench:api',
})));
results.push(await scenario('refresh rotation (peer of Refresh)', async () => {
  const res = await fetch(`${base}/bench/seed?count=${concurrency}`);
  return (await res.json()).map((refresh) => ({ refresh }));
}, async (state) => {
  const json = await token({ grant_type: 'refresh_token', refresh_token: state.refresh });
  if (!json.refresh_token || !json.access_token) throw new Error('no rotated pair');
  state.refresh = json.refresh_token;
}));
child.kill();

const run = {
  label: `oidc-provider ${version} (node ${process.version}, in-memory)`,
  concurrency,
  duration_seconds: duration / 1000,
  measures_server: true,
  measures_database: false,
  scenarios: results,
};
for (const s of results) {
  console.log(`${s.name}: ${s.per_second.toFixed(0)}/s, p50 ${s.p50_ms.toFixed(2)} ms, p99 ${s.p99_ms.toFixed(2)} ms, `
    + `${s.server_cpu_us.toFixed(0)} µs CPU/call, errors ${JSON.stringify(s.errors)}`);
}
if (args.json) writeFileSync(args.json, JSON.stringify(run, null, 2));
if (results.some((s) => Object.keys(s.errors).length > 0)) process.exitCode = 1;
