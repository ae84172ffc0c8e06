/**
 * The web dashboard: one self-contained page the gateway serves at `/`.
 * It reads the API token from the URL fragment (`/#token=…`, never sent to
 * the server in a request line or logged) and polls the JSON API.
 */

/** The dashboard page. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cairn</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}
 h1{font-size:1.4rem;margin:0 0 .2rem} .sub{color:#666;margin-bottom:1.2rem}
 table{border-collapse:collapse;margin:.5rem 0 1.5rem;background:#fff}
 td,th{padding:.35rem .8rem;border-bottom:1px solid #e4e4e4;text-align:left}
 .on{color:#11772d;font-weight:600}.off{color:#b3261e;font-weight:600}
 .card{display:inline-block;background:#fff;border:1px solid #e4e4e4;border-radius:6px;padding:.6rem 1rem;margin:0 .6rem .6rem 0}
 .big{font-size:1.5rem;font-weight:600} #err{color:#b3261e}
</style></head><body>
<h1>Cairn</h1><div class="sub" id="sub">connecting…</div><div id="err"></div>
<div id="cards"></div>
<h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>state</th><th>used</th><th>quota</th><th>corrupt shards</th><th>id</th></tr></thead><tbody></tbody></table>
<h2>Buckets</h2><div id="buckets"></div>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get('token') || localStorage.getItem('cairnToken') || ''
if (token) localStorage.setItem('cairnToken', token)
const h = { authorization: 'Bearer ' + token }
const fmt = (n) => { if (n === undefined) return '?'; const u = ['B','KiB','MiB','GiB','TiB']; let i = 0; while (n >= 1024 && i < 4) { n /= 1024; i++ } return (i ? n.toFixed(1) : n) + ' ' + u[i] }
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
async function refresh () {
  try {
    const r = await fetch('/api/v1/status', { headers: h })
    if (!r.ok) throw new Error((await r.json()).error.message + ' (open the link printed by cairn cluster, with #token=…)')
    const s = await r.json()
    document.getElementById('err').textContent = ''
    document.getElementById('sub').textContent = 'cluster ' + s.cluster.id + ' · ' + s.cluster.k + '+' + s.cluster.m + ' coding · this node: ' + s.node.name
    document.getElementById('cards').innerHTML = [['nodes online', s.online + ' / ' + s.nodes.length], ['objects', s.meta.objects], ['versions', s.meta.versions], ['corrupt shards here', s.store.corruptShards.length]]
      .map(([k, v]) => '<div class="card"><div>' + k + '</div><div class="big">' + v + '</div></div>').join('')
    document.querySelector('#nodes tbody').innerHTML = s.nodes.map((n) => '<tr><td>' + esc(n.name) + (n.self ? ' (this)' : '') + '</td><td class="' + (n.online ? 'on">online' : 'off">offline') + '</td><td>' + fmt(n.usedBytes) + '</td><td>' + fmt(n.quotaBytes) + '</td><td>' + (n.corruptShards ?? '?') + '</td><td><code>' + esc(n.id.slice(-12)) + '</code></td></tr>').join('')
    const b = await (await fetch('/api/v1/buckets', { headers: h })).json()
    document.getElementById('buckets').innerHTML = b.length === 0 ? '<p>none yet: <code>cairn put FILE bucket/key</code></p>' : '<ul>' + b.map((x) => '<li>' + esc(x) + '</li>').join('') + '</ul>'
  } catch (e) { document.getElementById('err').textContent = String(e.message || e) }
}
refresh(); setInterval(refresh, 2000)
</script></body></html>`
