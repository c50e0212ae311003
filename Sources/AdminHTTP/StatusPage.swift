/// The built-in status page served at `/`: one self-contained HTML document (no external
/// assets) that reads the JSON API with the operator's credentials and refreshes itself.
enum StatusPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SwiftPool</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#667085; --line:#e4e7ec;
          --ok:#12a150; --warn:#d18a00; --bad:#d92d20; --accent:#3559e0; }
  * { box-sizing: border-box; }
  body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:center; gap:16px; padding:14px 24px; background:#111827; color:#fff; }
  header h1 { font-size:18px; margin:0; letter-spacing:.2px; }
  header .meta { color:#cbd5e1; font-size:13px; }
  header .spacer { flex:1; }
  header button { background:transparent; color:#cbd5e1; border:1px solid #374151; border-radius:6px; padding:4px 10px; cursor:pointer; }
  main { padding:20px 24px; max-width:1280px; margin:0 auto; }
  .cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(210px, 1fr)); gap:14px; margin-bottom:18px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
  .card h2 { font-size:12px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted); margin:0 0 6px; font-weight:600; }
  .big { font-size:26px; font-weight:650; }
  .sub { color:var(--muted); font-size:12px; }
  .bar { height:8px; background:#eef1f5; border-radius:4px; overflow:hidden; margin-top:8px; }
  .bar > span { display:block; height:100%; background:var(--accent); }
  table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden; }
  th, td { text-align:left; padding:9px 12px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { font-size:12px; color:var(--muted); font-weight:600; background:#fafbfc; }
  tr:last-child td { border-bottom:none; }
  .badge { display:inline-block; padding:2px 9px; border-radius:999px; font-size:12px; font-weight:600; }
  .s-up, .s-waiting { background:#e7f6ee; color:var(--ok); }
  .s-down, .s-quarantine { background:#fdecea; color:var(--bad); }
  .s-unused { background:#eef1f5; color:var(--muted); }
  .role-primary { font-weight:650; }
  .lag { color:var(--warn); font-weight:600; }
  .actions button { margin-right:6px; border:1px solid var(--line); background:#fff; border-radius:6px; padding:3px 9px; cursor:pointer; }
  .actions button:hover { border-color:var(--accent); color:var(--accent); }
  section { margin-bottom:22px; }
  section > h3 { font-size:15px; margin:0 0 10px; }
  #message { margin-bottom:14px; min-height:20px; color:var(--bad); }
  #login { max-width:340px; margin:60px auto; background:var(--card); border:1px solid var(--line); border-radius:10px; padding:22px; }
  #login input { width:100%; padding:8px; margin:6px 0 12px; border:1px solid var(--line); border-radius:6px; }
  #login button { background:var(--accent); color:#fff; border:0; border-radius:6px; padding:8px 14px; cursor:pointer; }
  .hidden { display:none; }
</style>
</head>
<body>
<header>
  <h1>SwiftPool</h1>
  <span class="meta" id="version"></span>
  <span class="spacer"></span>
  <span class="meta" id="updated"></span>
  <button id="logout" class="hidden">Log out</button>
</header>
<main>
  <form id="login" class="hidden">
    <h3>Sign in</h3>
    <div class="sub">A pcp.conf user, as for the admin API.</div>
    <label>User <input id="user" autocomplete="username"></label>
    <label>Password <input id="password" type="password" autocomplete="current-password"></label>
    <button type="submit">Sign in</button>
  </form>
  <div id="app" class="hidden">
    <div id="message"></div>
    <div class="cards">
      <div class="card"><h2>Primary</h2><div class="big" id="primary">–</div><div class="sub" id="nodes-summary"></div></div>
      <div class="card"><h2>Clients</h2><div class="big" id="clients">–</div><div class="sub" id="clients-detail"></div><div class="bar"><span id="clients-bar"></span></div></div>
      <div class="card"><h2>Backend pool</h2><div class="big" id="pool">–</div><div class="sub" id="pool-detail"></div><div class="bar"><span id="pool-bar"></span></div></div>
      <div class="card"><h2>Failovers</h2><div class="big" id="failovers">–</div><div class="sub" id="failovers-detail"></div></div>
    </div>
    <section>
      <h3>Backend nodes</h3>
      <table>
        <thead><tr><th>Node</th><th>Address</th><th>Status</th><th>Role</th><th>Weight</th><th>Read share</th>
          <th>Replication delay</th><th>Health checks</th><th>Actions</th></tr></thead>
        <tbody id="nodes"></tbody>
      </table>
    </section>
    <section id="watchdog-section" class="hidden">
      <h3>Watchdog <span class="meta" id="watchdog-summary"></span></h3>
      <table>
        <thead><tr><th>Member</th><th>Name</th><th>Client port</th><th>Priority</th><th>State</th><th>Membership</th>
          <th>Last heard</th><th>Virtual IP</th></tr></thead>
        <tbody id="watchdog"></tbody>
      </table>
    </section>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let auth = sessionStorage.getItem("swiftpool-auth");
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("login")) {
  auth = btoa(fragment.get("login"));
  sessionStorage.setItem("swiftpool-auth", auth);
  history.replaceState(null, "", location.pathname);
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { "Authorization": "Basic " + auth, "X-SwiftPool-Client": "status-page", ...(options.headers || {}) } });
  if (response.status === 401) { showLogin("Wrong user or password."); throw new Error("unauthorized"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

function showLogin(text) {
  sessionStorage.removeItem("swiftpool-auth");
  auth = null;
  $("app").classList.add("hidden"); $("logout").classList.add("hidden");
  $("login").classList.remove("hidden");
  if (text) $("message").textContent = text;
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "kB", "MB", "GB"]; let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

async function act(node, action, extra) {
  const words = { attach: "Attach", detach: "Detach", promote: "Promote" };
  if (!confirm(words[action] + " node " + node + "?")) return;
  try {
    await api("/api/v1/nodes/" + node + "/" + action + (extra || ""), { method: "POST" });
    $("message").textContent = "";
    refresh();
  } catch (error) { $("message").textContent = words[action] + " failed: " + error.message; }
}

async function refresh() {
  if (!auth) return showLogin();
  try {
    const [status, nodes, pool] = await Promise.all([api("/api/v1/status"), api("/api/v1/nodes"), api("/api/v1/pool")]);
    $("login").classList.add("hidden"); $("app").classList.remove("hidden"); $("logout").classList.remove("hidden");
    $("version").textContent = "v" + status.version + " · up " + Math.round(status.uptime_seconds) + " s";
    $("primary").textContent = status.primary_node_id === undefined ? "none" : "node " + status.primary_node_id;
    $("nodes-summary").textContent = status.nodes_up + " up, " + status.nodes_down + " down of " + status.nodes_total;
    const c = status.clients, used = c.active + c.idle + c.idle_in_transaction;
    $("clients").textContent = used + " / " + c.max;
    $("clients-detail").textContent = c.active + " active, " + c.idle + " idle, " + c.idle_in_transaction + " in transaction, " + c.waiting + " waiting";
    $("clients-bar").style.width = Math.min(100, 100 * used / Math.max(1, c.max)) + "%";
    const held = pool.nodes.reduce((s, n) => s + n.in_use + n.idle, 0);
    $("pool").textContent = held + " / " + pool.backend_connections_max;
    $("pool-detail").textContent = pool.nodes.map(n => "node " + n.node_id + ": " + n.in_use + " in use, " + n.idle + " idle").join(" · ");
    $("pool-bar").style.width = Math.min(100, 100 * pool.occupancy_ratio) + "%";
    const f = status.failovers;
    $("failovers").textContent = f.total;
    $("failovers-detail").textContent = f.last_at ? "last " + new Date(f.last_at).toLocaleString() + " (" + Object.entries(f.by_reason).filter(e => e[1] > 0).map(e => e[0] + " " + e[1]).join(", ") + ")" : "none since start";
    const selects = nodes.nodes.reduce((s, n) => s + n.select_count, 0);
    const body = $("nodes"); body.replaceChildren();
    for (const n of nodes.nodes) {
      const tr = document.createElement("tr");
      tr.id = "node-" + n.id;
      tr.appendChild(cell(String(n.id)));
      tr.appendChild(cell(n.host + ":" + n.port));
      const status = cell(""); const badge = document.createElement("span");
      badge.className = "badge s-" + n.status; badge.textContent = n.status; status.appendChild(badge); tr.appendChild(status);
      tr.appendChild(cell(n.role, "role-" + n.role));
      tr.appendChild(cell(String(n.weight)));
      tr.appendChild(cell(selects ? Math.round(100 * n.select_count / selects) + "%" : "–"));
      const delay = n.replication_delay_bytes === undefined ? "–" : bytes(n.replication_delay_bytes) + (n.replication_delay_seconds ? " · " + n.replication_delay_seconds.toFixed(1) + " s" : "");
      tr.appendChild(cell(delay + (n.lagging ? " (lagging)" : ""), n.lagging ? "lag" : ""));
      const h = n.health_check;
      tr.appendChild(cell(h.checks ? h.successes + " ok, " + h.failures + " failed" : "–"));
      const actions = document.createElement("td"); actions.className = "actions";
      const add = (label, action, extra) => { const b = document.createElement("button"); b.textContent = label; b.onclick = () => act(n.id, action, extra); actions.appendChild(b); };
      if (n.status === "down") add("Attach", "attach"); else add("Detach", "detach");
      if (n.role !== "primary" && n.status !== "down") add("Promote", "promote", "?switchover=true");
      tr.appendChild(actions);
      body.appendChild(tr);
    }
    const wd = await api("/api/v1/watchdog");
    $("watchdog-section").classList.toggle("hidden", !wd.enabled);
    if (wd.enabled) {
      $("watchdog-summary").textContent = "· through " + (wd.back_end === "etcd" ? "etcd" : "the watchdog") + " · this member " + wd.state + " · leader " + (wd.leader ? wd.leader.name : "none") +
        " · " + wd.quorum.text + " (" + wd.quorum.alive + " of " + wd.quorum.members + " alive, " + wd.quorum.required + " required)";
      const rows = $("watchdog"); rows.replaceChildren();
      for (const m of wd.members) {
        const tr = document.createElement("tr");
        tr.id = "watchdog-" + m.id;
        tr.appendChild(cell(String(m.id) + (m.local ? " (this)" : "")));
        tr.appendChild(cell(m.name));
        tr.appendChild(cell(String(m.pgpool_port)));
        tr.appendChild(cell(String(m.priority)));
        const state = cell(""); const badge = document.createElement("span");
        badge.className = "badge " + (m.alive ? "s-up" : "s-down"); badge.textContent = m.state; state.appendChild(badge); tr.appendChild(state);
        tr.appendChild(cell(m.membership));
        tr.appendChild(cell(m.local ? "–" : (m.heartbeat_age_seconds === null ? "never" : m.heartbeat_age_seconds.toFixed(1) + " s ago")));
        tr.appendChild(cell(m.escalated ? (wd.delegate_ip || "held") : ""));
        rows.appendChild(tr);
      }
    }
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (auth) $("message").textContent = "Cannot reach the admin API: " + error.message;
  }
}

$("login").onsubmit = (event) => {
  event.preventDefault();
  auth = btoa($("user").value + ":" + $("password").value);
  sessionStorage.setItem("swiftpool-auth", auth);
  $("message").textContent = "";
  refresh();
};
$("logout").onclick = () => showLogin();
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""#
}
