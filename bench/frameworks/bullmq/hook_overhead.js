'use strict';
/*
 * hook_overhead.js - what tqbench's hook costs a BullMQ worker.
 *
 *   node bench/frameworks/bullmq/hook_overhead.js [--jobs N] [--concurrency C] [--rounds R]
 *
 * Starts a private redis-server (unix socket in a temporary directory,
 * stopped by pid at the end), then R rounds of: N noop jobs added with
 * BullMQ's own Queue.addBulk (the options tqbench writes), drained by one
 * Worker of tqbench_bullmq_worker.js in this process with the hook, then
 * the same without it (TQ_BULLMQ_HOOK=0: BullMQ's Worker and the job kinds
 * only). The time is the Worker's first 'active' event to its 'drained'
 * event, so start-up is not in it. Prints per round and mode the jobs/s and
 * this process's CPU time per job over the same window (process.cpuUsage:
 * less disturbed than the rate by other load on the machine).
 */
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Queue } = require('bullmq');
const { startWorker, Config } = require('./tqbench_bullmq_worker');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const JOBS = arg('--jobs', 20000), CONC = arg('--concurrency', 10), ROUNDS = arg('--rounds', 3);

async function startRedis(dir) {
  const sock = path.join(dir, 'redis.sock');
  const child = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '',
                                       '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise(r => setTimeout(r, 50));
  if (!fs.existsSync(sock)) throw new Error('redis-server did not start');
  return { child, sock };
}

async function round(sock, queue, hook) {
  const q = new Queue(queue, { connection: { path: sock } });
  const opts = { removeOnComplete: true, removeOnFail: true };
  for (let i = 0; i < JOBS; i += 1000) {
    const n = Math.min(1000, JOBS - i);
    await q.addBulk(Array.from({ length: n }, () => ({ name: 'noop', data: { args: [] }, opts })));
  }
  await q.close();
  process.env.TQ_BULLMQ_REDIS_URL = `unix://${sock}`;
  process.env.TQ_BULLMQ_HOOK = hook ? '1' : '0';
  process.env.TQ_BULLMQ_RUN = queue;
  const cfg = new Config();
  let t0 = 0, cpu0 = null;
  let drained;
  const done = new Promise(resolve => { drained = resolve; });
  const { worker, close } = await startWorker(queue, CONC, cfg);
  worker.once('active', () => { t0 = performance.now(); cpu0 = process.cpuUsage(); });
  worker.on('drained', () => drained([performance.now(), process.cpuUsage(cpu0)]));
  const [t1, cpu] = await done;
  await close();
  return { rate: JOBS / ((t1 - t0) / 1000), cpuUs: (cpu.user + cpu.system) / JOBS };
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tqbench-bullmq-'));
  const { child, sock } = await startRedis(dir);
  try {
    for (let r = 1; r <= ROUNDS; r++)
      for (const hook of [true, false]) {
        const { rate, cpuUs } = await round(sock, `overhead-${r}-${hook ? 'hook' : 'bare'}`, hook);
        console.log(`round ${r} ${hook ? 'with hook   ' : 'without hook'} ${Math.round(rate)} jobs/s, ` +
                    `${cpuUs.toFixed(1)} us worker CPU per job`);
      }
  } finally {
    child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
})().catch(err => { console.error(err); process.exit(1); });
