/**
 * The integration-test harness: a real local cluster (`cairn cluster`, one OS
 * process per node, loopback only) that a test can drive through the CLI,
 * break (kill nodes), mend (restart nodes) and tear down.
 *
 * Every process it starts is tracked: `stop()` ends them all and removes the
 * data directory, and an exit hook SIGKILLs any that are left if the test
 * process dies first.
 *
 * @example
 * const c = await startCluster({ nodes: 6 })
 * try { await c.cli(['put', file, 'demo/a', '--node', c.node('node-1').dir]) } finally { await c.stop() }
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isAlive, run, sleep, trackPid, untrackPid, waitFor, waitForChildExit } from './process.ts'
import type { RunOptions, RunResult } from './process.ts'

export { randomFile, sha256File } from './files.ts'

/** Absolute path of the CLI under test. */
export const CAIRN_BIN = fileURLToPath(new URL('../../bin/cairn.js', import.meta.url))
/** Longest wait for `cairn cluster` to print `ready` (the CLI itself gives up at 120 s). */
export const CLUSTER_START_TIMEOUT_MS = 150_000
/** Longest wait for a restarted node to print `running` and answer status. */
export const NODE_START_TIMEOUT_MS = 60_000
/** Longest wait for the cluster process to exit after SIGTERM (its own SIGKILL fallback is 15 s). */
export const CLUSTER_STOP_TIMEOUT_MS = 30_000
/** Longest wait for a signalled node process to disappear. */
export const NODE_EXIT_TIMEOUT_MS = 15_000
/** Longest wait for every running node to see every other one online. */
export const MESH_TIMEOUT_MS = 60_000
/** Time limit of one status request made by the harness. */
const STATUS_TIMEOUT_MS = 5_000
/** Set this environment variable to 1 to keep cluster directories (node logs) after the tests, for diagnosis. */
export const KEEP_DIR_VARIABLE = 'CAIRN_TEST_KEEP_DIR'
/** Output of the cluster process kept for error messages. */
const MAX_LOG_TAIL_CHARS = 8_000

/** One node as cluster.json describes it (pid updated on restart). */
export interface ClusterNode {
  name: string
  dir: string
  pid: number
  api: string
}

/** How the cluster stopped. */
export interface StopReport {
  /** Exit code of the cluster process, null if it had to be SIGKILLed. */
  clusterExitCode: number | null
  /** Time from SIGTERM to the exit of the cluster process and every node. */
  stoppedInMs: number
  /** Node pids still alive after the bounded wait (they were then SIGKILLed). */
  lingeringPids: number[]
}

/** A process started by the harness besides the cluster (restarted or extra nodes). */
export interface NodeProcess {
  dir: string
  child: ChildProcess
  pid: number
}

/** A running test cluster. */
export interface TestCluster {
  dir: string
  nodes: ClusterNode[]
  /** The node named `name`; throws for an unknown name. */
  node: (name: string) => ClusterNode
  /** Run the CLI (`cairn ARGS…`); never rejects for a failing command. */
  cli: (args: readonly string[], opts?: RunOptions) => Promise<RunResult>
  /** Send `signal` (default SIGKILL) to a node and wait until its process is gone. */
  kill: (name: string, signal?: NodeJS.Signals) => Promise<void>
  /** Start a killed node again with `cairn start --node` and wait until it answers status; `env` is added to its environment (e.g. libfaketime). */
  restart: (name: string, opts?: SpawnNodeOptions) => Promise<ClusterNode>
  /** Start `cairn start --node DIR` for any node directory; stopped by `stop()`. */
  startNode: (dir: string) => Promise<NodeProcess>
  /** The node's status document, straight from its HTTP API. */
  apiStatus: (name: string) => Promise<StatusDocument>
  /** True while the node's process exists. */
  alive: (name: string) => boolean
  /** Restart every dead node, then wait until every node sees all nodes online. */
  healAll: () => Promise<void>
  /** Wait until every running node sees `count` nodes online (default: all). */
  waitOnline: (count?: number, names?: readonly string[]) => Promise<void>
  /** SIGTERM the cluster, SIGKILL harness-started nodes, wait, remove the directory. */
  stop: (opts?: { keepDir?: boolean }) => Promise<StopReport>
}

/** The parts of `GET /api/v1/status` the tests read. */
export interface StatusDocument {
  node: { name: string, id: string, addrs: string[] }
  nodes: Array<{ name: string, id: string, online: boolean, self: boolean, addrs: string[], state?: string }>
  online: number
  store: { corruptShards: string[] }
}

/** How to start one node process. */
export interface SpawnNodeOptions {
  /** Variables added to the node's environment (the harness's own environment is kept). */
  env?: Record<string, string>
}

/** Options of `startCluster`. */
export interface ClusterOptions {
  nodes: number
  k?: number
  m?: number
  /** Cluster directory; a fresh one under os.tmpdir() when absent. Reused if it holds a cluster. */
  dir?: string
}

function tail (text: string): string {
  return text.length <= MAX_LOG_TAIL_CHARS ? text : `…${text.slice(-MAX_LOG_TAIL_CHARS)}`
}

function logTail (dir: string): string {
  const path = join(dir, 'node.log')
  return existsSync(path) ? tail(readFileSync(path, 'utf8')) : '(no node.log)'
}

/** Status of the node in `dir` over HTTP, with the token from its api.json. */
export async function fetchStatus (dir: string): Promise<StatusDocument> {
  const api = JSON.parse(await readFile(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
  const res = await fetch(`${api.url}/api/v1/status`, { headers: { authorization: `Bearer ${api.token}` }, signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
  if (res.status !== 200) throw new Error(`status of ${dir} answered HTTP ${res.status}`)
  return await res.json() as StatusDocument
}

/** SIGKILL `pid` if it exists. */
function killQuietly (pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try { process.kill(pid, signal) } catch { /* already gone */ }
}

/**
 * Spawn `cairn start --node DIR`, appending its output to DIR/node.log, and
 * wait for its `running` line. Rejects (after killing it) if it exits or
 * stays silent for NODE_START_TIMEOUT_MS.
 */
export async function spawnNode (dir: string, opts: SpawnNodeOptions = {}): Promise<NodeProcess> {
  const log = openSync(join(dir, 'node.log'), 'a')
  const env = opts.env === undefined ? process.env : { ...process.env, ...opts.env }
  const child = spawn(process.execPath, [CAIRN_BIN, 'start', '--node', dir], { stdio: ['ignore', 'pipe', log], env })
  closeSync(log)
  const stdoutStream = child.stdout
  if (stdoutStream === null) throw new Error('spawn gave no stdout pipe')
  trackPid(child.pid)
  child.once('exit', () => { untrackPid(child.pid) })
  let stdout = ''
  const append = openSync(join(dir, 'node.log'), 'a')
  stdoutStream.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); writeSync(append, chunk) })
  child.once('close', () => { closeSync(append) })
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { resolve(false) }, NODE_START_TIMEOUT_MS)
    const check = (): void => { if (/cairn node \S+ running/.test(stdout)) { clearTimeout(timer); resolve(true) } }
    stdoutStream.on('data', check)
    child.once('exit', () => { clearTimeout(timer); resolve(false) })
  })
  if (!ok || child.pid === undefined) {
    child.kill('SIGKILL')
    await waitForChildExit(child, NODE_EXIT_TIMEOUT_MS)
    throw new Error(`cairn start --node ${dir} did not come up (exit ${child.exitCode ?? child.signalCode}); node.log:\n${logTail(dir)}`)
  }
  await waitFor(async () => (await fetchStatus(dir)).node !== undefined, NODE_START_TIMEOUT_MS, `${dir} to answer status`)
  return { dir, child, pid: child.pid }
}

/** Spawn `cairn cluster` and wait for `ready`; kills it on failure. */
async function spawnCluster (dir: string, opts: ClusterOptions): Promise<ChildProcess> {
  const args = [CAIRN_BIN, 'cluster', '--nodes', String(opts.nodes), '--dir', dir]
  if (opts.k !== undefined) args.push('--k', String(opts.k))
  if (opts.m !== undefined) args.push('--m', String(opts.m))
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  trackPid(child.pid)
  child.once('exit', () => { untrackPid(child.pid) })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output = tail(output + chunk.toString('utf8')) })
  child.stderr?.on('data', (chunk: Buffer) => { output = tail(output + chunk.toString('utf8')) })
  const outcome = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => { resolve('timeout') }, CLUSTER_START_TIMEOUT_MS)
    child.stdout?.on('data', () => { if (/\bready\b/.test(output)) { clearTimeout(timer); resolve('ready') } })
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve(`exit ${code ?? signal}`) })
  })
  if (outcome !== 'ready') {
    child.kill('SIGTERM')
    if (!await waitForChildExit(child, CLUSTER_STOP_TIMEOUT_MS)) child.kill('SIGKILL')
    throw new Error(`cairn cluster in ${dir} did not become ready (${outcome}); its output:\n${output}`)
  }
  return child
}

/**
 * Start a local cluster and wait until it is ready.
 *
 * @example
 * const c = await startCluster({ nodes: 6, k: 4, m: 2 })
 */
export async function startCluster (opts: ClusterOptions): Promise<TestCluster> {
  const dir = opts.dir === undefined ? await mkdtemp(join(tmpdir(), 'cairn-it-')) : resolve(opts.dir)
  let clusterProcess: ChildProcess
  try {
    clusterProcess = await spawnCluster(dir, opts)
  } catch (err) {
    if (opts.dir === undefined) await rm(dir, { recursive: true, force: true })
    throw err
  }
  let described: { nodes: ClusterNode[] }
  try {
    described = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { nodes: ClusterNode[] }
  } catch (err) {
    clusterProcess.kill('SIGTERM')
    if (!await waitForChildExit(clusterProcess, CLUSTER_STOP_TIMEOUT_MS)) clusterProcess.kill('SIGKILL')
    throw new Error(`cairn cluster said ready but ${join(dir, 'cluster.json')} is unreadable: ${(err as Error).message}`)
  }
  const nodes = described.nodes.map((n) => ({ ...n }))
  for (const n of nodes) trackPid(n.pid)
  const started = new Map<string, NodeProcess>()
  const extras: NodeProcess[] = []
  let stopping: Promise<StopReport> | undefined

  const node = (name: string): ClusterNode => {
    const found = nodes.find((n) => n.name === name)
    if (found === undefined) throw new Error(`no node ${name} in ${nodes.map((n) => n.name).join(', ')}`)
    return found
  }
  const alive = (name: string): boolean => isAlive(node(name).pid)

  const kill = async (name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const target = node(name)
    const own = started.get(name)
    if (own !== undefined) {
      own.child.kill(signal)
      if (!await waitForChildExit(own.child, NODE_EXIT_TIMEOUT_MS)) throw new Error(`${name} (pid ${own.pid}) did not exit on ${signal}`)
      started.delete(name)
      return
    }
    killQuietly(target.pid, signal)
    await waitFor(() => !isAlive(target.pid), NODE_EXIT_TIMEOUT_MS, `${name} (pid ${target.pid}) to exit on ${signal}`)
    untrackPid(target.pid)
  }

  const restart = async (name: string, spawnOpts: SpawnNodeOptions = {}): Promise<ClusterNode> => {
    const target = node(name)
    if (isAlive(target.pid)) throw new Error(`${name} (pid ${target.pid}) is still running; kill it first`)
    const proc = await spawnNode(target.dir, spawnOpts)
    started.set(name, proc)
    target.pid = proc.pid
    return target
  }

  const startNode = async (nodeDir: string): Promise<NodeProcess> => {
    const proc = await spawnNode(nodeDir)
    extras.push(proc)
    return proc
  }

  const waitOnline = async (count = nodes.length, names: readonly string[] = nodes.map((n) => n.name)): Promise<void> => {
    const running = names.filter(alive)
    let seen = 'no answer yet'
    try {
      await waitFor(async () => {
        const all = await Promise.all(running.map(async (name) => await fetchStatus(node(name).dir)))
        seen = all.map((s) => `${s.node.name} sees ${s.nodes.filter((n) => n.online).map((n) => n.name).join(',')}`).join('; ')
        return all.every((s) => s.online === count)
      }, MESH_TIMEOUT_MS, `${running.join(', ')} to see ${count} nodes online`)
    } catch (err) {
      throw new Error(`${(err as Error).message}; last view: ${seen}`)
    }
  }

  const healAll = async (): Promise<void> => {
    for (const n of nodes) if (!isAlive(n.pid)) await restart(n.name)
    await waitOnline()
  }

  const stopOnce = async (keepDir: boolean): Promise<StopReport> => {
    const t0 = Date.now()
    const own = [...started.values(), ...extras]
    for (const p of own) p.child.kill('SIGKILL')
    clusterProcess.kill('SIGTERM')
    const clean = await waitForChildExit(clusterProcess, CLUSTER_STOP_TIMEOUT_MS)
    if (!clean) clusterProcess.kill('SIGKILL')
    await Promise.all(own.map(async (p) => await waitForChildExit(p.child, NODE_EXIT_TIMEOUT_MS)))
    const pids = described.nodes.map((n) => n.pid)
    await waitFor(() => pids.every((pid) => !isAlive(pid)), NODE_EXIT_TIMEOUT_MS, 'node processes to exit').catch(() => {})
    const stoppedInMs = Date.now() - t0
    const lingeringPids = pids.filter(isAlive)
    for (const pid of lingeringPids) killQuietly(pid)
    for (const pid of pids) untrackPid(pid)
    if (lingeringPids.length > 0) await sleep(500)
    if (!keepDir && process.env[KEEP_DIR_VARIABLE] !== '1') await rm(dir, { recursive: true, force: true })
    return { clusterExitCode: clean ? clusterProcess.exitCode : null, stoppedInMs, lingeringPids }
  }

  return {
    dir,
    nodes,
    node,
    cli: async (args, runOpts) => await run(process.execPath, [CAIRN_BIN, ...args], runOpts),
    kill,
    restart,
    startNode,
    apiStatus: async (name) => await fetchStatus(node(name).dir),
    alive,
    healAll,
    waitOnline,
    stop: async (stopOpts = {}) => {
      stopping ??= stopOnce(stopOpts.keepDir === true)
      return await stopping
    }
  }
}
