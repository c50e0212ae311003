#!/usr/bin/env node
// Reads SwiftPool's SHOW POOL_* commands with node-postgres, through the simple protocol
// (a plain query) and the extended one (a named prepared statement). Prints JSON:
// {"<command>": {"fields": [...], "rows": n, "extended_rows": n}, ...}
'use strict';

const { Client } = require('pg');

async function main() {
  const [host, port, user, password, database, ...commands] = process.argv.slice(2);
  const client = new Client({ host, port: Number(port), user, password, database });
  await client.connect();
  const out = {};
  for (const command of commands) {
    const simple = await client.query(command);
    const extended = await client.query({ name: 'stmt_' + command.replace(/\W/g, '_'), text: command, values: [] });
    out[command] = { fields: simple.fields.map(f => f.name), rows: simple.rows.length, extended_rows: extended.rows.length };
  }
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch(e => { console.error(e.message); process.exit(1); });
