#!/usr/bin/env node
// The routing check an application team would write with node-postgres: where do writes and
// reads run? Prints one JSON object; exits non-zero on any error.
//
//   NODE_PATH=$(scripts/node-path.sh) node node_routing.js --port P [--reads N]
'use strict';

const { Client } = require('pg');

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

async function main() {
  const client = new Client({
    host: '127.0.0.1', port: Number(option('port')), user: 'app_readwrite',
    password: 'readwrite456', database: 'swiftpool_test',
  });
  await client.connect();
  const out = {};
  try {
    await client.query('CREATE TABLE IF NOT EXISTS node_routing (id serial PRIMARY KEY, note text)');
    let r = await client.query("INSERT INTO node_routing (note) VALUES ('standalone') RETURNING current_setting('port') AS port");
    out.insertPort = Number(r.rows[0].port);
    await client.query('BEGIN');
    r = await client.query("INSERT INTO node_routing (note) VALUES ('in transaction') RETURNING current_setting('port') AS port");
    out.insertInTransactionPort = Number(r.rows[0].port);
    r = await client.query("SELECT current_setting('port') AS port");
    out.readAfterWritePort = Number(r.rows[0].port);
    await client.query('COMMIT');
    // Let SwiftPool learn the catalog facts of the statement before counting.
    for (let i = 0; i < 20; i++) await client.query("SELECT current_setting('port') AS port");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const reads = Number(option('reads', '3000'));
    const counts = {};
    for (let i = 0; i < reads; i++) {
      r = await client.query("SELECT current_setting('port') AS port");
      counts[r.rows[0].port] = (counts[r.rows[0].port] || 0) + 1;
    }
    out.readCounts = counts;
    out.ok = true;
  } finally {
    await client.end();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e) }));
  process.exit(1);
});
