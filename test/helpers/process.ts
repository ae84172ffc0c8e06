/**
 * Process helpers of the integration tests: run a command with a time limit
 * and captured output, wait for a condition with a bound, check whether a pid
 * is alive, and kill every tracked process when the test process exits (a
 * last line of defence behind the `after` hooks, so no node outlives a test).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createReadStream } from 'node:fs'

/** Default limit of one CLI call: a 256 MiB put takes ~40 s on a 2-core machine. */
export const DEFAULT_RUN_TIMEOUT_MS = 180_000
/** Most output kept per stream, so `get … -` of a large object cannot exhaust memory. */
export const MAX_CAPTURED_OUTPUT_BYTES = 8 * 1024 * 1024
/** Poll interval of `waitFor`. */
export const WAIT_POLL_MS = 200

/** What a finished command left behind. */
export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** True when the command was SIGKILLed for running past its time limit. */
  timedOut: boolean
  durationMs: number
}

/** How to run a command. */
export interface RunOptions {
  /** Bytes written to the command's stdin (then closed). */
  stdin?: string | Uint8Array
  /** A file streamed to the command's stdin (memory stays flat). */
  stdinFile?: string
  /** Variables added to the inherited environment. */
  env?: Record<string, string>
  /** False: the command gets only `env`, nothing of this process's environment (default true). */
  inheritEnv?: boolean
  timeoutMs?: number
}

const tracked = new Set<number>()
let exitHookInstalled = false

/** Remember `pid` so it is SIGKILLed if the test process exits while it runs. */
export function trackPid (pid: number | undefined): void {
  if (pid === undefined) return
  tracked.add(pid)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const p of tracked) {
      try { process.kill(p, 'SIGKILL') } catch { /* already gone */ }
    }
  })
}

/** Forget a pid that is known to have exited. */
export function untrackPid (pid: number | undefined): void {
  if (pid !== undefined) tracked.delete(pid)
}

/** True while a process with `pid` exists (a zombie counts until reaped). */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Resolve after `ms` milliseconds. */
export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Resolve once `predicate` returns true; a throwing predicate counts as false.
 * Rejects after `timeoutMs` with `what` and the last error in the message.
 *
 * @example
 * await waitFor(() => !isAlive(pid), 10_000, `pid ${pid} to exit`)
 */
export async function waitFor (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError = ''
  // Bounded by the deadline; each round sleeps WAIT_POLL_MS.
  for (;;) {
    try {
      if (await predicate()) return
    } catch (err) {
      lastError = (err as Error).message
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === '' ? '' : ` (last error: ${lastError})`}`)
    await sleep(WAIT_POLL_MS)
  }
}

/** Resolve true once `child` has exited, false when `timeoutMs` passes first. */
export async function waitForChildExit (child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(false) }, timeoutMs)
    const onExit = (): void => { clearTimeout(timer); resolve(true) }
    child.once('exit', onExit)
  })
}

/** Keep at most MAX_CAPTURED_OUTPUT_BYTES of a stream. */
function collector (): { push: (chunk: Buffer) => void, text: () => string } {
  const chunks: Buffer[] = []
  let size = 0
  return {
    push (chunk) {
      if (size >= MAX_CAPTURED_OUTPUT_BYTES) return
      chunks.push(chunk)
      size += chunk.length
    },
    text: () => Buffer.concat(chunks).toString('utf8')
  }
}

/**
 * Run `command args` to completion with captured output; never rejects for a
 * non-zero exit, and SIGKILLs the command after `timeoutMs`.
 *
 * @example
 * const r = await run(process.execPath, ['bin/cairn.js', 'status', '--node', dir])
 */
export async function run (command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now()
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.inheritEnv === false ? { ...opts.env } : { ...process.env, ...opts.env } })
  trackPid(child.pid)
  const out = collector()
  const err = collector()
  child.stdout.on('data', out.push)
  child.stderr.on('data', err.push)
  // A command that exits before reading all its input (a refused put) closes the pipe.
  child.stdin.on('error', () => {})
  if (opts.stdinFile !== undefined) {
    const input = createReadStream(opts.stdinFile)
    input.on('error', () => { child.stdin.destroy() })
    input.pipe(child.stdin)
  } else if (opts.stdin !== undefined) {
    child.stdin.end(opts.stdin)
  } else {
    child.stdin.end()
  }
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, s) => { resolve([c, s]) })
  }).finally(() => { clearTimeout(timer); untrackPid(child.pid) })
  return { code, signal, stdout: out.text(), stderr: err.text(), timedOut, durationMs: Date.now() - started }
}
