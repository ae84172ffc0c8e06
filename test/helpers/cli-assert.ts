/**
 * Assertions on CLI results that print everything needed to diagnose a
 * failure (exit code, signal, both output streams) in the assertion message.
 */
import assert from 'node:assert/strict'
import type { RunResult } from './process.ts'

function describe (r: RunResult): string {
  return `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''} after ${r.durationMs} ms; stdout: ${JSON.stringify(r.stdout.slice(0, 2000))}; stderr: ${JSON.stringify(r.stderr.slice(0, 2000))}`
}

/** The command succeeded (exit 0, in time). */
export function assertSucceeded (r: RunResult, what: string): void {
  assert.equal(r.timedOut, false, `${what} timed out: ${describe(r)}`)
  assert.equal(r.code, 0, `${what} failed: ${describe(r)}`)
}

/**
 * The command failed the way the CLI promises: in time, with a non-zero exit
 * code and exactly one line on stderr matching every pattern.
 */
export function assertFailedClearly (r: RunResult, what: string, ...patterns: RegExp[]): void {
  assert.equal(r.timedOut, false, `${what} hung: ${describe(r)}`)
  assert.notEqual(r.code, 0, `${what} should fail but exited 0: ${describe(r)}`)
  assert.notEqual(r.code, null, `${what} died of a signal: ${describe(r)}`)
  const lines = r.stderr.split('\n').filter((line) => line.trim() !== '')
  assert.equal(lines.length, 1, `${what} should print exactly one stderr line: ${describe(r)}`)
  for (const pattern of patterns) assert.match(r.stderr, pattern, `${what}: stderr should match ${pattern}: ${describe(r)}`)
}

/** Parse a command's stdout as JSON, with the output in the message on failure. */
export function parseJsonOutput<T> (r: RunResult, what: string): T {
  assertSucceeded(r, what)
  try {
    return JSON.parse(r.stdout) as T
  } catch {
    assert.fail(`${what} printed no valid JSON: ${describe(r)}`)
  }
}
