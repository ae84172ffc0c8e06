/**
 * Goal: Debian's awscli (/usr/bin/aws, not a pyenv shim) moves a 1 GiB file
 * up and back through a node's S3 endpoint byte for byte: `aws s3 cp`
 * uploads anything over 8 MiB as a multipart upload (8 MiB parts, ten in
 * parallel) and downloads it with parallel ranged GETs, so this checks
 * multipart upload and ranged reads with a client we did not write. The
 * upload goes through one node and the download through another. The CLI
 * sees only a temporary config and credentials file, so nothing of the
 * machine's AWS configuration is used, and never leaves 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { randomFile, sha256File, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { parseJsonOutput } from '../helpers/cli-assert.ts'
import { run } from '../helpers/process.ts'

/** Debian's awscli; .ci/run installs it when missing. */
const AWS_BIN = '/usr/bin/aws'
const FILE_BYTES = 1024 ** 3
/** Time allowed for one `aws s3 cp` of the file (about 10 MB/s on a loaded 2-core machine). */
const COPY_TIMEOUT_MS = 600_000
const BUCKET = 'awscli'
/** Parts (or ranges) the CLI moves at once. */
const AWS_CONCURRENT_REQUESTS = 4
/** Attempts per request: a node answers 503 while too few peers answer heartbeats, which happens on an overloaded machine. */
const AWS_MAX_ATTEMPTS = 10

// Nothing of the machine's AWS setup may leak into the CLI's environment.
for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) Reflect.deleteProperty(process.env, name)

interface Key { accessKeyId: string, secretAccessKey: string }

describe('awscli: aws s3 cp of 1 GiB up and back (multipart), 3 nodes, 2+1', { timeout: 2_400_000, skip: existsSync(AWS_BIN) ? false : `${AWS_BIN} is missing (apt-get install awscli)` }, () => {
  let c: TestCluster
  let work: string
  let env: Record<string, string>
  const endpoint = async (name: string): Promise<string> => ((await c.apiStatus(name)) as unknown as { s3: string }).s3

  async function aws (args: string[], what: string): Promise<string> {
    const res = await run(AWS_BIN, args, { env, timeoutMs: COPY_TIMEOUT_MS })
    assert.equal(res.code, 0, `${what} failed (code ${String(res.code)}${res.timedOut ? ', timed out' : ''}): ${res.stderr.slice(-2000)}`)
    return res.stdout
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'cairn-it-awscli-'))
    c = await startCluster({ nodes: 3, k: 2, m: 1 })
    const key = parseJsonOutput<Key>(await c.cli(['key', 'create', 'cli', '--admin', '--json', '--node', c.node('node-1').dir]), 'key create cli')
    // Four parts in flight instead of ten, and retries of 503s: a 2-core test machine shared with other work is slower than any real node.
    await writeFile(join(work, 'config'), `[default]\nmax_attempts = ${AWS_MAX_ATTEMPTS}\nretry_mode = standard\ns3 =\n  max_concurrent_requests = ${AWS_CONCURRENT_REQUESTS}\n`)
    await writeFile(join(work, 'credentials'), '')
    env = {
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(work, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(work, 'credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: ''
    }
  }, { timeout: 200_000 })

  after(async () => {
    await c?.stop()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('aws s3 cp uploads 1 GiB as a multipart upload through node-1 and downloads it through node-2, same SHA-256', { timeout: 2_000_000 }, async () => {
    const up = await endpoint('node-1')
    const down = await endpoint('node-2')
    const file = join(work, 'big.bin')
    const back = join(work, 'big.back')
    try {
      const sha = await randomFile(file, FILE_BYTES)
      await aws(['s3', 'mb', `s3://${BUCKET}`, '--endpoint-url', up], 'aws s3 mb')
      await aws(['s3', 'cp', file, `s3://${BUCKET}/big.bin`, '--endpoint-url', up, '--no-progress'], 'aws s3 cp up')
      const head = JSON.parse(await aws(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'big.bin', '--endpoint-url', down], 'aws s3api head-object')) as { ContentLength: number, ETag: string }
      assert.equal(head.ContentLength, FILE_BYTES)
      assert.match(head.ETag, /^"[0-9a-f]{32}-\d+"$/, 'the object was not uploaded as a multipart upload')
      await aws(['s3', 'cp', `s3://${BUCKET}/big.bin`, back, '--endpoint-url', down, '--no-progress'], 'aws s3 cp down')
      assert.equal((await stat(back)).size, FILE_BYTES)
      assert.equal(await sha256File(back), sha)
    } finally {
      await rm(file, { force: true })
      await rm(back, { force: true })
    }
  })
})
