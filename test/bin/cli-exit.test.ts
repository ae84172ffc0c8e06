// Goal: every CLI command ends by letting its event loop run dry, not by
// process.exit() (src/cli/main.ts, finish). process.exit() can hang forever
// in Node's own teardown when a background compile job is waiting for the
// main thread (nodejs/node#54918): a `cairn put --json` printed its result
// under load and was still alive 240 s later. A natural end does not take that
// path, but only while the command closes everything it opened; a handle left
// open sends the process back to process.exit() after EXIT_FALLBACK_MS, which
// it reports on stderr when CAIRN_EXIT_REPORT=1. The deadlock itself is too
// rare to provoke in a test; this checks that no command falls back to the
// path that has it, on success and on the error paths a user hits.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CAIRN_BIN, spawnNode } from '../helpers/cluster.ts'
import { randomFile, sha256File } from '../helpers/files.ts'
import { run, waitForChildExit } from '../helpers/process.ts'
import type { RunOptions, RunResult } from '../helpers/process.ts'
import { assertFailedClearly, assertSucceeded } from '../helpers/cli-assert.ts'

const FALLBACK = /still open .* after the command ended/

async function cairn (args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return await run(process.execPath, [CAIRN_BIN, ...args], { ...opts, env: { ...opts.env, CAIRN_EXIT_REPORT: '1' } })
}

function assertNaturalEnd (r: RunResult, what: string): void {
  assert.doesNotMatch(r.stderr, FALLBACK, `${what} left a handle open and fell back to process.exit(): ${r.stderr}`)
}

test('CLI commands end without process.exit(), on success and on failure', { timeout: 300_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'cairn-cli-exit-'))
  const dir = join(work, 'node')
  try {
    assertSucceeded(await cairn(['init', '--dir', dir, '--k', '1', '--m', '0', '--name', 'solo']), 'init')
    const node = await spawnNode(dir)
    const file = join(work, 'in.bin')
    const sha = await randomFile(file, 3 * 1024 * 1024 + 11)
    const ok: Array<[string, string[], RunOptions?]> = [
      ['status', ['status', '--json', '--node', dir]],
      ['put FILE', ['put', file, 'demo/a', '--json', '--node', dir]],
      ['put - (stdin)', ['put', '-', 'demo/b', '--node', dir], { stdinFile: file }],
      ['get to a file', ['get', 'demo/a', join(work, 'out.bin'), '--node', dir]],
      ['ls', ['ls', 'demo', '--json', '--node', dir]],
      ['versions', ['versions', 'demo/b', '--json', '--node', dir]],
      ['help', ['--help']]
    ]
    try {
      for (const [what, args, opts] of ok) {
        const r = await cairn(args, opts)
        assertSucceeded(r, what)
        assertNaturalEnd(r, what)
      }
      assert.equal(await sha256File(join(work, 'out.bin')), sha, 'get wrote the bytes put stored')
      const toStdout = await cairn(['get', 'demo/b', '-', '--node', dir])
      assertSucceeded(toStdout, 'get -')
      assertNaturalEnd(toStdout, 'get -')
      assert.ok(toStdout.stdout.length > 1024 * 1024, 'get - wrote the object to stdout')
      const missing = await cairn(['get', 'demo/nope', join(work, 'nope.bin'), '--node', dir])
      assertFailedClearly(missing, 'get of a missing key', /does not exist/)
      const unknown = await cairn(['frobnicate'])
      assertFailedClearly(unknown, 'an unknown command', /unknown command/)
    } finally {
      node.child.kill('SIGTERM')
      await waitForChildExit(node.child, 15_000)
    }
    // The node is gone: a put with its input still flowing, and a status.
    const down = await cairn(['put', '-', 'demo/c', '--node', dir], { stdinFile: file })
    assertFailedClearly(down, 'put to a stopped node', /cannot reach the node/)
    const status = await cairn(['status', '--node', dir])
    assertFailedClearly(status, 'status of a stopped node', /cannot reach the node/)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
})
