#!/usr/bin/env node
// node-postgres over TLS (certificate and host name verified) through SwiftPool's routing:
// where do writes and reads run, named prepared queries included, and is the connection
// encrypted? One client. Prints one JSON object. Exit 0: the workload ran (the caller judges
// the ports); 1: a result was wrong or a query failed; 2: the connection could not be opened
// (the JSON then holds the error and its code).
//
//   NODE_PATH=$(scripts/node-path.sh) node node_tls_routing.js --host localhost --port P \
//       --ca CA.crt [--servername localhost] --user U --password PW --database DB \
//       --table T --primary-port 15501 [--reads 60] [--named-reads 60] [--connect-only]
//
// The table is created when missing: (id int, note text).
'use strict';

const fs = require('fs');
const { Client } = require('pg');

function parseArgs(argv) {
  const opts = { reads: 60, namedReads: 60, connectOnly: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--connect-only') {
      opts.connectOnly = true;
      continue;
    }
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    opts[m[1].replace(/-([a-z])/g, (_, ch) => ch.toUpperCase())] = argv[++i];
  }
  opts.reads = Number(opts.reads);
  opts.namedReads = Number(opts.namedReads);
  opts.primaryPort = Number(opts.primaryPort);
  return opts;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function tlsOf(client) {
  const stream = client.connection.stream;
  const out = { encrypted: stream.encrypted === true };
  if (out.encrypted) {
    out.authorized = stream.authorized;
    out.protocol = stream.getProtocol();
    out.cipher = stream.getCipher().name;
    const peer = stream.getPeerCertificate(true);
    out.peerSubjectCN = peer.subject && peer.subject.CN;
    out.peerIssuerCN = peer.issuer && peer.issuer.CN;
  }
  return out;
}

async function workload(client, opts, out, errors) {
  const check = (ok, what) => { if (!ok) errors.push(what); };
  const primary = opts.primaryPort;
  const table = opts.table;
  await client.query(`CREATE TABLE IF NOT EXISTS ${table} (id int, note text)`);

  // Writes: a named INSERT (parsed once, then Bind/Execute only) run ten times.
  const insert = {
    name: 'tls_insert',
    text: `INSERT INTO ${table} (id, note) VALUES ($1, $2) RETURNING inet_server_port() AS port`,
  };
  out.writePorts = [];
  for (let i = 0; i < 10; i++) {
    const r = await client.query({ ...insert, values: [i, `autocommit ${i}`] });
    out.writePorts.push(r.rows[0].port);
  }

  // pg_is_in_recovery() is volatile: a SELECT calling it is not balanced.
  out.volatileReadInRecovery = (await client.query('SELECT pg_is_in_recovery() AS r')).rows[0].r;

  const simpleRead = async () => (await client.query('SELECT inet_server_port() AS port')).rows[0].port;
  // SwiftPool sends a statement whose function it has not looked up yet to the primary while
  // it learns; wait until a read is balanced.
  out.warmupReadsOnPrimary = 0;
  while (out.warmupReadsOnPrimary < 50 && (await simpleRead()) === primary) {
    out.warmupReadsOnPrimary++;
    await sleep(100);
  }

  // Simple protocol (no parameters) and unnamed extended protocol (parameters, no name).
  out.simplePorts = [];
  for (let i = 0; i < opts.reads; i++) out.simplePorts.push(await simpleRead());
  const unnamed = 'SELECT inet_server_port() AS port, $1::int * 3 AS v';
  const unnamedRead = async (i) => {
    const r = await client.query(unnamed, [i]);
    check(r.rows[0].v === i * 3, `unnamed read ${i} computed ${r.rows[0].v}`);
    return r.rows[0].port;
  };
  out.unnamedPorts = [];
  for (let i = 0; i < opts.reads; i++) out.unnamedPorts.push(await unnamedRead(i));

  // A named prepared query run many times: node-postgres parses 'tls_read' once on this
  // connection and afterwards sends only Bind/Execute for it.
  const named = { name: 'tls_read', text: 'SELECT inet_server_port() AS port, $1::int * 3 AS v, $2::text AS s' };
  const namedRead = async (i) => {
    const r = await client.query({ ...named, values: [i, `n${i}`] });
    check(r.rows.length === 1 && r.rows[0].v === i * 3 && r.rows[0].s === `n${i}`,
      `tls_read(${i}) = ${JSON.stringify(r.rows)}`);
    return r.rows[0].port;
  };
  out.namedPorts = [];
  for (let i = 0; i < opts.namedReads; i++) out.namedPorts.push(await namedRead(i));

  // A transaction that writes: everything after the write runs on the primary and sees the
  // uncommitted row.
  await client.query('BEGIN');
  out.txReadBeforeWritePorts = [await unnamedRead(1000)];
  out.txWritePort = (await client.query({ ...insert, values: [100, 'in transaction'] })).rows[0].port;
  out.txReadPorts = [];
  for (let i = 0; i < 5; i++) {
    out.txReadPorts.push(await simpleRead());
    out.txReadPorts.push(await unnamedRead(2000 + i));
    out.txReadPorts.push(await namedRead(3000 + i));
  }
  const seen = await client.query({
    name: 'tls_count', text: `SELECT count(*)::int AS n, inet_server_port() AS port FROM ${table} WHERE id = $1`,
    values: [100],
  });
  check(seen.rows[0].n === 1, `the transaction sees ${seen.rows[0].n} rows of its own insert`);
  out.txReadPorts.push(seen.rows[0].port);
  await client.query('COMMIT');

  // After the COMMIT reads are balanced again, the named one included.
  out.afterCommitPorts = [];
  for (let i = 0; i < 20; i++) {
    out.afterCommitPorts.push(await unnamedRead(4000 + i));
  }
  out.afterCommitNamedPorts = [];
  for (let i = 0; i < 20; i++) {
    out.afterCommitNamedPorts.push(await namedRead(5000 + i));
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const ssl = { ca: fs.readFileSync(opts.ca, 'utf8'), rejectUnauthorized: true };
  if (opts.servername) ssl.servername = opts.servername;
  const client = new Client({
    host: opts.host, port: Number(opts.port), user: opts.user, password: opts.password,
    database: opts.database, application_name: 'node_tls_routing', connectionTimeoutMillis: 10000, ssl,
  });
  try {
    await client.connect();
  } catch (e) {
    console.log(JSON.stringify({ connected: false, error: String(e && e.message), code: e && e.code }));
    process.exit(2);
  }
  const out = { connected: true };
  const errors = [];
  try {
    out.tls = tlsOf(client);
    if (!opts.connectOnly) await workload(client, opts, out, errors);
  } catch (e) {
    errors.push(`${e && e.code ? e.code + ': ' : ''}${e && e.message}`);
  } finally {
    await client.end().catch((e) => errors.push(`end: ${e.message}`));
  }
  out.errors = errors;
  out.ok = errors.length === 0;
  console.log(JSON.stringify(out));
  process.exit(out.ok ? 0 : 1);
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e) }));
  process.exit(1);
});
