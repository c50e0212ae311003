#!/usr/bin/env node
// node-postgres named queries ({name, text, values}) over many transactions on
// several concurrent clients. The driver parses each name once per connection and
// afterwards sends only Bind/Execute for it. Every result is checked. Prints one
// JSON object; exits non-zero on any error.
//
//   NODE_PATH=$(scripts/node-path.sh) node node_named_tx.js \
//       --host H --port P --user U --password PW --database DB [--clients 8] [--iterations 40]
'use strict';

const { Client } = require('pg');

function parseArgs(argv) {
  const opts = { clients: 8, iterations: 40 };
  for (let i = 0; i < argv.length; i += 2) {
    const m = /^--([a-z]+)$/.exec(argv[i]);
    if (!m || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    opts[m[1]] = argv[i + 1];
  }
  opts.clients = Number(opts.clients);
  opts.iterations = Number(opts.iterations);
  return opts;
}

const MUL = { name: 'tp_mul', text: 'SELECT $1::int * 11 + $2::int AS v, pg_backend_pid() AS pid' };
const SERIES = { name: 'tp_series', text: 'SELECT g, g * $2::int AS m FROM generate_series(1, $1::int) AS g ORDER BY g' };
const DIV = { name: 'tp_div', text: 'SELECT 1000 / $1::int AS v' };
const ECHO = { name: 'tp_echo', text: 'SELECT $1::text AS s, length($1::text) AS n' };

async function runClient(opts, c, stats) {
  const client = new Client({
    host: opts.host, port: Number(opts.port), user: opts.user, password: opts.password,
    database: opts.database, application_name: 'node_named_tx', connectionTimeoutMillis: 10000,
  });
  const pids = new Set();
  const fail = (msg) => { throw new Error(`client ${c}: ${msg}`); };
  await client.connect();
  try {
    for (let i = 0; i < opts.iterations; i++) {
      await client.query('BEGIN');
      let r = await client.query({ ...MUL, values: [i, c] });
      stats.checks++;
      if (r.rows.length !== 1 || r.rows[0].v !== i * 11 + c) fail(`tp_mul(${i}, ${c}) = ${JSON.stringify(r.rows)}`);
      pids.add(r.rows[0].pid);

      const n = 1 + (i % 5);
      r = await client.query({ ...SERIES, values: [n, c + 1] });
      stats.checks++;
      const want = Array.from({ length: n }, (_, k) => ({ g: k + 1, m: (k + 1) * (c + 1) }));
      if (JSON.stringify(r.rows) !== JSON.stringify(want)) fail(`tp_series(${n}, ${c + 1}) = ${JSON.stringify(r.rows)}`);

      if (i % 6 === 5) {
        // An execution error inside the transaction; the statement stays usable afterwards.
        let code = null;
        try {
          await client.query({ ...DIV, values: [0] });
        } catch (e) {
          code = e.code;
        }
        stats.checks++;
        if (code !== '22012') fail(`tp_div(0) gave ${code}, expected 22012`);
        await client.query('ROLLBACK');
        stats.rolledBack++;
      } else {
        await client.query('COMMIT');
        stats.committed++;
      }

      // Outside a transaction: each named query is its own unit of work.
      const d = 1 + ((i + c) % 9);
      r = await client.query({ ...DIV, values: [d] });
      stats.checks++;
      if (r.rows[0].v !== Math.trunc(1000 / d)) fail(`tp_div(${d}) = ${r.rows[0].v}`);
      const text = `c${c}-i${i}-${'x'.repeat(i % 7)}`;
      r = await client.query({ ...ECHO, values: [text] });
      stats.checks++;
      if (r.rows[0].s !== text || r.rows[0].n !== text.length) fail(`tp_echo(${text}) = ${JSON.stringify(r.rows)}`);
    }
  } finally {
    stats.pidsPerClient[c] = pids.size;
    for (const p of pids) stats.pids.add(p);
    await client.end();
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const stats = { checks: 0, committed: 0, rolledBack: 0, pids: new Set(), pidsPerClient: [] };
  const errors = [];
  const runs = [];
  for (let c = 0; c < opts.clients; c++) {
    runs.push(runClient(opts, c, stats).catch((e) => errors.push(`${e.message}${e.code ? ` (SQLSTATE ${e.code})` : ''}`)));
  }
  await Promise.all(runs);
  console.log(JSON.stringify({
    ok: errors.length === 0, errors: errors.slice(0, 20), checks: stats.checks,
    committed: stats.committed, rolled_back: stats.rolledBack,
    backend_pids: Array.from(stats.pids), pids_per_client: stats.pidsPerClient,
  }));
  process.exit(errors.length === 0 ? 0 : 1);
}

main().catch((err) => {
  console.log(JSON.stringify({ ok: false, errors: [err.message], code: err.code || null }));
  process.exit(1);
});
