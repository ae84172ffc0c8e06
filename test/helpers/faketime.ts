/**
 * Run a node with its wall clock shifted by libfaketime (Debian package
 * `faketime`; .ci/run installs it). The library is preloaded into the node
 * process itself rather than run through the `faketime` wrapper, so the pid
 * the harness tracks and signals is the node's. The monotonic clock is left
 * alone: only the wall clock (Date.now) is wrong, as on a misconfigured PC.
 */
import { existsSync } from 'node:fs'

/** Where Debian and Ubuntu install libfaketime. */
const LIBFAKETIME_PATHS = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1'
]

/**
 * Environment that shifts a process's wall clock by `offset` (libfaketime
 * syntax: '+1d', '-1h'). Throws with the fix when libfaketime is missing.
 *
 * @example
 * await cluster.restart('node-3', { env: fakeTimeEnv('+1d') })
 */
export function fakeTimeEnv (offset: string): Record<string, string> {
  const lib = LIBFAKETIME_PATHS.find((p) => existsSync(p))
  if (lib === undefined) throw new Error('libfaketime is not installed: apt-get install -y faketime (.ci/run installs it)')
  return { LD_PRELOAD: lib, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' }
}
