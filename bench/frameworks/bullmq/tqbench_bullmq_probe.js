'use strict';
/*
 * tqbench_bullmq_probe.js - what tqbench's bullmq adapter asks of the
 * installed package (bench/frameworks/bullmq.c).
 *
 *   node tqbench_bullmq_probe.js                 loads bullmq and ioredis, exit 0
 *   node tqbench_bullmq_probe.js --script FILE   also writes FILE:
 *        line 1  BullMQ's version ("6.7.0")
 *        line 2  addStandardJob's number of keys ("9")
 *        then    addStandardJob's Lua source, as BullMQ runs it
 *
 * The source is the one BullMQ's RedisConnection.loadCommands hands to
 * ioredis's defineCommand (dist/cjs/scripts: the package's pre-built
 * scripts, `--- @include` lines already resolved), so tqbench's SCRIPT LOAD
 * gives the very SHA BullMQ's own Queue.add EVALSHAs.
 */
const fs = require('fs');
const path = require('path');

require('ioredis');
require('bullmq');
const version = require('bullmq/package.json').version;
const scripts = require(path.join(path.dirname(require.resolve('bullmq')), 'scripts'));

const i = process.argv.indexOf('--script');
if (i > 0) {
  const file = process.argv[i + 1];
  const s = scripts.addStandardJob;
  if (!file || !s || typeof s.content !== 'string' || !Number.isInteger(s.keys)) {
    console.error('tqbench_bullmq_probe: BullMQ ships no pre-built addStandardJob script');
    process.exit(1);
  }
  fs.writeFileSync(file, `${version}\n${s.keys}\n${s.content}`);
}
