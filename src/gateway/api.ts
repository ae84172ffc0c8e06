/**
 * The node's JSON API on 127.0.0.1, protected by a bearer token (the token
 * and URL are in the node's data directory, `api.json`). The CLI uses it.
 *
 * Routes (all under /api/v1, all answers JSON unless noted, errors are
 * `{error:{code,message,hint}}` with the status of the error code):
 * - GET    /status                               node, cluster and roster state
 * - PUT    /object?bucket=B&key=K                body = object bytes → version info
 *          (send `Expect: 100-continue` to learn of a refusal before sending data)
 * - GET    /object?bucket=B&key=K[&version=V]    → object bytes; headers
 *          x-cairn-version, x-cairn-sha256, content-length
 * - DELETE /object?bucket=B&key=K                → delete marker info
 * - GET    /list?bucket=B[&prefix=P&limit=N&startAfter=S] → ObjectInfo[]
 * - GET    /versions?bucket=B&key=K               → VersionInfo[] newest first
 * - GET    /buckets                               → string[]
 * - GET|PUT /retention?bucket=B   (PUT body {keepVersions?, keepDays?}) → the bucket's policy
 * - POST   /invite                                → {token}
 * - GET    /keys                                  → S3 access keys (no secrets)
 * - POST   /keys  body {name, admin?}             → {accessKeyId, secretAccessKey} (shown once)
 * - DELETE /keys?name=N                           → {removed}
 * - PUT    /keys/grant body {name, bucket, permission: read|write|owner}
 * - GET    /availability                          → {k, m, nodes:[{id,name,availability,profile[168],placementProfile?[168 UTC],observedHours,online}]}
 * - GET    /config                                → every cluster setting {key: value} (durations as "5m")
 * - PUT    /config   body {key, value}            → sets one cluster setting, answers every setting
 * - GET    /workers                               → WorkerInfo[] (daemon/workers.ts)
 * - PUT    /node-attr body {node, attr: role|zone, value} → {name, id, role, zone} (`cairn node role|zone`)
 * - POST   /decommission body {node}            → {name, id, state} (`cairn node decommission`)
 * - POST   /rebalance                            → the rebalance job {state, startedMs, startedBy, doneMs} (`cairn rebalance`)
 * - GET    /object-health?bucket=B&key=K[&version=V] → one version's shards, holders and state
 * - POST   /test/faults body {push?, sync?, shards?} → test-only fault switch (only with CAIRN_TEST_FAULTS set)
 * - GET    /health (no token)                     → {ok:true}
 * - GET    / (no token; the page asks for it)      → the web dashboard
 */
import { http } from '../util/node-http.ts'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Engine } from '../engine/engine.ts'
import { CairnError } from '../util/errors.ts'
import { checkBucketName } from '../engine/names.ts'
import { DASHBOARD_HTML } from '../ui/dashboard.ts'
import { declaredLength, hasToken, listen, queryParam, sendError, sendJson } from './http-util.ts'

/** Objects listed per call when the client gives no limit. */
export const DEFAULT_LIST_LIMIT = 1000

/** What the API serves. */
export interface ApiInit {
  engine: Engine
  token: string
  status: () => Promise<unknown>
  invite: () => string
  availability: () => unknown
  settings: { toJson: () => Record<string, string | number>, set: (key: string, value: string, signal?: AbortSignal) => Promise<void> }
  /** Background workers. */
  workers?: () => unknown
  /** Set a member's role or zone (`cairn node role|zone`). */
  setNodeAttr?: (node: string, attr: 'role' | 'zone', value: string, signal: AbortSignal) => Promise<unknown>
  /** Start decommissioning a member (`cairn node decommission`). */
  decommission?: (node: string, signal: AbortSignal) => Promise<unknown>
  /** Start the rebalance job (`cairn rebalance`). */
  rebalance?: (signal: AbortSignal) => Promise<unknown>
  /** One version's health (`cairn health`). */
  objectHealth?: (bucket: string, key: string, version: string | undefined, signal: AbortSignal) => Promise<unknown>
  /** The test-only fault switch; the route exists only when it is given. */
  faults?: (value: unknown) => unknown
  log?: (message: string) => void
}

/**
 * Start the API server on 127.0.0.1:`port` (0 picks a free port).
 *
 * @example
 * const { server, port } = await startApi(init, 0)
 */
export async function startApi (init: ApiInit, port: number, host = '127.0.0.1'): Promise<{ server: Server, port: number }> {
  const server = http.createServer((req, res) => { void route(init, req, res) })
  // A refused put is answered before the client sends its body.
  server.on('checkContinue', (req, res) => {
    try {
      authorize(init, req)
      const url = new URL(req.url ?? '/', 'http://localhost')
      if (req.method === 'PUT' && url.pathname === '/api/v1/object') init.engine.checkWritable(queryParam(url, 'bucket'), queryParam(url, 'key'), declaredLength(req))
      res.writeContinue()
      void route(init, req, res)
    } catch (err) {
      res.shouldKeepAlive = false
      sendError(res, err)
    }
  })
  return await listen(server, port, host)
}

function authorize (init: ApiInit, req: IncomingMessage): void {
  if (!hasToken(req, init.token)) throw new CairnError('UNAUTHORIZED', 'missing or wrong API token', 'use the token from the node directory\'s api.json (the CLI does this with --node DIR)')
}

async function route (init: ApiInit, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ac = new AbortController()
  res.on('close', () => { if (!res.writableFinished) ac.abort() })
  try {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === '/health') return sendJson(res, 200, { ok: true })
    if (url.pathname === '/' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(DASHBOARD_HTML)
      return
    }
    authorize(init, req)
    const { engine } = init
    const method = req.method ?? 'GET'
    switch (`${method} ${url.pathname}`) {
      case 'GET /api/v1/status': return sendJson(res, 200, await init.status())
      case 'GET /api/v1/workers': return sendJson(res, 200, init.workers?.() ?? [])
      case 'GET /api/v1/object-health': {
        if (init.objectHealth === undefined) throw new CairnError('NOT_FOUND', 'this node has no healer', 'upgrade the node')
        return sendJson(res, 200, await init.objectHealth(queryParam(url, 'bucket'), queryParam(url, 'key'), url.searchParams.get('version') ?? undefined, ac.signal))
      }
      case 'PUT /api/v1/object': {
        const size = declaredLength(req)
        const info = await engine.put(queryParam(url, 'bucket'), queryParam(url, 'key'), req, ac.signal, size === undefined ? {} : { sizeHint: size })
        return sendJson(res, 200, info)
      }
      case 'GET /api/v1/object': return await sendObject(engine, url, res, ac.signal)
      case 'DELETE /api/v1/object': return sendJson(res, 200, await engine.delete(queryParam(url, 'bucket'), queryParam(url, 'key'), ac.signal))
      case 'GET /api/v1/list': {
        const limit = Number(url.searchParams.get('limit') ?? DEFAULT_LIST_LIMIT)
        if (!Number.isInteger(limit) || limit < 1) throw new CairnError('BAD_INPUT', `limit ${url.searchParams.get('limit')} is not a positive integer`, 'pass e.g. limit=1000')
        return sendJson(res, 200, engine.list(queryParam(url, 'bucket'), url.searchParams.get('prefix') ?? '', limit, url.searchParams.get('startAfter') ?? ''))
      }
      case 'GET /api/v1/versions': return sendJson(res, 200, engine.versions(queryParam(url, 'bucket'), queryParam(url, 'key')))
      case 'GET /api/v1/buckets': return sendJson(res, 200, engine.buckets())
      case 'GET /api/v1/retention': return sendJson(res, 200, engine.retention(queryParam(url, 'bucket')) ?? {})
      case 'PUT /api/v1/retention': {
        const policy = await readJsonBody(req) as { keepVersions?: number, keepDays?: number }
        await engine.setRetention(queryParam(url, 'bucket'), { ...(policy.keepVersions === undefined ? {} : { keepVersions: policy.keepVersions }), ...(policy.keepDays === undefined ? {} : { keepDays: policy.keepDays }) }, ac.signal)
        return sendJson(res, 200, engine.retention(queryParam(url, 'bucket')) ?? {})
      }
      case 'POST /api/v1/invite': return sendJson(res, 200, { token: init.invite() })
      case 'GET /api/v1/availability': return sendJson(res, 200, init.availability())
      case 'GET /api/v1/keys': return sendJson(res, 200, engine.keys.list())
      case 'POST /api/v1/keys': {
        const { name, admin } = await readJsonBody(req) as { name?: unknown, admin?: unknown }
        if (typeof name !== 'string') throw new CairnError('BAD_INPUT', 'key body must be {"name": NAME, "admin": false}', 'send e.g. {"name": "backup"}')
        return sendJson(res, 200, await engine.keys.create(name, admin === true, ac.signal))
      }
      case 'DELETE /api/v1/keys': {
        await engine.keys.remove(queryParam(url, 'name'), ac.signal)
        return sendJson(res, 200, { removed: queryParam(url, 'name') })
      }
      case 'PUT /api/v1/keys/grant': {
        const { name, bucket, permission } = await readJsonBody(req) as { name?: unknown, bucket?: unknown, permission?: unknown }
        if (typeof name !== 'string' || typeof bucket !== 'string' || typeof permission !== 'string') throw new CairnError('BAD_INPUT', 'grant body must be {"name", "bucket", "permission"}', 'send e.g. {"name": "backup", "bucket": "photos", "permission": "write"}')
        checkBucketName(bucket)
        await engine.keys.allow(name, bucket, permission as 'read' | 'write' | 'owner', ac.signal)
        return sendJson(res, 200, { name, bucket, permission })
      }
      case 'PUT /api/v1/node-attr': {
        const { node, attr, value } = await readJsonBody(req) as { node?: unknown, attr?: unknown, value?: unknown }
        if (typeof node !== 'string' || (attr !== 'role' && attr !== 'zone') || typeof value !== 'string') throw new CairnError('BAD_INPUT', 'node-attr body must be {"node": NAME, "attr": "role"|"zone", "value": VALUE}', 'send e.g. {"node": "nas1", "attr": "role", "value": "anchor"}')
        if (init.setNodeAttr === undefined) throw new CairnError('NOT_FOUND', 'this node cannot set member attributes', 'upgrade the node')
        return sendJson(res, 200, await init.setNodeAttr(node, attr, value, ac.signal))
      }
      case 'POST /api/v1/decommission': {
        const { node } = await readJsonBody(req) as { node?: unknown }
        if (typeof node !== 'string' || node === '') throw new CairnError('BAD_INPUT', 'decommission body must be {"node": NAME}', 'send e.g. {"node": "pc7"}')
        if (init.decommission === undefined) throw new CairnError('NOT_FOUND', 'this node cannot decommission members', 'upgrade the node')
        return sendJson(res, 200, await init.decommission(node, ac.signal))
      }
      case 'POST /api/v1/rebalance': {
        if (init.rebalance === undefined) throw new CairnError('NOT_FOUND', 'this node cannot rebalance', 'upgrade the node')
        return sendJson(res, 200, await init.rebalance(ac.signal))
      }
      case 'GET /api/v1/config': return sendJson(res, 200, init.settings.toJson())
      case 'PUT /api/v1/config': {
        const { key, value } = await readJsonBody(req) as { key?: unknown, value?: unknown }
        if (typeof key !== 'string' || (typeof value !== 'string' && typeof value !== 'number')) throw new CairnError('BAD_INPUT', 'config body must be {"key": KEY, "value": VALUE}', 'send e.g. {"key": "writeQuorum", "value": "2"}')
        await init.settings.set(key, String(value), ac.signal)
        return sendJson(res, 200, init.settings.toJson())
      }
      case 'POST /api/v1/test/faults':
        if (init.faults === undefined) throw new CairnError('NOT_FOUND', `no API route ${method} ${url.pathname}`, 'the fault switch exists only in tests (CAIRN_TEST_FAULTS)')
        return sendJson(res, 200, init.faults(await readJsonBody(req)))
      default: throw new CairnError('NOT_FOUND', `no API route ${method} ${url.pathname}`, 'see the API list in src/gateway/api.ts or the README')
    }
  } catch (err) {
    if (!(err instanceof CairnError)) init.log?.(`api error: ${(err as Error)?.stack ?? String(err)}`)
    // Drain an unread request body so the connection is not left hanging.
    if (!req.complete) req.resume()
    sendError(res, err)
  }
}

/** Largest JSON request body the API reads. */
export const MAX_JSON_BODY_BYTES = 64 * 1024

async function readJsonBody (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > MAX_JSON_BODY_BYTES) throw new CairnError('TOO_LARGE', 'request body too large', `send at most ${MAX_JSON_BODY_BYTES} bytes of JSON`)
    chunks.push(c as Buffer)
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object')
    return value
  } catch (err) {
    throw new CairnError('BAD_INPUT', `request body is not a JSON object (${(err as Error).message})`, 'send e.g. {"keepVersions": 10}')
  }
}

async function sendObject (engine: Engine, url: URL, res: ServerResponse, signal: AbortSignal): Promise<void> {
  const version = url.searchParams.get('version') ?? undefined
  if (version !== undefined) await engine.recall(queryParam(url, 'bucket'), version, signal)
  const reader = engine.open(queryParam(url, 'bucket'), queryParam(url, 'key'), version, signal)
  // Fetch the first stripe before the headers, so a read that cannot start
  // answers with a clear error instead of a truncated 200.
  const first = await reader.body.next()
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': reader.info.size,
    'x-cairn-version': reader.info.id,
    'x-cairn-sha256': reader.info.sha256
  })
  if (first.done !== true) {
    if (!res.write(first.value)) await waitDrain(res, signal)
    for await (const chunk of reader.body) {
      if (!res.write(chunk)) await waitDrain(res, signal)
    }
  }
  res.end()
}

async function waitDrain (res: ServerResponse, signal: AbortSignal): Promise<void> {
  // A client that left before this wait began: its response never drains.
  if (signal.aborted || res.destroyed) throw new CairnError('BAD_INPUT', 'client went away')
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { res.off('drain', onDrain); reject(new CairnError('BAD_INPUT', 'client went away')) }
    const onDrain = (): void => { signal.removeEventListener('abort', onAbort); resolve() }
    res.once('drain', onDrain)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
