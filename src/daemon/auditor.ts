/**
 * The auditor of one node: it challenges the holders of the shards of the
 * versions it coordinates with fresh nonces, counts what they answer in
 * replicated `audit` records (meta/audit-records.ts), and serves the
 * challenges other auditors send this node.
 *
 * Who audits whom: for each version, the first node of the rendezvous order
 * of `repair/<versionId>` over the online nodes not failing audits (the
 * repair coordinator; a failing node coordinates nothing)
 * audits every other holder, and the second node audits the coordinator
 * (heal/audit.ts `auditorOf`), so no holder audits itself. A round samples
 * up to AUDIT_STRIPES_PER_ROUND such stripes at random (one random stripe of
 * each sampled version), so every holder is challenged over time.
 *
 * A challenged shard counts only when the version's current placement names
 * the holder, the holder is online and not dead, and it has not reported the
 * shard lost itself (scrub, or in its answer — then the loss must also be in
 * the report the healers read, else it is a failure); the placement is read
 * again before a failure is counted. A timeout or an unreachable holder is
 * not an audit (presence handles absence). A holder that refuses the
 * challenge while online is asked for the shard itself instead (a get proves
 * possession by the hash).
 *
 * A failure lists the shard in the auditor's record; every node's healer
 * counts listed shards as lost on that holder, so the version's coordinator
 * rebuilds them elsewhere and the location record stops naming the holder;
 * the auditor then drops the entry. A node that has failed audits it has not
 * been routed around yet, or whose passed share is below auditMinScore after
 * auditMinAudits audits, receives no new shards (put and repair placement).
 *
 * Wire: /cairn/shard/audit/1.0.0 header {v:1, nonce: base64 of 32 bytes,
 * hashes: string[] (1..MAX_AUDIT_HASHES hex SHA-256)} → header {v:1,
 * digests: Array<string | null> (hex sha256(nonce ‖ shard bytes), null =
 * the holder does not have the shard), lost: string[] (the challenged
 * hashes the holder reports lost itself: missing or corrupt and still
 * expected here)}. The holder reads the bytes from its disk for every
 * challenge, verified against their hash.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { rankNodes } from '../cluster/placement.ts'
import type { PlacementNode } from '../cluster/placement.ts'
import { AUDIT_NONCE_BYTES, Reservoir, auditDigest, auditStanding, auditVerdict, expectedShards } from '../heal/audit.ts'
import type { AuditStanding, AuditVerdict, ShardSource } from '../heal/audit.ts'
import { MAX_FAILED_LISTED, auditPk, failedShards, parseAuditPk, tallyAudits } from '../meta/audit-records.ts'
import type { AuditBody, AuditTally } from '../meta/audit-records.ts'
import { holderLookup } from '../meta/locations.ts'
import type { MetaRecord, ShardRef, StripeManifest, VersionBody } from '../meta/types.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import type { ErasureCodecName } from '../erasure/index.ts'
import { CairnError, errorMessage } from '../util/errors.ts'
import { RateLimiter } from '../util/rate-limiter.ts'
import { sha256Hex } from '../crypto/index.ts'
import type { ClusterView } from '../engine/types.ts'
import type { Daemon } from './daemon.ts'
import { forgedBytes } from './faults.ts'

/** Most shard hashes one challenge carries (a holder reads each from disk before answering). */
export const MAX_AUDIT_HASHES = 256
/** Stripes one round audits: at 4+2 and 1 MiB shards, about 64 MiB read per round and coordinator. */
export const AUDIT_STRIPES_PER_ROUND = 16
/** Time a holder has to answer one challenge. */
export const AUDIT_CALL_TIMEOUT_MS = 20_000
/** Test and demo override of the auditInterval setting (milliseconds). */
export const AUDIT_INTERVAL_ENV = 'CAIRN_AUDIT_INTERVAL_MS'
/** How long the sums over the audit records are reused (placement asks for every candidate). */
const TALLY_CACHE_MS = 1000
/** Versions looked at between two yields to the event loop. */
const YIELD_EVERY = 500

/** What the auditor did, for `cairn workers` and status. */
export interface AuditorStats {
  rounds: number
  /** Stripes audited, shard challenges answered, passed and failed, by this node. */
  stripes: number
  challenges: number
  passes: number
  failures: number
  /** Challenges that did not count: holder offline or timed out, shard moved or reported lost meanwhile. */
  skipped: number
  /** Shard bytes read to know the expected answers. */
  readBytes: number
  lastRoundMs: number
  lastRoundTookMs: number
  lastError: string
}

/** One node's audit standing as status shows it. */
export interface NodeAudit {
  audits: number
  auditFailures: number
  /** Passed share, null before the first audit. */
  auditScore: number | null
  audit: AuditStanding
}

interface Challenge { index: number, hash: string }

/** Parse a challenge header; throws PROTOCOL when malformed. */
export function parseChallenge (header: Record<string, unknown>): { nonce: Buffer, hashes: string[] } {
  const nonce = typeof header.nonce === 'string' ? Buffer.from(header.nonce, 'base64') : undefined
  const hashes = header.hashes
  if (header.v !== 1 || nonce?.length !== AUDIT_NONCE_BYTES || !Array.isArray(hashes) || hashes.length === 0 || hashes.length > MAX_AUDIT_HASHES ||
    !hashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
    throw new CairnError('PROTOCOL', `an audit needs {v:1, nonce: ${AUDIT_NONCE_BYTES} bytes base64, hashes: 1..${MAX_AUDIT_HASHES} hex SHA-256}`, 'upgrade the peer')
  }
  return { nonce, hashes: hashes as string[] }
}

function parseAnswer (header: Record<string, unknown>, count: number): { digests: Array<string | null>, lost: Set<string> } {
  const digests = header.digests
  const lost = Array.isArray(header.lost) ? header.lost.filter((h): h is string => typeof h === 'string') : []
  if (!Array.isArray(digests) || digests.length !== count || !digests.every((d) => d === null || typeof d === 'string')) {
    throw new CairnError('PROTOCOL', 'malformed audit answer', 'upgrade the peer')
  }
  return { digests: digests as Array<string | null>, lost: new Set(lost) }
}

const isCode = (err: unknown, ...codes: string[]): boolean => err instanceof CairnError && codes.includes(err.code)

/** The auditor of a node. */
export class Auditor {
  readonly stats: AuditorStats = { rounds: 0, stripes: 0, challenges: 0, passes: 0, failures: 0, skipped: 0, readBytes: 0, lastRoundMs: 0, lastRoundTookMs: 0, lastError: '' }
  private readonly d: Daemon
  private readonly limiter: RateLimiter
  /** This node's own counts per subject (its `audit` records). */
  private readonly mine = new Map<string, AuditBody>()
  private cache: { atMs: number, tally: Map<string, AuditTally>, failed: Map<string, Set<string>> } | undefined
  private running: Promise<void> | undefined

  constructor (d: Daemon) {
    this.d = d
    this.limiter = new RateLimiter(() => d.settings.repairRate())
    const self = d.net.peerId
    for (const r of d.meta.live('audit')) {
      if (r.origin === self && parseAuditPk(r.pk)?.auditor === self) this.mine.set(parseAuditPk(r.pk)?.subject as string, structuredClone(r.body as AuditBody))
    }
  }

  /** Serve challenges from other auditors. */
  async register (): Promise<void> {
    const { d } = this
    await d.net.handle(PROTOCOLS.shardAudit, async (req) => {
      const { nonce, hashes } = parseChallenge(req.header)
      const digests: Array<string | null> = []
      const absent: string[] = []
      for (const hash of hashes) {
        req.signal.throwIfAborted()
        const bytes = d.faults.discardsShards() ? null : await d.store.get(hash, { signal: req.signal })
        if (bytes === null) { digests.push(null); absent.push(hash); continue }
        digests.push(auditDigest(nonce, d.faults.forgesShards() ? forgedBytes(bytes) : bytes))
      }
      // An honest holder reports what it lost (the healer rebuilds it; the auditor does not count it).
      let lost: string[] = []
      if (absent.length > 0 && !d.faults.hidesLosses()) {
        for (const hash of absent) d.scrubber.noteMissing(hash)
        const reported = new Set(await d.scrubber.refresh())
        lost = absent.filter((h) => reported.has(h))
      }
      return { header: { v: 1, digests, lost } }
    })
  }

  /** Sums over every auditor's records, per subject (cached briefly). */
  private sums (): NonNullable<Auditor['cache']> {
    const now = Date.now()
    if (this.cache === undefined || now - this.cache.atMs > TALLY_CACHE_MS) {
      const records = this.d.meta.live('audit')
      this.cache = { atMs: now, tally: tallyAudits(records), failed: failedShards(records) }
    }
    return this.cache
  }

  /** Shards each node failed an audit on and is still named for (the healer counts them lost). */
  failedShards (): Map<string, Set<string>> {
    return this.sums().failed
  }

  /** A node's audit counts and standing, summed over every auditor. */
  nodeAudit (id: string): NodeAudit {
    const t = this.sums().tally.get(id) ?? { audits: 0, failures: 0 }
    return { audits: t.audits, auditFailures: t.failures, auditScore: t.audits === 0 ? null : (t.audits - t.failures) / t.audits, audit: auditStanding(t, this.d.settings.auditMinScore(), this.d.settings.auditMinAudits()) }
  }

  /** True when `id` must receive no new shards: failing, or holding failed shards not yet rebuilt elsewhere. */
  excluded (id: string): boolean {
    const s = this.sums()
    if ((s.failed.get(id)?.size ?? 0) > 0) return true
    return auditStanding(s.tally.get(id), this.d.settings.auditMinScore(), this.d.settings.auditMinAudits()) === 'failing'
  }

  /**
   * Online nodes that may coordinate repairs and audits: those not failing
   * audits (a liar must not decide what gets rebuilt, nor audit others), or
   * every online node when all of them fail.
   */
  coordinationNodes (): PlacementNode[] {
    const online = this.d.membership.onlineNodes()
    const s = this.sums()
    const ok = online.filter((n) => auditStanding(s.tally.get(n.id), this.d.settings.auditMinScore(), this.d.settings.auditMinAudits()) !== 'failing')
    return ok.length > 0 ? ok : online
  }

  /** One round; concurrent calls share it. */
  async roundNow (signal?: AbortSignal): Promise<AuditorStats> {
    this.running ??= this.round(signal).finally(() => { this.running = undefined })
    await this.running
    return this.stats
  }

  private async round (signal?: AbortSignal): Promise<void> {
    const started = Date.now()
    const changed = new Set<string>()
    try {
      for (const item of this.sample()) {
        signal?.throwIfAborted()
        if (this.d.meta.versionState(item.id) !== 'live') continue
        const picked = await this.pickStripe(item.id, item.body, signal)
        if (picked === undefined) continue
        await this.auditStripe(item.id, item.body, picked.stripe, picked.codec, item.only, changed, signal).catch((err: unknown) => {
          signal?.throwIfAborted()
          this.d.log(`audit of a stripe of ${item.body.bucket}/${item.body.key} (${item.id}) not done: ${errorMessage(err)}`)
        })
      }
      this.prune(changed)
      this.stats.lastError = ''
    } catch (err) {
      if (signal?.aborted === true) return
      this.stats.lastError = errorMessage(err)
      this.d.log(`audit round failed: ${this.stats.lastError}`)
    } finally {
      await this.publish(changed)
      this.stats.rounds++
      this.stats.lastRoundMs = Date.now()
      this.stats.lastRoundTookMs = Date.now() - started
    }
  }

  /** Up to AUDIT_STRIPES_PER_ROUND versions this node audits, uniformly at random; `only` = audit just that holder (the coordinator). */
  private * sample (): Generator<{ id: string, body: VersionBody, only: string | undefined }> {
    const self = this.d.net.peerId
    const online = this.coordinationNodes()
    const reservoir = new Reservoir<{ id: string, body: VersionBody, only: string | undefined }>(AUDIT_STRIPES_PER_ROUND, Math.random)
    for (const record of this.d.meta.codedVersionsPaged()) {
      const body = record.body as VersionBody
      if (body.deleteMarker || body.manifest === undefined || body.manifest.inline !== undefined) continue
      const order = rankNodes(`repair/${record.pk}`, online).slice(0, 2).map((n) => n.id)
      if (order[0] === self) reservoir.offer({ id: record.pk, body, only: undefined })
      else if (order[1] === self) reservoir.offer({ id: record.pk, body, only: order[0] })
    }
    yield * reservoir.items()
  }

  /** One stripe of the version at random (a long stripe list is read through once). */
  private async pickStripe (id: string, body: VersionBody, signal?: AbortSignal): Promise<{ stripe: StripeManifest, codec: ErasureCodecName | undefined } | undefined> {
    const manifest = body.manifest
    if (manifest === undefined) return undefined
    if (manifest.form !== 'segments' && manifest.form !== 'parts') {
      if (manifest.stripes.length === 0) return undefined
      return { stripe: manifest.stripes[randomInt(manifest.stripes.length)] as StripeManifest, codec: manifest.codec }
    }
    const one = new Reservoir<{ stripe: StripeManifest, codec: ErasureCodecName | undefined }>(1, Math.random)
    let seen = 0
    for await (const s of this.d.engine.stripesOf(id, signal)) {
      one.offer({ stripe: s.stripe, codec: s.codec })
      if (++seen % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    return one.items()[0]
  }

  private usable (node: string, hash: string): boolean {
    const d = this.d
    return d.membership.isOnline(node) && d.membership.memberIds().has(node) && d.presence.state(node) !== 'dead' && !d.healer.isLost(node, hash)
  }

  /** Challenge the holders of one stripe that this node audits, and count their answers. */
  private async auditStripe (id: string, body: VersionBody, stripe: StripeManifest, codec: ErasureCodecName | undefined, only: string | undefined, changed: Set<string>, signal?: AbortSignal): Promise<void> {
    const d = this.d
    const self = d.net.peerId
    const lookup = holderLookup(d.engine.location(id))
    const challenges = new Map<string, Challenge[]>()
    const sources: ShardSource[] = []
    stripe.shards.forEach((ref, index) => {
      for (const node of lookup(ref)) {
        if (!this.usable(node, ref.hash)) continue
        sources.push({ index, node })
        if (node === self || (only !== undefined && node !== only)) continue
        const list = challenges.get(node) ?? []
        if (!list.some((c) => c.hash === ref.hash)) list.push({ index, hash: ref.hash })
        challenges.set(node, list.slice(0, MAX_AUDIT_HASHES))
      }
    })
    if (challenges.size === 0) return
    // Local shards first, then data shards before parity (no decoding when they all answer).
    sources.sort((a, b) => (a.node === self ? 0 : 1) - (b.node === self ? 0 : 1) || a.index - b.index)
    const k = body.manifest?.k ?? d.files.cluster.k
    const expected = await expectedShards(stripe, sources, {
      k,
      m: stripe.shards.length - k,
      ...(codec === undefined ? {} : { codec }),
      fetch: async (node, hash, sig) => {
        await this.limiter.take(stripe.shardSizeBytes, sig)
        return await d.engine.shardIO.get(node, hash, sig)
      },
      ...(signal === undefined ? {} : { signal })
    })
    this.stats.readBytes += expected.readBytes
    this.stats.stripes++
    await Promise.all([...challenges].map(async ([holder, list]) => {
      const nonce = randomBytes(AUDIT_NONCE_BYTES)
      const verdicts = await this.challenge(holder, nonce, list, expected.shards, signal)
      for (const [i, c] of list.entries()) {
        const verdict = verdicts[i]
        if (verdict === undefined || !this.stillPlaced(id, stripe.shards[c.index] as ShardRef, holder)) { this.stats.skipped++; continue }
        this.count(holder, id, c.hash, verdict)
        changed.add(holder)
      }
    }))
  }

  /**
   * Verdicts for one holder's challenged shards, in order: undefined where the
   * challenge does not count (no answer, or a loss the holder reports itself).
   */
  private async challenge (holder: string, nonce: Buffer, list: Challenge[], shards: Buffer[], signal?: AbortSignal): Promise<Array<AuditVerdict | undefined>> {
    const d = this.d
    const hashes = list.map((c) => c.hash)
    try {
      const res = await d.net.call(holder, PROTOCOLS.shardAudit, { v: 1, nonce: nonce.toString('base64'), hashes }, undefined, { timeoutMs: AUDIT_CALL_TIMEOUT_MS, ...(signal === undefined ? {} : { signal }) })
      const answer = parseAnswer(res.header, hashes.length)
      // A shard the holder says it lost must also be in the loss report the healers read (/cairn/heal/lost):
      // then it is rebuilt and is no failure; a holder that claims a loss but hides it from the healers fails.
      const reported = answer.lost.size === 0 ? new Set<string>() : await this.lossReport(holder, signal)
      return list.map((c, i) => {
        if (!answer.lost.has(c.hash)) return auditVerdict(auditDigest(nonce, shards[c.index] as Buffer), answer.digests[i] ?? null)
        if (reported === undefined) return undefined
        return reported.has(c.hash) ? undefined : 'missing'
      })
    } catch (err) {
      signal?.throwIfAborted()
      // Absence is presence's business, not an audit failure.
      if (isCode(err, 'TIMEOUT', 'NODE_UNREACHABLE') || !d.membership.isOnline(holder)) return list.map(() => undefined)
      d.log(`audit: ${d.membership.nodeName(holder) || holder} refused a challenge (${errorMessage(err)}); asking for the shards instead`)
    }
    // It refused while online: a get of each shard proves possession by its hash.
    return await Promise.all(list.map(async (c) => {
      try {
        const bytes = await d.engine.shardIO.get(holder, c.hash, signal)
        return sha256Hex(bytes) === c.hash ? 'pass' : 'wrong'
      } catch (err) {
        signal?.throwIfAborted()
        return isCode(err, 'NOT_FOUND', 'CORRUPT_SHARD') ? 'missing' : undefined
      }
    }))
  }

  /** The version is live and its current placement (read again now) still names the holder. */
  private stillPlaced (id: string, ref: ShardRef, holder: string): boolean {
    return this.d.meta.versionState(id) === 'live' && holderLookup(this.d.engine.location(id))(ref).includes(holder)
  }

  private count (subject: string, versionId: string, hash: string, verdict: AuditVerdict): void {
    const body = this.mine.get(subject) ?? { audits: 0, failures: 0, failed: {}, updatedMs: 0 }
    this.mine.set(subject, body)
    body.audits++
    this.stats.challenges++
    if (verdict === 'pass') {
      this.stats.passes++
    } else {
      body.failures++
      this.stats.failures++
      this.list(subject, hash, versionId)
      this.d.log(`audit: ${this.d.membership.nodeName(subject) || subject} failed the challenge for shard ${hash.slice(0, 12)} of ${versionId} (${verdict}); it will be rebuilt elsewhere`)
    }
    body.updatedMs = Date.now()
    this.mine.set(subject, body)
  }

  /** The hashes `holder` reports lost to the healers, or undefined when it does not answer. */
  private async lossReport (holder: string, signal?: AbortSignal): Promise<Set<string> | undefined> {
    try {
      const res = await this.d.net.call(holder, PROTOCOLS.healLost, { v: 1 }, undefined, { timeoutMs: AUDIT_CALL_TIMEOUT_MS, ...(signal === undefined ? {} : { signal }) })
      // A truncated report cannot show that a shard is missing from it.
      if (res.header.truncated === true) return undefined
      const list: unknown = JSON.parse(Buffer.from(res.body).toString('utf8'))
      return new Set(Array.isArray(list) ? list.filter((h): h is string => typeof h === 'string') : [])
    } catch {
      signal?.throwIfAborted()
      return undefined
    }
  }

  /** List `hash` of `versionId` as failed by `subject` (bounded: the oldest entries go first; a later audit finds them again). */
  private list (subject: string, hash: string, versionId: string): void {
    const body = this.mine.get(subject) ?? { audits: 0, failures: 0, failed: {}, updatedMs: 0 }
    const entries = body.failed
    entries[hash] = versionId
    const hashes = Object.keys(entries)
    for (const h of hashes.slice(0, Math.max(0, hashes.length - MAX_FAILED_LISTED))) Reflect.deleteProperty(entries, h)
    body.updatedMs = Date.now()
    this.mine.set(subject, body)
  }

  /** Drop listed shards that no live version places on their subject any more (rebuilt elsewhere, or the version is gone). */
  private prune (changed: Set<string>): void {
    for (const [subject, body] of this.mine) {
      for (const [hash, versionId] of Object.entries(body.failed)) {
        if (this.d.meta.versionState(versionId) === 'live' && this.d.engine.listsHolder(versionId, hash, subject) !== false) continue
        Reflect.deleteProperty(body.failed, hash)
        changed.add(subject)
      }
    }
  }

  /** Publish this node's changed records (no quorum: counts are not data, anti-entropy spreads them). */
  private async publish (changed: Set<string>): Promise<void> {
    if (changed.size === 0) return
    const self = this.d.net.peerId
    const records: MetaRecord[] = [...changed].map((subject) => ({
      v: 1, table: 'audit', pk: auditPk(self, subject), hlc: this.d.clock.now(), origin: self, tombstone: false, body: structuredClone(this.mine.get(subject) as AuditBody)
    }))
    await this.d.replicator.publish(records).catch((err: unknown) => { this.d.log(`audit counts not saved: ${errorMessage(err)}`) })
    this.cache = undefined
  }
}

/**
 * The engine's view of the cluster for placement: `view` without the nodes
 * audits exclude, so a put places no shard on them (and does not count them
 * for happiness). Everything else is `view`'s.
 *
 * @example
 * new Engine({ cluster: withoutExcluded(membership, (id) => auditor.excluded(id)), … })
 */
export function withoutExcluded (view: ClusterView, excluded: (nodeId: string) => boolean): ClusterView {
  const happiness = view.happiness
  const inlineMaxBytes = view.inlineMaxBytes
  return {
    selfId: view.selfId,
    selfName: view.selfName,
    k: view.k,
    m: view.m,
    onlineNodes: () => view.onlineNodes().filter((n) => !excluded(n.id)),
    nodeName: (id) => view.nodeName(id),
    isOnline: (id) => view.isOnline(id),
    ...(happiness === undefined ? {} : { happiness: () => happiness.call(view) }),
    ...(inlineMaxBytes === undefined ? {} : { inlineMaxBytes: () => inlineMaxBytes.call(view) })
  }
}
