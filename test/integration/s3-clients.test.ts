/**
 * Goal: the S3 tools a company already has work against a Cairn node
 * unchanged: Debian's awscli (`aws s3 ls`, `aws s3 sync` of a tree of a few
 * hundred files with nested directories, MB-sized files and names with
 * spaces, unicode and URL-special characters, up and back into an empty
 * directory, byte for byte; a second sync sends nothing; `--delete`
 * removes; `aws s3api` versioning calls) and Debian's rclone (sync a tree
 * up and back, then `rclone check` finds no difference). Uploads go through
 * one node, downloads through another. The clients run with a clean
 * environment and temporary config files, so nothing of this machine's
 * AWS or rclone configuration is read; they talk to 127.0.0.1 only.
 * Files stay below awscli's multipart threshold (set to 64 MiB here).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { randomFile, sha256File, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { parseJsonOutput } from '../helpers/cli-assert.ts'
import { run } from '../helpers/process.ts'
import type { RunResult } from '../helpers/process.ts'

const AWS_BIN = '/usr/bin/aws'
const RCLONE_BIN = '/usr/bin/rclone'
const TEST_TIMEOUT_MS = 600_000
/** Time limit of one client command (a sync of the whole tree on a loaded machine). */
const CLIENT_TIMEOUT_MS = 300_000
/** Small files in the tree, spread over nested directories. */
const SMALL_FILE_COUNT = 300
/** Largest small file. */
const SMALL_FILE_MAX_BYTES = 4096
/** Sizes of the MB-sized files (all below the multipart threshold). */
const LARGE_FILE_SIZES_BYTES = [1024 * 1024, 3 * 1024 * 1024 + 17, 6 * 1024 * 1024 + 5]
/** Names S3 keys must survive: spaces, unicode, characters that URL encoding and SigV4 treat specially. */
const ODD_NAMES = ['with space.txt', 'ünïcödé/файл.bin', 'emoji-🙂.txt', 'a+b=c&d.txt', 'percent%20sign.txt', 'tilde~and(parens).txt', 'semi;colon,comma.txt', "quote'single.txt", 'deep/er/and/deeper/leaf.txt']

const missing = [AWS_BIN, RCLONE_BIN].filter((p) => !existsSync(p))
const skip = missing.length > 0 ? `${missing.join(' and ')} not installed (apt-get install awscli rclone; .ci/run does)` : false

interface Key { accessKeyId: string, secretAccessKey: string }

/** Every file under `dir`: relative path → SHA-256. */
async function treeOf (dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name)
      if (entry.isDirectory()) await walk(path)
      else out.set(relative(dir, path), await sha256File(path))
    }
  }
  await walk(dir)
  return out
}

async function makeTree (dir: string): Promise<number> {
  let count = 0
  for (let i = 0; i < SMALL_FILE_COUNT; i++) {
    const sub = join(dir, `d${i % 7}`, `e${i % 3}`)
    await mkdir(sub, { recursive: true })
    await randomFile(join(sub, `f${i}.dat`), (i * 37) % SMALL_FILE_MAX_BYTES)
    count++
  }
  for (const [i, size] of LARGE_FILE_SIZES_BYTES.entries()) { await randomFile(join(dir, `large-${i}.bin`), size); count++ }
  for (const name of ODD_NAMES) {
    await mkdir(join(dir, name, '..'), { recursive: true })
    await writeFile(join(dir, name), `content of ${name}\n`)
    count++
  }
  return count
}

function assertOk (r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${String(r.code)}${r.timedOut ? ', timed out' : ''}):\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`)
}

describe('Real S3 clients: awscli and rclone against a 3-node cluster', { timeout: 1_800_000, skip }, () => {
  let c: TestCluster
  let work: string
  let env: Record<string, string>
  let rcloneEnv: Record<string, string>
  let endpoint1: string
  let endpoint2: string
  let fileCount = 0
  const endpoint = async (name: string): Promise<string> => ((await c.apiStatus(name)) as unknown as { s3: string }).s3
  const aws = async (args: string[], via = endpoint1): Promise<RunResult> => await run(AWS_BIN, ['--endpoint-url', via, ...args], { env, inheritEnv: false, timeoutMs: CLIENT_TIMEOUT_MS })
  const rclone = async (args: string[], via = endpoint1): Promise<RunResult> => await run(RCLONE_BIN, [...args, '--s3-endpoint', via], { env: rcloneEnv, inheritEnv: false, timeoutMs: CLIENT_TIMEOUT_MS })

  before(async () => {
    c = await startCluster({ nodes: 3, k: 2, m: 1 })
    const key = parseJsonOutput<Key>(await c.cli(['key', 'create', 'tools', '--admin', '--json', '--node', c.node('node-1').dir]), 'key create')
    endpoint1 = await endpoint('node-1')
    endpoint2 = await endpoint('node-2')
    work = await mkdtemp(join(tmpdir(), 'cairn-s3-clients-'))
    const home = join(work, 'home')
    await mkdir(home)
    await writeFile(join(work, 'aws-config'), '[default]\nregion = us-east-1\noutput = json\ns3 =\n  multipart_threshold = 64MB\n  addressing_style = path\n')
    await writeFile(join(work, 'aws-credentials'), `[default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`)
    await writeFile(join(work, 'rclone.conf'), '')
    const base = { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TMPDIR: work }
    env = { ...base, AWS_CONFIG_FILE: join(work, 'aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'aws-credentials'), AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' }
    rcloneEnv = {
      ...base,
      RCLONE_CONFIG: join(work, 'rclone.conf'),
      XDG_CACHE_HOME: join(work, 'cache'),
      RCLONE_CONFIG_CAIRN_TYPE: 's3',
      RCLONE_CONFIG_CAIRN_PROVIDER: 'Other',
      RCLONE_CONFIG_CAIRN_ENV_AUTH: 'false',
      RCLONE_CONFIG_CAIRN_ACCESS_KEY_ID: key.accessKeyId,
      RCLONE_CONFIG_CAIRN_SECRET_ACCESS_KEY: key.secretAccessKey,
      RCLONE_CONFIG_CAIRN_REGION: 'us-east-1',
      RCLONE_CONFIG_CAIRN_FORCE_PATH_STYLE: 'true'
    }
    fileCount = await makeTree(join(work, 'tree'))
  }, { timeout: 300_000 })

  after(async () => {
    await c?.stop()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('aws s3: ls, sync a tree up and back byte for byte, a second sync sends nothing, --delete removes', { timeout: TEST_TIMEOUT_MS }, async () => {
    assertOk(await aws(['s3', 'mb', 's3://synced']), 'aws s3 mb')
    const ls = await aws(['s3', 'ls'], endpoint2)
    assertOk(ls, 'aws s3 ls')
    assert.match(ls.stdout, /\bsynced\b/)
    const up = await aws(['s3', 'sync', join(work, 'tree'), 's3://synced/tree', '--no-progress'])
    assertOk(up, 'aws s3 sync up')
    const listed = await aws(['s3', 'ls', 's3://synced/tree/', '--recursive'], endpoint2)
    assertOk(listed, 'aws s3 ls --recursive')
    assert.equal(listed.stdout.trim().split('\n').length, fileCount, 'every file is listed once')
    const down = join(work, 'aws-down')
    assertOk(await aws(['s3', 'sync', 's3://synced/tree', down, '--no-progress'], endpoint2), 'aws s3 sync down')
    const sent = await treeOf(join(work, 'tree'))
    assert.equal(sent.size, fileCount)
    assert.deepEqual([...(await treeOf(down)).entries()].sort(), [...sent.entries()].sort())
    // Nothing changed, so nothing is sent again (sizes and times compare equal).
    const again = await aws(['s3', 'sync', join(work, 'tree'), 's3://synced/tree', '--no-progress'])
    assertOk(again, 'second aws s3 sync')
    assert.equal(again.stdout.trim(), '', `the second sync uploaded: ${again.stdout.slice(0, 500)}`)
    await unlink(join(work, 'tree', 'with space.txt'))
    const pruned = await aws(['s3', 'sync', join(work, 'tree'), 's3://synced/tree', '--delete', '--no-progress'])
    assertOk(pruned, 'aws s3 sync --delete')
    assert.match(pruned.stdout, /delete: s3:\/\/synced\/tree\/with space\.txt/)
    const head = await aws(['s3api', 'head-object', '--bucket', 'synced', '--key', 'tree/with space.txt'], endpoint2)
    assert.notEqual(head.code, 0, 'the deleted file is still there')
    await writeFile(join(work, 'tree', 'with space.txt'), 'content of with space.txt\n')
  })

  it('aws s3api: put-bucket-versioning, list-object-versions, get-object and delete-object by --version-id', { timeout: TEST_TIMEOUT_MS }, async () => {
    assertOk(await aws(['s3api', 'create-bucket', '--bucket', 'versioned']), 'create-bucket')
    assertOk(await aws(['s3api', 'put-bucket-versioning', '--bucket', 'versioned', '--versioning-configuration', 'Status=Enabled']), 'put-bucket-versioning')
    const state = await aws(['s3api', 'get-bucket-versioning', '--bucket', 'versioned'], endpoint2)
    assertOk(state, 'get-bucket-versioning')
    assert.equal((JSON.parse(state.stdout) as { Status: string }).Status, 'Enabled')
    const ids: string[] = []
    for (const text of ['first', 'second']) {
      const file = join(work, `${text}.txt`)
      await writeFile(file, text)
      const put = await aws(['s3api', 'put-object', '--bucket', 'versioned', '--key', 'notes/today.txt', '--body', file])
      assertOk(put, 'put-object')
      ids.push((JSON.parse(put.stdout) as { VersionId: string }).VersionId)
    }
    assert.equal(new Set(ids).size, 2)
    const versions = await aws(['s3api', 'list-object-versions', '--bucket', 'versioned', '--prefix', 'notes/'], endpoint2)
    assertOk(versions, 'list-object-versions')
    const parsed = JSON.parse(versions.stdout) as { Versions: Array<{ VersionId: string, IsLatest: boolean, Key: string }> }
    assert.deepEqual(parsed.Versions.map((v) => [v.Key, v.VersionId, v.IsLatest]), [['notes/today.txt', ids[1], true], ['notes/today.txt', ids[0], false]])
    const out = join(work, 'old.txt')
    assertOk(await aws(['s3api', 'get-object', '--bucket', 'versioned', '--key', 'notes/today.txt', '--version-id', ids[0] as string, out], endpoint2), 'get-object --version-id')
    assert.equal((await stat(out)).size, 'first'.length)
    const del = await aws(['s3api', 'delete-object', '--bucket', 'versioned', '--key', 'notes/today.txt', '--version-id', ids[0] as string])
    assertOk(del, 'delete-object --version-id')
    assert.equal((JSON.parse(del.stdout) as { VersionId: string }).VersionId, ids[0])
    const left = await aws(['s3api', 'list-object-versions', '--bucket', 'versioned'], endpoint2)
    assert.deepEqual((JSON.parse(left.stdout) as { Versions: Array<{ VersionId: string }> }).Versions.map((v) => v.VersionId), [ids[1]])
  })

  it('rclone: sync a tree up and back, then rclone check finds no difference', { timeout: TEST_TIMEOUT_MS }, async () => {
    assertOk(await rclone(['mkdir', 'cairn:cloned']), 'rclone mkdir')
    assertOk(await rclone(['sync', join(work, 'tree'), 'cairn:cloned/tree']), 'rclone sync up')
    const down = join(work, 'rclone-down')
    assertOk(await rclone(['sync', 'cairn:cloned/tree', down], endpoint2), 'rclone sync down')
    assert.deepEqual([...(await treeOf(down)).entries()].sort(), [...(await treeOf(join(work, 'tree'))).entries()].sort())
    // rclone check compares sizes and MD5s (the S3 ETags) of every file.
    const check = await rclone(['check', join(work, 'tree'), 'cairn:cloned/tree'], endpoint2)
    assertOk(check, 'rclone check')
    assert.match(check.stderr, new RegExp(`${fileCount} matching files`))
  })
})
