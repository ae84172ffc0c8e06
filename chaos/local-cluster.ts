/**
 * The chaos harness's local cluster: one `cairn start --node DIR` process per
 * slot, on 127.0.0.1 with free ports, under a base directory, built the way
 * `cairn cluster` builds one (every node bootstraps from every other). The
 * harness owns every process: it kills, stops, resumes and restarts them,
 * deletes a node's data directory and joins a fresh node in its place
 * (`cairn invite` on a live node, then `cairn join`), and changes a stopped
 * node's quota. A node that exits without being told to is a crash: it is
 * recorded (a finding of the run) and restarted.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { createNodes } from '../src/cli/commands/cluster.ts'
import { apiJson } from './http.ts'
import type { NodeApi } from './http.ts'

const execFileAsync = promisify(execFile)

/** The CLI the nodes run. */
export const CAIRN_BIN = fileURLToPath(new URL('../bin/cairn.js', import.meta.url))
/** Longest wait for a started node to answer its status. */
export const NODE_START_TIMEOUT_MS = 60_000
/** Longest wait for a node to exit after SIGTERM before it is SIGKILLed. */
export const NODE_STOP_TIMEOUT_MS = 15_000
/** Longest wait for every running node to see every other one online. */
export const MESH_TIMEOUT_MS = 90_000
/** Time limit of one CLI call (invite, join). */
const CLI_TIMEOUT_MS = 60_000
/** Poll interval while waiting for a node. */
const POLL_MS = 250
/** Crashed nodes restarted by the harness before it gives up restarting them. */
export const MAX_CRASH_RESTARTS = 10
/** Characters of a node's log kept with a crash report. */
const LOG_TAIL_CHARS = 2_000

/** What the harness knows of a slot's process. */
export type SlotState = 'up' | 'starting' | 'stopped' | 'down'

/** One position in the cluster and the node now in it. */
export interface Slot {
  index: number
  name: string
  dir: string
  /** Peer id of the node now in the slot ('' before its first start). */
  id: string
  state: SlotState
  child: ChildProcess | undefined
  api: NodeApi | undefined
}

/** A node that exited on its own. */
export interface Crash {
  name: string
  atMs: number
  exit: string
  logTail: string
}

/** The parts of a node's status document the harness reads (fields of the healer are optional until it lands). */
export interface StatusDocument {
  node: { name: string, id: string }
  nodes: Array<{ name: string, id: string, online: boolean, self: boolean, state?: string, usedBytes?: number, liveBytes?: number, orphanBytes?: number }>
  online: number
  store: { usedBytes: number, quotaBytes: number, corruptCount?: number }
  collection?: { orphanBytes: number, pendingBytes: number, lastScanMs: number, lastError: string }
  objects?: { total: number, healthy: number, degraded: number, unavailable: number }
  repair?: { lastScanMs: number, lastScanTookMs: number }
}

/** What the cluster needs. */
export interface LocalClusterInit {
  base: string
  nodes: number
  k: number
  m: number
  /** Variables added to every node's environment. */
  env: Record<string, string>
  log: (line: string) => void
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function logTail (dir: string): string {
  const path = join(dir, 'node.log')
  if (!existsSync(path)) return ''
  const text = readFileSync(path, 'utf8')
  return text.slice(-LOG_TAIL_CHARS)
}

function readApi (dir: string): (NodeApi & { pid: number }) | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as NodeApi & { pid: number }
  } catch {
    return undefined
  }
}

/** Run the CLI to completion; throws with its stderr when it fails. */
async function cli (args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [CAIRN_BIN, ...args], { timeout: CLI_TIMEOUT_MS, encoding: 'utf8' })
  return stdout
}

/**
 * A running local cluster.
 *
 * @example
 * const c = await LocalCluster.create({ base, nodes: 6, k: 4, m: 2, env: {}, log: console.log })
 * try { await c.kill(2); await c.start(2) } finally { await c.shutdown() }
 */
export class LocalCluster {
  readonly slots: Slot[]
  /** Identities whose data directory was deleted: the cluster must declare them dead. */
  readonly replaced: Array<{ id: string, name: string }> = []
  readonly crashes: Crash[] = []
  private readonly init: LocalClusterInit
  private readonly startedMs = Date.now()
  private nextNumber: number
  private shuttingDown = false
  private readonly expectingExit = new Set<ChildProcess>()

  private constructor (init: LocalClusterInit, dirs: string[]) {
    this.init = init
    this.slots = dirs.map((dir, index) => ({ index, name: `node-${index + 1}`, dir, id: '', state: 'down', child: undefined, api: undefined }))
    this.nextNumber = dirs.length + 1
  }

  /** Create the node directories, start every node and wait until they form a full mesh. */
  static async create (init: LocalClusterInit): Promise<LocalCluster> {
    const dirs = await createNodes(init.base, init.nodes, init.k, init.m)
    const cluster = new LocalCluster(init, dirs)
    return cluster
  }

  /** Start every slot that is down, then wait for the mesh. */
  async startAll (): Promise<void> {
    await Promise.all(this.slots.filter((s) => s.state === 'down').map(async (s) => { await this.start(s.index) }))
    await this.waitMesh()
  }

  /** Pids of every node process alive now (for the exit hook). */
  pids (): number[] {
    return this.slots.flatMap((s) => (s.child?.pid !== undefined && s.child.exitCode === null && s.child.signalCode === null ? [s.child.pid] : []))
  }

  /** Slots whose node is running and answering. */
  upSlots (): Slot[] {
    return this.slots.filter((s) => s.state === 'up')
  }

  /** Spawn the slot's node and wait until it answers its status. */
  async start (index: number): Promise<void> {
    const slot = this.slot(index)
    if (slot.child !== undefined) throw new Error(`${slot.name} is already running (pid ${slot.child.pid})`)
    rmSync(join(slot.dir, 'api.json'), { force: true })
    const log = openSync(join(slot.dir, 'node.log'), 'a')
    // A process group of its own: Ctrl-C in the terminal reaches the harness only, which then stops the nodes itself.
    const child = spawn(process.execPath, [CAIRN_BIN, 'start', '--node', slot.dir], { stdio: ['ignore', log, log], env: { ...process.env, ...this.init.env }, detached: true })
    closeSync(log)
    slot.child = child
    slot.state = 'starting'
    child.once('exit', (code, signal) => { this.onExit(slot, child, code, signal) })
    const deadline = Date.now() + NODE_START_TIMEOUT_MS
    for (;;) {
      if (slot.child !== child) throw new Error(`${slot.name} exited during start-up: ${logTail(slot.dir).split('\n').slice(-4).join(' | ')}`)
      const api = readApi(slot.dir)
      if (api !== undefined && api.pid === child.pid) {
        try {
          const status = await apiJson<StatusDocument>(api, 'GET', '/status')
          slot.api = { url: api.url, token: api.token }
          slot.id = status.node.id
          slot.state = 'up'
          return
        } catch { /* not answering yet */ }
      }
      if (Date.now() > deadline) {
        await this.kill(index, 'SIGKILL')
        throw new Error(`${slot.name} did not answer within ${NODE_START_TIMEOUT_MS / 1000} s of its start; see ${join(slot.dir, 'node.log')}`)
      }
      await sleep(POLL_MS)
    }
  }

  private onExit (slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const expected = this.expectingExit.delete(child)
    if (slot.child !== child) return
    const wasStarting = slot.state === 'starting'
    slot.child = undefined
    slot.api = undefined
    slot.state = 'down'
    if (expected || this.shuttingDown) return
    const exit = signal === null ? `code ${code}` : `signal ${signal}`
    this.crashes.push({ name: slot.name, atMs: Date.now() - this.startedMs, exit, logTail: logTail(slot.dir) })
    this.init.log(`${slot.name} exited on its own (${exit})${wasStarting ? ' during start-up' : '; restarting it'}`)
    // A failed start is reported to whoever started it; a crash of a running node is restarted here.
    if (!wasStarting && this.crashes.length <= MAX_CRASH_RESTARTS) {
      void sleep(1000).then(async () => {
        if (!this.shuttingDown && slot.child === undefined && slot.state === 'down') await this.start(slot.index).catch((err: unknown) => { this.init.log(`restart of ${slot.name} failed: ${(err as Error).message}`) })
      })
    }
  }

  /** Send `signal` to the slot's node and wait until it has exited (SIGKILL after NODE_STOP_TIMEOUT_MS). */
  async kill (index: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const slot = this.slot(index)
    const child = slot.child
    if (child === undefined) return
    this.expectingExit.add(child)
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      else child.once('exit', () => { resolve() })
    })
    // A stopped process handles SIGTERM only once it runs again.
    if (slot.state === 'stopped') child.kill('SIGCONT')
    child.kill(signal)
    const timer = setTimeout(() => { child.kill('SIGKILL') }, NODE_STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }

  /** SIGSTOP the slot's node: it keeps its connections but answers nothing (a hung PC). */
  pause (index: number): void {
    const slot = this.slot(index)
    if (slot.child === undefined || slot.state !== 'up') throw new Error(`${slot.name} is not up (${slot.state})`)
    slot.child.kill('SIGSTOP')
    slot.state = 'stopped'
  }

  /** SIGCONT a stopped node. */
  resume (index: number): void {
    const slot = this.slot(index)
    if (slot.child === undefined || slot.state !== 'stopped') return
    slot.child.kill('SIGCONT')
    slot.state = 'up'
  }

  /** A dead disk: SIGKILL the node and delete its whole data directory. */
  async wipe (index: number): Promise<void> {
    const slot = this.slot(index)
    await this.kill(index, 'SIGKILL')
    if (slot.id !== '') this.replaced.push({ id: slot.id, name: slot.name })
    rmSync(slot.dir, { recursive: true, force: true })
  }

  /**
   * Put a fresh node in a wiped slot: a join token from a live node (`cairn
   * invite`), a new directory made by `cairn join`, then its start.
   */
  async replace (index: number): Promise<void> {
    const slot = this.slot(index)
    const live = this.upSlots()[0]
    if (live === undefined) throw new Error(`no live node to invite ${slot.name}'s replacement`)
    const { token } = JSON.parse(await cli(['invite', '--node', live.dir, '--json'])) as { token: string }
    const name = `node-${this.nextNumber++}`
    const dir = join(this.init.base, name)
    await cli(['join', token, '--dir', dir, '--name', name])
    Object.assign(slot, { name, dir, id: '', state: 'down', child: undefined, api: undefined })
    await this.start(index)
  }

  /**
   * Bring the slot's node back whatever state a fault left it in: continue
   * it, start it, or replace it when its directory is gone.
   */
  async ensureUp (index: number): Promise<void> {
    const slot = this.slot(index)
    if (slot.state === 'stopped') this.resume(index)
    if (slot.child !== undefined) return
    if (existsSync(join(slot.dir, 'node.json'))) await this.start(index)
    else await this.replace(index)
  }

  /** The quota in the slot's node.json. */
  quota (index: number): number {
    return (JSON.parse(readFileSync(join(this.slot(index).dir, 'node.json'), 'utf8')) as { quotaBytes: number }).quotaBytes
  }

  /** Set the quota in the slot's node.json (the node must not be running: it reads the file at start). */
  setQuota (index: number, quotaBytes: number): void {
    const slot = this.slot(index)
    if (slot.child !== undefined) throw new Error(`${slot.name} is running; stop it before changing its quota`)
    const path = join(slot.dir, 'node.json')
    const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    writeFileSync(path, JSON.stringify({ ...config, quotaBytes }, null, 2), { mode: 0o600 })
  }

  /** The status document of the slot's node. */
  async status (index: number): Promise<StatusDocument> {
    const api = this.slot(index).api
    if (api === undefined) throw new Error(`${this.slot(index).name} is not running`)
    return await apiJson<StatusDocument>(api, 'GET', '/status')
  }

  /** Wait until every up node sees every other up node online. */
  async waitMesh (timeoutMs = MESH_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let view = 'no answer yet'
    for (;;) {
      const up = this.upSlots()
      try {
        const statuses = await Promise.all(up.map(async (s) => await this.status(s.index)))
        const missing = statuses.map((st, i) => {
          const online = new Set(st.nodes.filter((n) => n.online).map((n) => n.id))
          return { name: up[i]?.name, lacks: up.filter((s) => !online.has(s.id)).map((s) => s.name) }
        }).filter((v) => v.lacks.length > 0)
        if (missing.length === 0) return
        view = missing.map((v) => `${v.name} does not see ${v.lacks.join(', ')}`).join('; ')
      } catch (err) {
        view = (err as Error).message
      }
      if (Date.now() > deadline) throw new Error(`nodes did not all see each other within ${timeoutMs / 1000} s: ${view}`)
      await sleep(POLL_MS * 4)
    }
  }

  /** Stop every node: SIGCONT the stopped ones, SIGTERM all, SIGKILL what lingers. */
  async shutdown (): Promise<void> {
    this.shuttingDown = true
    await Promise.all(this.slots.map(async (s) => { await this.kill(s.index, 'SIGTERM') }))
  }

  private slot (index: number): Slot {
    const slot = this.slots[index]
    if (slot === undefined) throw new Error(`no slot ${index} in a cluster of ${this.slots.length}`)
    return slot
  }
}
