/**
 * `cairn cluster --nodes N --dir D [--k K --m M] [--dead-after DURATION]`: a local cluster of N nodes
 * on loopback, each a separate OS process with its own data directory
 * D/node-1 … D/node-N. When every node is up and connected to every other it
 * writes D/cluster.json and prints a line containing `ready`; SIGINT or
 * SIGTERM stops every node cleanly. Run again on an existing D, it reuses the
 * nodes' data.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { numberFlag, parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { codeFlags, initNode, joinNode, nodeAddress, offlineInvite } from './setup.ts'
import { isNodeDir, loadNodeFiles, saveNodeConfig, writeFileAtomic } from '../../daemon/config.ts'
import { CairnError } from '../../util/errors.ts'
import { parseSetting } from '../../cluster/settings.ts'

/** Longest wait for all nodes to be up and fully connected. */
export const CLUSTER_READY_TIMEOUT_MS = 120_000
/** Poll interval while waiting. */
export const CLUSTER_POLL_MS = 250
/** Longest wait for nodes to stop after SIGTERM before SIGKILL. */
export const CLUSTER_STOP_TIMEOUT_MS = 15_000
/**
 * Most nodes a local cluster may have: enough for the widest code (k + m =
 * 255 shards on distinct nodes); each node is a process, so memory decides
 * how many are practical.
 */
export const MAX_LOCAL_NODES = 255

/** Directory levels searched upwards from this module for bin/cairn.js: src/cli/commands/ is three below the root, a bundle in dist/ one. */
const MAX_BIN_SEARCH_LEVELS = 4

/**
 * bin/cairn.js of this installation, found upwards from this module, which
 * runs from src/cli/commands/ (sources), dist/cli/commands/ (one file per
 * source) or a chunk in dist/ (the bundle).
 */
function findBin (): string {
  let dir = new URL('.', import.meta.url)
  for (let level = 0; level <= MAX_BIN_SEARCH_LEVELS; level++) {
    const candidate = fileURLToPath(new URL('bin/cairn.js', dir))
    if (existsSync(candidate)) return candidate
    dir = new URL('..', dir)
  }
  throw new CairnError('CONFIG', `bin/cairn.js not found above ${fileURLToPath(import.meta.url)}`, 'run cairn from a complete installation (bin/, src/ and dist/ side by side)')
}

const BIN = findBin()

/**
 * Create (or reuse) the node directories base/node-1 … base/node-`count` of
 * one cluster, each bootstrapping from every other; returns their paths. The
 * chaos harness builds its cluster with this too.
 *
 * @example
 * const dirs = await createNodes('/tmp/c', 6, 4, 2)
 */
export async function createNodes (base: string, count: number, k: number, m: number): Promise<string[]> {
  const dirs = Array.from({ length: count }, (_, i) => join(base, `node-${i + 1}`))
  const first = dirs[0] as string
  if (!isNodeDir(first)) await initNode(['--dir', first, '--name', 'node-1', '--k', String(k), '--m', String(m)])
  const token = offlineInvite(loadNodeFiles(first))
  for (let i = 1; i < count; i++) {
    const dir = dirs[i] as string
    if (!isNodeDir(dir)) await joinNode([token, '--dir', dir, '--name', `node-${i + 1}`])
  }
  // Every node bootstraps from every other, so any subset can restart.
  const addrs = dirs.map((d) => nodeAddress(loadNodeFiles(d)))
  for (const dir of dirs) {
    const files = loadNodeFiles(dir)
    const own = nodeAddress(files)
    saveNodeConfig(dir, { ...files.node, bootstrap: [...new Set([...files.node.bootstrap, ...addrs])].filter((a) => a !== own) })
  }
  return dirs
}

function spawnNode (dir: string): ChildProcess {
  const log = openSync(join(dir, 'node.log'), 'a')
  rmSync(join(dir, 'api.json'), { force: true })
  return spawn(process.execPath, [BIN, 'start', '--node', dir], { stdio: ['ignore', log, log] })
}

async function waitReady (dirs: string[], children: ChildProcess[], signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS
  const pending = new Set(dirs)
  while (pending.size > 0) {
    signal.throwIfAborted()
    children.forEach((c, i) => {
      if (c.exitCode !== null) {
        const log = join(dirs[i] as string, 'node.log')
        const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ') : ''
        throw new CairnError('INTERNAL', `node-${i + 1} exited with code ${c.exitCode} during start-up${tail === '' ? '' : ` (${tail})`}`, `see ${log}`)
      }
    })
    if (Date.now() > deadline) throw new CairnError('TIMEOUT', `nodes not ready after ${CLUSTER_READY_TIMEOUT_MS / 1000} s: ${[...pending].join(', ')}`, 'see node.log in each node directory')
    for (const dir of [...pending]) {
      if (!existsSync(join(dir, 'api.json'))) continue
      try {
        const s = await connect(dir).json<{ online: number, nodes: unknown[] }>('GET', '/status')
        if (s.online === dirs.length && s.nodes.length === dirs.length) pending.delete(dir)
      } catch { /* not up yet */ }
    }
    await new Promise((r) => setTimeout(r, CLUSTER_POLL_MS))
  }
}

async function stopAll (children: ChildProcess[]): Promise<void> {
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null)
  await Promise.all(running.map(async (c) => {
    await new Promise<void>((res) => {
      const kill = setTimeout(() => { c.kill('SIGKILL') }, CLUSTER_STOP_TIMEOUT_MS)
      c.once('exit', () => { clearTimeout(kill); res() })
      c.kill('SIGTERM')
    })
  }))
}

export async function cluster (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['nodes', 'dir', 'k', 'm', 'dead-after'], booleans: [] })
  const deadAfter = args.values.get('dead-after')
  if (deadAfter !== undefined) parseSetting('deadAfter', deadAfter)
  const count = numberFlag(args, 'nodes', 6, { min: 1, max: MAX_LOCAL_NODES, integer: true })
  const { k, m } = codeFlags(args)
  const dirArg = args.values.get('dir')
  if (dirArg === undefined) throw new CairnError('BAD_INPUT', 'no directory given', 'pass --dir D; nodes go to D/node-1 … D/node-N')
  const base = resolve(dirArg)
  mkdirSync(base, { recursive: true })
  const dirs = await createNodes(base, count, k, m)
  const children = dirs.map(spawnNode)
  const ac = new AbortController()
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => { ac.abort(); await stopAll(children) })()
    return stopping
  }
  process.once('SIGINT', () => { void stop() })
  process.once('SIGTERM', () => { void stop() })
  try {
    await waitReady(dirs, children, ac.signal)
  } catch (err) {
    await stop()
    if (ac.signal.aborted && !(err instanceof CairnError)) return 130
    throw err
  }
  if (deadAfter !== undefined) {
    // A cluster setting, replicated like any other (the same as `cairn config set deadAfter`).
    await connect(dirs[0] as string).sendJson('PUT', '/config', {}, { key: 'deadAfter', value: deadAfter })
  }
  const nodes = dirs.map((dir, i) => ({ name: `node-${i + 1}`, dir, pid: children[i]?.pid as number, api: connectUrl(dir), s3: connect(dir).api.s3 ?? '' }))
  writeFileAtomic(join(base, 'cluster.json'), JSON.stringify({ nodes }, null, 2))
  console.log(`cairn cluster ready: ${count} nodes, ${loadNodeFiles(dirs[0] as string).cluster.k}+${loadNodeFiles(dirs[0] as string).cluster.m} coding, data in ${base}`)
  console.log(`try: npx cairn put FILE demo/hello.txt --node ${dirs[0]}   |   npx cairn ls demo --node ${dirs[0]}   |   npx cairn status --node ${dirs[0]}`)
  console.log(`dashboard: ${nodes[0]?.api}/#token=${connect(dirs[0] as string).api.token}   (Ctrl-C stops every node)`)
  console.log(`S3: ${nodes.map((n) => `${n.name} ${n.s3}`).join(', ')}   (make a key: npx cairn key create me --admin --node ${dirs[0]})`)
  // Stay in the foreground until SIGINT/SIGTERM has stopped every node.
  await new Promise<void>((resolve) => { ac.signal.addEventListener('abort', () => { resolve() }, { once: true }) })
  await stopping
  return 0
}

function connectUrl (dir: string): string {
  return connect(dir).api.url
}
