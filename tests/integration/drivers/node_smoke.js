#!/usr/bin/env node
// node-postgres smoke test: plain query, parameterised query, a committed and
// a rolled-back transaction.  Prints one JSON object; exits non-zero on error.
//
//   NODE_PATH=$(scripts/node-path.sh) node node_smoke.js \
//       [--host H] [--port P] [--user U] [--password PW] [--database DB] [--read-only]
//
// Unset options fall back to PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
// --read-only skips everything that writes (for read-only users/standbys).
'use strict';

const { Client } = require('pg');

function parseArgs(argv) {
  const opts = { readOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--(host|port|user|password|database)(?:=(.*))?$/.exec(a);
    if (m) {
      const value = m[2] !== undefined ? m[2] : argv[++i];
      if (value === undefined) throw new Error(`${a} needs a value`);
      opts[m[1]] = value;
    } else if (a === '--read-only') {
      opts.readOnly = true;
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const client = new Client({
    host: opts.host || process.env.PGHOST || '127.0.0.1',
    port: Number(opts.port || process.env.PGPORT || 5432),
    user: opts.user || process.env.PGUSER,
    password: opts.password !== undefined ? opts.password : process.env.PGPASSWORD,
    database: opts.database || process.env.PGDATABASE,
    application_name: 'node_smoke',
    connectionTimeoutMillis: 10000,
  });
  const out = {};
  await client.connect();
  try {
    let r = await client.query('SELECT 1 AS one, current_user AS usr, version() AS version');
    out.plain = { one: r.rows[0].one, user: r.rows[0].usr, server: r.rows[0].version.split(' ').slice(0, 2).join(' ') };

    r = await client.query('SELECT $1::int + $2::int AS sum, $3::text AS txt', [40, 2, 'héllo']);
    if (r.rows[0].sum !== 42 || r.rows[0].txt !== 'héllo') throw new Error(`bad parameterised result ${JSON.stringify(r.rows)}`);
    out.params = r.rows[0];

    // Named prepared statement executed twice.
    const q = { name: 'smoke_gs', text: 'SELECT count(*)::int AS n FROM generate_series(1, $1::int)' };
    const a = await client.query({ ...q, values: [10] });
    const b = await client.query({ ...q, values: [20] });
    if (a.rows[0].n !== 10 || b.rows[0].n !== 20) throw new Error('bad prepared statement results');
    out.prepared = [a.rows[0].n, b.rows[0].n];

    if (!opts.readOnly) {
      await client.query('BEGIN');
      await client.query('CREATE TEMP TABLE node_smoke (id int PRIMARY KEY, v text)');
      await client.query('INSERT INTO node_smoke VALUES ($1, $2), ($3, $4)', [1, 'a', 2, 'b']);
      r = await client.query('SELECT count(*)::int AS n FROM node_smoke');
      await client.query('COMMIT');
      if (r.rows[0].n !== 2) throw new Error('transaction saw wrong row count');

      await client.query('BEGIN');
      await client.query('INSERT INTO node_smoke VALUES (3, $1)', ['c']);
      await client.query('ROLLBACK');
      r = await client.query('SELECT count(*)::int AS n FROM node_smoke');
      if (r.rows[0].n !== 2) throw new Error('rollback did not undo the insert');
      out.transaction = { committed_rows: 2, after_rollback: r.rows[0].n };

      // An error inside a transaction must surface with its SQLSTATE.
      await client.query('BEGIN');
      try {
        await client.query('SELECT 1/0');
        throw new Error('division by zero did not fail');
      } catch (e) {
        if (e.code !== '22012') throw e;
        out.error_sqlstate = e.code;
      }
      await client.query('ROLLBACK');
    } else {
      await client.query('BEGIN READ ONLY');
      r = await client.query('SELECT count(*)::int AS n FROM pg_class');
      await client.query('COMMIT');
      out.transaction = { read_only: true, pg_class_rows: r.rows[0].n };
    }
    out.ok = true;
  } finally {
    await client.end();
  }
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.log(JSON.stringify({ ok: false, error: err.message, code: err.code || null }));
  process.exit(1);
});
