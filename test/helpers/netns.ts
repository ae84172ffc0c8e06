/**
 * Real network partitions for integration tests: two Linux network
 * namespaces joined by one veth pair with addresses in a private /30 that
 * exists only inside them. Cutting the link (`ip link set … down`) isolates
 * the two sides the way a broken switch would; nothing else is reachable
 * from inside, so a test cannot send packets anywhere but to its own nodes.
 *
 * Needs root (CAP_NET_ADMIN) and iproute2. `createNamespacePair` throws a
 * `NamespaceUnavailableError` when namespaces cannot be created at all, so a
 * test can skip with that reason; every other failure is a real error.
 *
 * Every process started through `spawnInNamespace` is tracked (SIGKILLed if
 * the test process dies), and `remove()` SIGKILLs whatever still runs inside
 * the namespaces before deleting them.
 *
 * @example
 * const pair = await createNamespacePair('part')
 * try { await pair.cut(); await pair.heal() } finally { await pair.remove() }
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { run, trackPid, untrackPid, waitForChildExit } from './process.ts'
import type { RunOptions, RunResult } from './process.ts'

/** Time limit of one `ip` command. */
const IP_COMMAND_TIMEOUT_MS = 15_000
/** Longest wait for a node process in a namespace to print its `running` line. */
export const NAMESPACE_NODE_START_TIMEOUT_MS = 60_000
/** Longest wait for a killed process to go. */
const EXIT_TIMEOUT_MS = 10_000
/** Prefix length of the link between the two namespaces: two host addresses. */
const LINK_PREFIX_LENGTH = 30
/** First two octets of the private range used for the link (RFC 1918, inside the namespaces only). */
const LINK_NET_PREFIX = '10.213'

/** One side of the pair. */
export interface Namespace {
  /** Namespace name (`ip netns exec NAME …`). */
  name: string
  /** Name of this side's veth interface. */
  iface: string
  /** This side's IPv4 address on the link. */
  address: string
}

/** Two namespaces joined by a veth pair. */
export interface NamespacePair {
  a: Namespace
  b: Namespace
  /** Take side A's end of the link down: no packet crosses any more. */
  cut: () => Promise<void>
  /** Bring side A's end of the link up again. */
  heal: () => Promise<void>
  /** SIGKILL every process in both namespaces, then delete them. Idempotent, never rejects. */
  remove: () => Promise<void>
}

/** A long-running process started inside a namespace. */
export interface NamespaceProcess {
  child: ChildProcess
  pid: number
}

/** Namespaces cannot be created here (not root, no CAP_NET_ADMIN, no iproute2). */
export class NamespaceUnavailableError extends Error {}

/** Run `ip ARGS…`; rejects with the command's output when it fails. */
async function ip (args: readonly string[]): Promise<RunResult> {
  const r = await run('ip', args, { timeoutMs: IP_COMMAND_TIMEOUT_MS })
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (exit ${r.code ?? r.signal}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`)
  return r
}

/** Run `command args…` inside namespace `ns` to completion (see `run`). */
export async function runInNamespace (ns: string, command: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  return await run('ip', ['netns', 'exec', ns, command, ...args], opts)
}

/** Pids of the processes that run inside namespace `ns` (empty when it does not exist). */
async function namespacePids (ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns], { timeoutMs: IP_COMMAND_TIMEOUT_MS })
  if (r.code !== 0) return []
  return r.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number)
}

/**
 * Create two namespaces `cairn-<label>A-<random>` and `cairn-<label>B-<random>`,
 * joined by a veth pair with the two addresses of a random /30 under
 * 10.213.0.0/16, both ends and both loopbacks up.
 */
export async function createNamespacePair (label: string): Promise<NamespacePair> {
  const tag = randomBytes(3).toString('hex')
  const base = 4 * randomInt(0, 64)
  const net = `${LINK_NET_PREFIX}.${randomInt(0, 256)}`
  const a: Namespace = { name: `cairn-${label}A-${tag}`, iface: `ca${tag}`, address: `${net}.${base + 1}` }
  const b: Namespace = { name: `cairn-${label}B-${tag}`, iface: `cb${tag}`, address: `${net}.${base + 2}` }
  const created: string[] = []
  let removing: Promise<void> | undefined
  const remove = async (): Promise<void> => {
    removing ??= (async () => {
      for (const ns of created) {
        for (const pid of await namespacePids(ns)) {
          try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
        }
      }
      for (const ns of created) await run('ip', ['netns', 'del', ns], { timeoutMs: IP_COMMAND_TIMEOUT_MS })
    })()
    await removing
  }

  const first = await run('ip', ['netns', 'add', a.name], { timeoutMs: IP_COMMAND_TIMEOUT_MS }).catch((err: Error) => ({ code: -1, stderr: err.message }))
  if (first.code !== 0) throw new NamespaceUnavailableError(`cannot create a network namespace (ip netns add: ${first.stderr.trim() || `exit ${first.code}`}); partition tests need root or CAP_NET_ADMIN and iproute2`)
  created.push(a.name)
  try {
    await ip(['netns', 'add', b.name])
    created.push(b.name)
    await ip(['link', 'add', a.iface, 'netns', a.name, 'type', 'veth', 'peer', 'name', b.iface, 'netns', b.name])
    for (const side of [a, b]) {
      await ip(['-n', side.name, 'link', 'set', 'lo', 'up'])
      await ip(['-n', side.name, 'addr', 'add', `${side.address}/${LINK_PREFIX_LENGTH}`, 'dev', side.iface])
      await ip(['-n', side.name, 'link', 'set', side.iface, 'up'])
    }
  } catch (err) {
    await remove()
    throw err
  }
  return {
    a,
    b,
    cut: async () => { await ip(['-n', a.name, 'link', 'set', a.iface, 'down']) },
    heal: async () => { await ip(['-n', a.name, 'link', 'set', a.iface, 'up']) },
    remove
  }
}

/**
 * Start `command args…` inside namespace `ns`, appending its output to
 * `logFile`, and wait until its stdout matches `ready` (the process is
 * SIGKILLed and the promise rejects if it exits or stays silent for
 * NAMESPACE_NODE_START_TIMEOUT_MS). `ip netns exec` execs in place, so the
 * pid is the command's own.
 */
export async function spawnInNamespace (ns: string, command: string, args: readonly string[], logFile: string, ready: RegExp): Promise<NamespaceProcess> {
  const log = openSync(logFile, 'a')
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', log] })
  trackPid(child.pid)
  child.once('exit', () => { untrackPid(child.pid) })
  let stdout = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); writeSync(log, chunk) })
  child.once('close', () => { closeSync(log) })
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { resolve(false) }, NAMESPACE_NODE_START_TIMEOUT_MS)
    child.stdout?.on('data', () => { if (ready.test(stdout)) { clearTimeout(timer); resolve(true) } })
    child.once('exit', () => { clearTimeout(timer); resolve(false) })
  })
  if (!ok || child.pid === undefined) {
    child.kill('SIGKILL')
    await waitForChildExit(child, EXIT_TIMEOUT_MS)
    throw new Error(`${command} ${args.join(' ')} in namespace ${ns} did not become ready (exit ${child.exitCode ?? child.signalCode}); see ${logFile}`)
  }
  return { child, pid: child.pid }
}

/** SIGKILL a process started by `spawnInNamespace` and wait (bounded) for it to go. */
export async function killInNamespace (proc: NamespaceProcess): Promise<void> {
  proc.child.kill('SIGKILL')
  await waitForChildExit(proc.child, EXIT_TIMEOUT_MS)
}

/** Path of a node's log inside its directory. */
export function nodeLogOf (dir: string): string {
  return join(dir, 'node.log')
}
