'use strict';
/*
 * tqbench_bullmq_worker.js - a BullMQ Worker running tqbench's four job
 * kinds, counting and timing every job into tqbench's native keys.
 *
 *   node tqbench_bullmq_worker.js --queue <q> --concurrency <n>
 *
 * The worker is BullMQ's own `Worker` class (in-process processor, BullMQ's
 * defaults: prefix "bull", drainDelay 5 s, lockDuration 30 s...). No
 * finished job is kept: the jobs tqbench adds carry removeOnComplete /
 * removeOnFail true, and the Worker is given removeOnComplete / removeOnFail
 * {count: 0} for jobs added without them. Job kinds, by job name (bench/frameworks/bullmq.c writes
 * them):
 *
 *   noop         returns at once
 *   sleep(ms)    awaits a timer of ms milliseconds (the event loop stays free)
 *   cpu(us)      burns us microseconds of the process's CPU time on the event
 *                loop (BullMQ's in-process processor: other jobs of this
 *                process wait meanwhile, as Python's and Ruby's workers wait
 *                for their interpreter lock)
 *   fail         throws; counted failed, or retried while attempts remain
 *                (opts.attempts, no backoff: BullMQ retries at once)
 *
 * The parameter is data.args[0]; tqbench's own fields ride in the job's
 * data: tqbench_run, tqbench_seq, tqbench_enq_us, tqbench_sched_us (open
 * loop), tqbench_pad (ignored).
 *
 * The hook writes what tqworker writes (common/tq_keys.h), as the RQ and
 * Sidekiq hooks do:
 *
 *   P:run:<run>:stats   HINCRBY completed / failed / retried
 *   P:run:<run>:stamps  RPUSH "origin_us,started_us,done_us" per completed job
 *   P:worker:<id>       heartbeat hash (MULTI HSET + PEXPIRE), SADD P:workers,
 *                       with the contract's fields: pid, host, queues,
 *                       concurrency, protocol "bullmq", processed, failed,
 *                       inflight, cpu_user_us, cpu_sys_us, rss_kb, pss_kb
 *
 * A job is counted on the Worker's 'completed' / 'failed' event, which BullMQ
 * emits after its moveToFinished script recorded the outcome (and wrote the
 * event to bull:<q>:events), so when tqbench's count is complete, BullMQ's
 * events stream is too: bench/frameworks/bullmq.c cross-checks them. Its
 * start is taken when the processor is called, its end at the event. Counts
 * and stamps are flushed every ~100 ms and at exit, one MULTI/EXEC per flush
 * (one round trip), so a reader that sees the final count sees every stamp.
 * A job without tqbench's fields (added by BullMQ's own Queue.add) counts in
 * TQ_BULLMQ_RUN, timed from its BullMQ timestamp (ms).
 *
 * Wall-clock µs come from performance.timeOrigin + performance.now() (Date
 * has only ms). The process is one Node process: its CPU is
 * process.cpuUsage() (µs), its memory /proc/self.
 *
 * Configuration (environment, set by tqbench's bullmq adapter):
 *   TQ_BULLMQ_REDIS_URL           redis://[user:pass@]host[:port][/db] or
 *                                 unix:///path[?db=N][&password=P]
 *   TQ_BULLMQ_PREFIX              tqbench's key prefix (default tq)
 *   TQ_BULLMQ_RUN                 run id for jobs without tqbench fields
 *   TQ_BULLMQ_WORKER_ID           heartbeat id (default <host>-<pid>)
 *   TQ_BULLMQ_HEARTBEAT_INTERVAL  seconds, 0.1..3600 (default 1); TTL 3 intervals
 *   TQ_BULLMQ_HOOK                "0" disables the hook (overhead measurement)
 * On SIGTERM / SIGINT the worker closes (active jobs finish), flushes, removes
 * its heartbeat and exits 0.
 */
const fs = require('fs');
const os = require('os');
const { performance } = require('perf_hooks');
const { Worker } = require('bullmq');
const IORedis = require('ioredis');

const FLUSH_INTERVAL_MS = 100;
const STAMPS_PER_RPUSH = 1000;
const BULLMQ_VERSION = require('bullmq/package.json').version;

function env(name, dflt) {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : v;
}

function nowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/* tqbench's URL forms (common/tq_redis.h) -> ioredis options. The password
 * never goes into an error message. */
function redisOptions(url) {
  let u;
  try {
    u = new URL(url);
  } catch (e) {
    throw new Error('malformed Redis URL');
  }
  const opts = {};
  if (u.protocol === 'unix:') {
    if (!u.pathname) throw new Error('unix Redis URL without a socket path');
    opts.path = decodeURIComponent(u.pathname);
    opts.db = Number(u.searchParams.get('db') || '0');
    if (u.searchParams.get('password')) opts.password = u.searchParams.get('password');
  } else if (u.protocol === 'redis:') {
    opts.host = u.hostname || '127.0.0.1';
    opts.port = Number(u.port || '6379');
    const db = u.pathname.replace(/^\//, '') || u.searchParams.get('db') || '0';
    opts.db = Number(db);
    if (u.username) opts.username = decodeURIComponent(u.username);
    if (u.password) opts.password = decodeURIComponent(u.password);
  } else {
    throw new Error(`unsupported Redis URL scheme ${JSON.stringify(u.protocol)} (redis:// or unix://)`);
  }
  if (!Number.isInteger(opts.db) || opts.db < 0) throw new Error('bad db in Redis URL');
  return opts;
}

function parseArgs(argv) {
  const out = { queue: '', concurrency: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--queue' && i + 1 < argv.length) out.queue = argv[++i];
    else if (a === '--concurrency' && i + 1 < argv.length) out.concurrency = Number(argv[++i]);
    else throw new Error(`unknown argument ${JSON.stringify(a)} (--queue Q --concurrency N)`);
  }
  if (!out.queue) throw new Error('--queue is required');
  if (!Number.isInteger(out.concurrency) || out.concurrency < 1)
    throw new Error('--concurrency must be an integer >= 1');
  return out;
}

class Config {
  constructor() {
    this.url = env('TQ_BULLMQ_REDIS_URL', 'redis://127.0.0.1:6379/0');
    this.prefix = env('TQ_BULLMQ_PREFIX', 'tq');
    this.run = env('TQ_BULLMQ_RUN', 'standalone');
    this.workerId = env('TQ_BULLMQ_WORKER_ID', `${os.hostname()}-${process.pid}`);
    const iv = Number(env('TQ_BULLMQ_HEARTBEAT_INTERVAL', '1'));
    this.interval = Number.isFinite(iv) ? Math.min(3600, Math.max(0.1, iv)) : 1;
    this.enabled = env('TQ_BULLMQ_HOOK', '1') !== '0';
    this.redis = redisOptions(this.url);
  }
  statsKey(run) { return `${this.prefix}:run:${run}:stats`; }
  stampsKey(run) { return `${this.prefix}:run:${run}:stamps`; }
  workerKey() { return `${this.prefix}:worker:${this.workerId}`; }
  workersKey() { return `${this.prefix}:workers`; }
}

/* The four kinds. */
function burnCpu(us) {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 256; i++) x += i * i;
    const d = process.cpuUsage(start);
    if (d.user + d.system >= us) return x;
  }
}

class TqbenchFailure extends Error {}

async function runJob(job) {
  const arg = job.data && Array.isArray(job.data.args) ? Number(job.data.args[0]) || 0 : 0;
  switch (job.name) {
    case 'noop':
      return null;
    case 'sleep':
      await new Promise(resolve => setTimeout(resolve, arg));
      return null;
    case 'cpu':
      burnCpu(arg);
      return null;
    case 'fail':
      throw new TqbenchFailure('tqbench fail job');
    default:
      throw new Error(`unknown job name ${JSON.stringify(job.name)}`);
  }
}

/* Counts and stamps since the last flush, and the process's totals. */
class Batch {
  constructor(cfg, client) {
    this.cfg = cfg;
    this.client = client;
    this.counts = new Map(); // run -> [completed, failed, retried]
    this.stamps = new Map(); // run -> ["origin,start,done", ...]
    this.processed = this.failed = this.inflight = 0;
    this.flushing = null;
    this.warnedAt = 0;
  }

  done(run, outcome, stamp) {
    let c = this.counts.get(run);
    if (!c) this.counts.set(run, (c = [0, 0, 0]));
    if (outcome === 'retried') {
      c[2]++;
      return;
    }
    this.processed++;
    if (outcome === 'failed') {
      c[1]++;
      this.failed++;
      return;
    }
    c[0]++;
    if (stamp) { // latency of completed jobs only, as tqworker
      let s = this.stamps.get(run);
      if (!s) this.stamps.set(run, (s = []));
      s.push(stamp);
    }
  }

  /* One MULTI/EXEC; on an error the batch is kept for the next flush (a
   * lost count would stall the run). Resolves true when nothing is pending. */
  flush() {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.counts.size === 0 && this.stamps.size === 0) return Promise.resolve(true);
    const counts = this.counts, stamps = this.stamps;
    this.counts = new Map();
    this.stamps = new Map();
    const tx = this.client.multi();
    for (const [run, [completed, failed, retried]] of counts) {
      const key = this.cfg.statsKey(run);
      if (completed) tx.hincrby(key, 'completed', completed);
      if (failed) tx.hincrby(key, 'failed', failed);
      if (retried) tx.hincrby(key, 'retried', retried);
    }
    for (const [run, items] of stamps)
      for (let i = 0; i < items.length; i += STAMPS_PER_RPUSH)
        tx.rpush(this.cfg.stampsKey(run), ...items.slice(i, i + STAMPS_PER_RPUSH));
    this.flushing = tx.exec().then(() => true, err => {
      for (const [run, c] of counts) {
        let mine = this.counts.get(run);
        if (!mine) this.counts.set(run, (mine = [0, 0, 0]));
        for (let i = 0; i < 3; i++) mine[i] += c[i];
      }
      for (const [run, items] of stamps) this.stamps.set(run, items.concat(this.stamps.get(run) || []));
      const now = Date.now();
      if (now - this.warnedAt > 5000) {
        this.warnedAt = now;
        console.error(`tqbench hook: flush to Redis failed, will retry: ${err.message}`);
      }
      return false;
    }).finally(() => { this.flushing = null; });
    return this.flushing;
  }
}

function readProcKb(file, prefix) {
  try {
    for (const line of fs.readFileSync(file, 'latin1').split('\n'))
      if (line.startsWith(prefix)) return parseInt(line.slice(prefix.length), 10);
  } catch (e) { /* unreadable: absent */ }
  return null;
}

/* tqbench's heartbeat P:worker:<id>, from the Worker's readiness (so
 * "heartbeat present" means "about to fetch") until exit. */
class Heartbeat {
  constructor(cfg, batch, client, queue, concurrency) {
    this.cfg = cfg;
    this.batch = batch;
    this.client = client;
    this.queue = queue;
    this.concurrency = concurrency;
    this.startedUs = nowUs();
    this.host = os.hostname();
    this.warnedAt = 0;
  }

  fields() {
    const cpu = process.cpuUsage();
    const f = {
      pid: process.pid, host: this.host, queues: this.queue, concurrency: this.concurrency,
      // each of the concurrency slots holds one job; the next is fetched with
      // the previous one's moveToFinished
      prefetch: 1, protocol: 'bullmq', version: `bullmq-${BULLMQ_VERSION}`,
      started_us: this.startedUs, beat_us: nowUs(),
      processed: this.batch.processed, failed: this.batch.failed, inflight: this.batch.inflight,
      cpu_user_us: cpu.user, cpu_sys_us: cpu.system,
      rss_kb: readProcKb('/proc/self/status', 'VmRSS:') || Math.round(process.memoryUsage().rss / 1024),
    };
    const pss = readProcKb('/proc/self/smaps_rollup', 'Pss:');
    if (pss !== null) f.pss_kb = pss;
    return f;
  }

  async beat(first) {
    try {
      const tx = this.client.multi();
      tx.hset(this.cfg.workerKey(), this.fields());
      tx.pexpire(this.cfg.workerKey(), Math.round(3000 * this.cfg.interval));
      if (first) tx.sadd(this.cfg.workersKey(), this.cfg.workerId);
      await tx.exec();
      return true;
    } catch (err) {
      const now = Date.now();
      if (now - this.warnedAt > 5000) {
        this.warnedAt = now;
        console.error(`tqbench hook: heartbeat ${this.cfg.workerKey()} failed: ${err.message}`);
      }
      return false;
    }
  }

  async deregister() {
    try {
      await this.client.multi().srem(this.cfg.workersKey(), this.cfg.workerId)
        .del(this.cfg.workerKey()).exec();
    } catch (err) {
      console.error(`tqbench hook: could not deregister ${this.cfg.workerId}: ${err.message}`);
    }
  }
}

/* The job's run, and its latency origin in µs (tqbench's scheduled or
 * enqueue time, else BullMQ's own timestamp in ms). */
function jobRun(cfg, job) {
  return (job.data && job.data.tqbench_run) || cfg.run;
}

function jobOrigin(job) {
  const d = job.data || {};
  if (d.tqbench_sched_us) return d.tqbench_sched_us;
  if (d.tqbench_enq_us) return d.tqbench_enq_us;
  return job.timestamp ? Math.round(job.timestamp * 1000) : 0;
}

/* Starts a Worker on queue (with the hook unless TQ_BULLMQ_HOOK=0).
 * Resolves { worker, close }: close() stops it, flushes and deregisters. */
async function startWorker(queue, concurrency, cfg = new Config()) {
  const connection = Object.assign({ maxRetriesPerRequest: null }, cfg.redis);
  const hook = cfg.enabled;
  const client = hook ? new IORedis(Object.assign({ connectTimeout: 5000 }, cfg.redis)) : null;
  const batch = hook ? new Batch(cfg, client) : null;
  const processor = hook
    ? async job => {
        job.tqStartUs = nowUs();
        batch.inflight++;
        return runJob(job);
      }
    : runJob;
  const worker = new Worker(queue, processor, {
    connection, concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 },
  });
  worker.on('error', err => console.error(`bullmq worker error: ${err.message}`));
  if (hook) {
    worker.on('completed', job => {
      const done = nowUs();
      batch.inflight--;
      const origin = jobOrigin(job);
      batch.done(jobRun(cfg, job), 'completed',
                 origin && job.tqStartUs ? `${origin},${job.tqStartUs},${done}` : null);
    });
    worker.on('failed', job => {
      if (!job) return;
      batch.inflight--;
      // BullMQ's own rule (Job.shouldRetryJob): retried while attemptsMade,
      // counted after moveToFailed, is below opts.attempts
      const attempts = job.opts && job.opts.attempts ? job.opts.attempts : 1;
      batch.done(jobRun(cfg, job), job.attemptsMade < attempts ? 'retried' : 'failed', null);
    });
  }
  await worker.waitUntilReady();
  let timers = [], heartbeat = null;
  if (hook) {
    heartbeat = new Heartbeat(cfg, batch, client, queue, concurrency);
    let registered = await heartbeat.beat(true);
    timers.push(setInterval(() => { batch.flush(); }, FLUSH_INTERVAL_MS));
    timers.push(setInterval(async () => {
      const ok = await heartbeat.beat(!registered);
      registered = registered || ok;
    }, Math.round(cfg.interval * 1000)));
  }
  const close = async () => {
    await worker.close();
    for (const t of timers) clearInterval(t);
    if (!hook) return;
    for (let i = 0; i < 3; i++) {
      if (await batch.flush()) break;
      await new Promise(r => setTimeout(r, 200));
    }
    await heartbeat.deregister();
    client.disconnect();
  };
  return { worker, close };
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`tqbench_bullmq_worker: ${err.message}`);
    process.exit(2);
  }
  const { close } = await startWorker(args.queue, args.concurrency);
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    close().then(() => process.exit(0), err => {
      console.error(`tqbench_bullmq_worker: closing: ${err.message}`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch(err => {
    console.error(`tqbench_bullmq_worker: ${err.message}`);
    process.exit(1);
  });
}

module.exports = { startWorker, Config, redisOptions };
