/**
 * The chaos harness's end check, once faults have stopped and every node is
 * up again:
 * 1. `waitForHealing` polls every node's status (bounded, no fixed sleeps)
 *    until the cluster is whole: every node sees every other online; every
 *    object at full redundancy (`objects.healthy == objects.total`); every
 *    current node `online` and every replaced identity `dead`; no orphan
 *    bytes on any node (from a collector scan made after the end phase
 *    began). Fields of the status the healer has not added yet make that
 *    condition a failure reason that waiting cannot fix, so the wait ends
 *    as soon as everything else holds.
 * 2. `readBack` reads every acknowledged version of every key by its id and
 *    compares its sha256 with what was written, checks that every
 *    acknowledged version (delete markers too) is still listed, and that a
 *    key's current version is its latest acknowledged write (or a later
 *    write whose acknowledgement was lost). Anything else is a lost version.
 */
import { ApiError, getObject, listVersions } from './http.ts'
import type { VersionAnswer } from './http.ts'
import type { ObjectCounts } from '../src/daemon/healer.ts'
import { judgeRead } from './ledger.ts'
import type { KeyRecord, Ledger } from './ledger.ts'
import type { LocalCluster, StatusDocument } from './local-cluster.ts'

/** Poll interval of the heal wait. */
export const HEAL_POLL_MS = 2_000
/** Nodes tried for one read before the version counts as lost. */
export const READ_ATTEMPTS = 3
/** Keys read back at once. */
const READBACK_CONCURRENCY = 3

/** Object health counts of one node's status (as the healer reports them). */
export type { ObjectCounts }

/** The outcome of the heal wait. */
export interface HealOutcome {
  reached: boolean
  elapsedMs: number
  /** Why the cluster is not whole (empty when reached). */
  reasons: string[]
  /** Object counts as the first node reports them (undefined when its status has none). */
  objects: ObjectCounts | undefined
  /** Orphan bytes summed over every node, and bytes the collectors keep undecided (pending). */
  orphanBytes: number
  pendingBytes: number
  /** Corrupt shards the nodes' stores have found (and quarantined), summed. */
  corruptShards: number
}

/** One failed condition; `permanent` when waiting cannot fix it (a field the status does not have). */
export interface Reason { text: string, permanent: boolean }

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Conditions of the cluster as one round of statuses shows it (pure). */
export function healReasons (cluster: Pick<LocalCluster, 'slots' | 'replaced'>, statuses: ReadonlyArray<StatusDocument | Error>, sinceMs: number): Reason[] {
  const reasons: Reason[] = []
  const slots = cluster.slots
  statuses.forEach((st, i) => {
    const name = slots[i]?.name ?? `slot ${i}`
    if (st instanceof Error) { reasons.push({ text: `${name} did not answer its status (${st.message})`, permanent: false }); return }
    const byId = new Map(st.nodes.map((n) => [n.id, n]))
    const unseen = slots.filter((s) => byId.get(s.id)?.online !== true).map((s) => s.name)
    if (unseen.length > 0) reasons.push({ text: `${name} does not see ${unseen.join(', ')} online`, permanent: false })
    if (st.nodes.every((n) => n.state === undefined)) {
      reasons.push({ text: 'status has no per-node "state" (the healer has not landed): replaced identities cannot be checked as dead', permanent: true })
    } else {
      const notOnline = slots.filter((s) => byId.get(s.id)?.state !== 'online').map((s) => `${s.name} ${byId.get(s.id)?.state ?? 'absent'}`)
      if (notOnline.length > 0) reasons.push({ text: `${name} sees ${notOnline.join(', ')} (should be online)`, permanent: false })
      const notDead = cluster.replaced.filter((r) => byId.has(r.id) && byId.get(r.id)?.state !== 'dead').map((r) => `${r.name} ${byId.get(r.id)?.state}`)
      if (notDead.length > 0) reasons.push({ text: `${name} sees the replaced ${notDead.join(', ')} (should be dead)`, permanent: false })
      const strays = st.nodes.filter((n) => n.state === 'dead' && !cluster.replaced.some((r) => r.id === n.id)).map((n) => n.name)
      if (strays.length > 0) reasons.push({ text: `${name} declares ${strays.join(', ')} dead, which the harness never replaced`, permanent: false })
    }
    if (st.objects === undefined) {
      reasons.push({ text: 'status has no "objects" field (the healer has not landed): full redundancy cannot be checked', permanent: true })
    } else if (st.objects.healthy !== st.objects.total) {
      const o = st.objects
      reasons.push({ text: `${name}: ${o.total - o.healthy} of ${o.total} objects below full redundancy (${o.degraded} degraded, ${o.unavailable} unavailable)`, permanent: false })
    }
    const scan = st.collection
    if (scan === undefined) reasons.push({ text: 'status has no "collection" field: orphan bytes cannot be checked', permanent: true })
    else if (scan.lastScanMs < sinceMs) reasons.push({ text: `${name}: no shard collection scan since the end phase began`, permanent: false })
    else if (scan.orphanBytes > 0) reasons.push({ text: `${name}: ${scan.orphanBytes} orphan bytes not yet collected`, permanent: false })
  })
  return reasons
}

/**
 * Wait (at most `timeoutMs`) until the cluster is whole; see the module header.
 *
 * @example
 * const heal = await waitForHealing(cluster, 300_000, console.log)
 */
export async function waitForHealing (cluster: LocalCluster, timeoutMs: number, log: (line: string) => void, signal?: AbortSignal): Promise<HealOutcome> {
  const startMs = Date.now()
  let lastShown = ''
  // Bounded by the deadline; each round waits HEAL_POLL_MS.
  for (;;) {
    const statuses = await Promise.all(cluster.slots.map(async (s) => await cluster.status(s.index).catch((err: unknown) => err as Error)))
    const reasons = healReasons(cluster, statuses, startMs)
    const ok = statuses.filter((s): s is StatusDocument => !(s instanceof Error))
    const outcome = (reached: boolean): HealOutcome => ({
      reached,
      elapsedMs: Date.now() - startMs,
      reasons: [...new Set(reasons.map((r) => r.text))],
      objects: ok[0]?.objects,
      orphanBytes: ok.reduce((sum, s) => sum + (s.collection?.orphanBytes ?? 0), 0),
      pendingBytes: ok.reduce((sum, s) => sum + (s.collection?.pendingBytes ?? 0), 0),
      corruptShards: ok.reduce((sum, s) => sum + (s.store.corruptCount ?? 0), 0)
    })
    if (reasons.length === 0) return outcome(true)
    if (reasons.every((r) => r.permanent)) return outcome(false)
    if (Date.now() - startMs > timeoutMs || signal?.aborted === true) return outcome(false)
    const shown = reasons.filter((r) => !r.permanent).map((r) => r.text)[0] ?? ''
    if (shown !== lastShown) log(`healing: waiting for ${shown}`)
    lastShown = shown
    await sleep(HEAL_POLL_MS)
  }
}

/** A version the end check could not read back as written. */
export interface LostVersion { key: string, version: string, reason: string }

/** The outcome of the read-back. */
export interface ReadbackOutcome {
  /** Acknowledged versions checked (data versions and delete markers). */
  checked: number
  lost: LostVersion[]
}

/** Call `fn` on up to READ_ATTEMPTS running nodes in turn until it succeeds; the last error otherwise. */
async function onSomeNode<T> (cluster: LocalCluster, start: number, fn: (api: NonNullable<LocalCluster['slots'][number]['api']>) => Promise<T>): Promise<T> {
  const up = cluster.upSlots()
  let last: unknown = new Error('no node is running')
  for (let i = 0; i < Math.min(READ_ATTEMPTS, up.length); i++) {
    const api = up[(start + i) % up.length]?.api
    if (api === undefined) continue
    try { return await fn(api) } catch (err) { last = err }
  }
  throw last
}

function codeOf (err: unknown): string {
  return err instanceof ApiError ? `${err.code}${err.message === '' ? '' : `: ${err.message.slice(0, 160)}`}` : (err as Error).message
}

async function checkKey (cluster: LocalCluster, bucket: string, record: KeyRecord, turn: number): Promise<LostVersion[]> {
  const lost: LostVersion[] = []
  const loseAll = (reason: string): LostVersion[] => record.acked.map((v) => ({ key: record.key, version: v.id, reason }))
  let listed: VersionAnswer[]
  try {
    listed = await onSomeNode(cluster, turn, async (api) => await listVersions(api, bucket, record.key))
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'NOT_FOUND')) return loseAll(`its versions cannot be listed (${codeOf(err)})`)
    listed = []
  }
  const byId = new Map(listed.map((v) => [v.id, v]))
  for (const v of record.acked) {
    const entry = byId.get(v.id)
    if (entry === undefined) { lost.push({ key: record.key, version: v.id, reason: 'no longer listed among the key\'s versions' }); continue }
    if (entry.deleteMarker !== v.deleteMarker) { lost.push({ key: record.key, version: v.id, reason: `listed as ${entry.deleteMarker ? 'a delete marker' : 'data'}` }); continue }
    if (v.deleteMarker) continue
    try {
      const read = await onSomeNode(cluster, turn, async (api) => await getObject(api, bucket, record.key, v.id))
      const verdict = judgeRead(record, read, v.id)
      if (verdict.kind === 'wrong') lost.push({ key: record.key, version: v.id, reason: verdict.detail })
    } catch (err) {
      lost.push({ key: record.key, version: v.id, reason: `unreadable (${codeOf(err)})` })
    }
  }
  const latest = record.acked[record.acked.length - 1]
  const current = listed.find((v) => v.current === true) ?? listed[0]
  const explained = record.unackedSha256.size + record.unackedDeletes > 0
  if (latest !== undefined && current?.id !== latest.id && !(current !== undefined && current.id > latest.id && explained) && !lost.some((l) => l.version === latest.id)) {
    lost.push({ key: record.key, version: latest.id, reason: `the latest acknowledged write is not current (current: ${current?.id ?? 'none'})` })
  }
  return lost
}

/**
 * Read back every acknowledged version of every key; see the module header.
 *
 * @example
 * const { checked, lost } = await readBack(cluster, ledger, 'chaos')
 */
export async function readBack (cluster: LocalCluster, ledger: Ledger, bucket: string, signal?: AbortSignal): Promise<ReadbackOutcome> {
  const records = ledger.all()
  const lost: LostVersion[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < records.length && signal?.aborted !== true) {
      const turn = next++
      lost.push(...await checkKey(cluster, bucket, records[turn] as KeyRecord, turn))
    }
  }
  await Promise.all(Array.from({ length: READBACK_CONCURRENCY }, worker))
  return { checked: records.reduce((sum, r) => sum + r.acked.length, 0), lost }
}
