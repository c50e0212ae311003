#!/usr/bin/env node
// node-postgres client for chaos/soak.py: prepared (named) statements, reads
// and writes, reconnecting after every error, until SIGTERM.
//
//   NODE_PATH=$(scripts/node-path.sh) node chaos/node_client.js \
//       --host H --port P --user U --password PW --database DB --id-base N
//
// One JSON object per line on stdout:
//   {"ack": ID}                      the COMMIT of the INSERT of ID was acknowledged
//   {"err": "SQLSTATE"|null, "msg": "...", "phase": "connect"|"query"}
//   {"done": true, "queries": N, "writes": N}   at exit
'use strict';

const { Client } = require('pg');

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    const m = /^--(host|port|user|password|database|id-base)$/.exec(argv[i]);
    if (!m || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    opts[m[1]] = argv[i + 1];
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
let stopping = false;
let queries = 0;
let writes = 0;
let nextId = Number(opts['id-base']);

function emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }
function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

process.on('SIGTERM', () => { stopping = true; });

const READ = { name: 'chaos_read', text: 'SELECT count(*)::int AS n, $1::int AS k FROM pgbench_branches WHERE bid <= $1' };
const WRITE = { name: 'chaos_write', text: 'INSERT INTO chaos_acked (id, writer) VALUES ($1, $2)' };
const SUM = { name: 'chaos_sum', text: 'SELECT sum(abalance)::bigint AS s FROM pgbench_accounts WHERE aid BETWEEN $1 AND $1 + 100' };

async function session() {
  const client = new Client({
    host: opts.host, port: Number(opts.port), user: opts.user, password: opts.password,
    database: opts.database, application_name: 'chaos_node', connectionTimeoutMillis: 10000,
  });
  // An error the server sends while no query runs (a FATAL on an idle connection) is emitted
  // as an 'error' event; the next query then fails with "not queryable" and no code.
  let idleError = null;
  client.on('error', (e) => { if (e && e.severity && e.code) idleError = e; });
  try {
    await client.connect();
  } catch (e) {
    emit({ err: e.severity && e.code ? e.code : null, msg: String(e.message), phase: 'connect' });
    try { await client.end(); } catch (_) { /* already gone */ }
    return;
  }
  try {
    while (!stopping) {
      const k = 1 + Math.floor(Math.random() * 5);
      await client.query({ ...READ, values: [k] });
      await client.query({ ...SUM, values: [1 + Math.floor(Math.random() * 90000)] });
      queries += 2;
      // A transaction with a prepared INSERT; the id is acknowledged only after COMMIT returns.
      const id = nextId++;
      await client.query('BEGIN');
      await client.query({ ...WRITE, values: [id, 'node'] });
      await client.query('COMMIT');
      emit({ ack: id });
      writes += 1;
      queries += 3;
      await sleep(5);
    }
  } catch (e) {
    let code = e.severity && e.code ? e.code : null;
    if (!code && idleError) code = `${idleError.code} (error event, on an idle connection)`;
    emit({ err: code, msg: String(e.message), phase: 'query' });
  } finally {
    try { await client.end(); } catch (_) { /* already gone */ }
  }
}

async function main() {
  while (!stopping) {
    await session();
    if (!stopping) await sleep(200);
  }
  emit({ done: true, queries, writes });
}

main().catch((e) => { emit({ fatal: String(e && e.stack || e) }); process.exit(1); });
