/**
 * Looking at shard files from outside a node, the way an attacker with the
 * disk (or a test) would: list them (DIR/shards/ab/<64-hex sha256>), see
 * which appeared since a snapshot, and search them for runs of a known
 * plaintext.
 */
import { readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'

/** Length of a plaintext run that must never be visible in a shard. */
export const PLAINTEXT_RUN_BYTES = 64
/** Needle length: any 64-byte run of a periodic text contains one aligned 32-byte block. */
const NEEDLE_BYTES = PLAINTEXT_RUN_BYTES / 2

const SHARD_NAME = /^[0-9a-f]{64}$/

async function listDir (dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/**
 * Absolute paths of every shard file of the node in `nodeDir`, sorted; with
 * `quarantine`, quarantined shards too. Temp files are left out.
 */
export async function listShardFiles (nodeDir: string, opts: { quarantine?: boolean } = {}): Promise<string[]> {
  const shardsDir = join(nodeDir, 'shards')
  const out: string[] = []
  for (const fanOut of await listDir(shardsDir)) {
    for (const name of await listDir(join(shardsDir, fanOut))) {
      if (SHARD_NAME.test(name)) out.push(join(shardsDir, fanOut, name))
    }
  }
  if (opts.quarantine === true) {
    const quarantineDir = join(nodeDir, 'quarantine')
    for (const name of await listDir(quarantineDir)) {
      if (SHARD_NAME.test(name)) out.push(join(quarantineDir, name))
    }
  }
  return out.sort()
}

/** Paths in `after` that are not in `before`. */
export function addedFiles (before: readonly string[], after: readonly string[]): string[] {
  const old = new Set(before)
  return after.filter((p) => !old.has(p))
}

/** The hash a shard file is named by. */
export function shardHashOf (path: string): string {
  return basename(path)
}

/** An index of every 64-byte run of a periodic plaintext. */
export interface PlaintextIndex {
  /** The aligned 32-byte blocks of one period; every run contains one of them. */
  needles: Buffer[]
  /** Every 64-byte run of the plaintext (latin1), one per offset in the period. */
  runs: Set<string>
}

/**
 * Index a plaintext made of `period` repeated. The period's length must be a
 * multiple of 32 so that every 64-byte run, wherever it starts, contains a
 * whole 32-byte block aligned to the period: searching for those few blocks
 * finds every run, and each hit is confirmed against the full set of runs.
 */
export function indexPeriodicPlaintext (period: Buffer): PlaintextIndex {
  if (period.length % NEEDLE_BYTES !== 0) throw new Error(`period length ${period.length} is not a multiple of ${NEEDLE_BYTES}`)
  const needles: Buffer[] = []
  for (let at = 0; at < period.length; at += NEEDLE_BYTES) needles.push(period.subarray(at, at + NEEDLE_BYTES))
  const copies = 1 + Math.ceil(PLAINTEXT_RUN_BYTES / period.length)
  const text = Buffer.concat(Array.from({ length: copies }, () => period))
  const runs = new Set<string>()
  for (let at = 0; at < period.length; at++) runs.add(text.subarray(at, at + PLAINTEXT_RUN_BYTES).toString('latin1'))
  return { needles, runs }
}

/** Offset of the first 64-byte run of the indexed plaintext in `bytes`, or -1. */
export function findPlaintextRun (index: PlaintextIndex, bytes: Buffer): number {
  for (const needle of index.needles) {
    // Bounded: each round moves `hit` forward by at least one byte.
    for (let hit = bytes.indexOf(needle); hit !== -1; hit = bytes.indexOf(needle, hit + 1)) {
      for (let start = Math.max(0, hit - NEEDLE_BYTES); start <= hit; start++) {
        const run = bytes.subarray(start, start + PLAINTEXT_RUN_BYTES)
        if (run.length === PLAINTEXT_RUN_BYTES && index.runs.has(run.toString('latin1'))) return start
      }
    }
  }
  return -1
}
