/**
 * The chaos harness's ledger: what the cluster acknowledged, per key. Every
 * acknowledged put (its version id and the sha256 of the bytes sent) and
 * every acknowledged delete (its delete marker's version id) is recorded;
 * so is every write whose outcome is unknown (the call failed, but the
 * version may still have been committed), because such a version may later
 * show up as a key's current one without being a loss.
 *
 * Each key has one writer (a workload client), so the order of a key's
 * acknowledgements is the order its writes were issued in.
 */

/** One acknowledged version. */
export interface AckedVersion {
  key: string
  id: string
  /** sha256 of the bytes sent ('' for a delete marker). */
  sha256: string
  size: number
  deleteMarker: boolean
  /** When the acknowledgement arrived, from the start of the run. */
  ackedMs: number
}

/** Everything written to one key. */
export interface KeyRecord {
  key: string
  /** Acknowledged versions, oldest first. */
  acked: AckedVersion[]
  /** sha256 of puts that failed (they may still have been committed). */
  unackedSha256: Set<string>
  /** Deletes that failed (their marker may still have been committed). */
  unackedDeletes: number
}

/** How much the ledger holds. */
export interface LedgerCounts {
  keys: number
  dataVersions: number
  deleteMarkers: number
  unackedWrites: number
  /** Bytes of every acknowledged data version. */
  ackedBytes: number
}

/**
 * The ledger of one run.
 *
 * @example
 * ledger.ack({ key: 'c0/k1', id, sha256, size, deleteMarker: false, ackedMs: 1200 })
 */
export class Ledger {
  private readonly records = new Map<string, KeyRecord>()

  private record (key: string): KeyRecord {
    let r = this.records.get(key)
    if (r === undefined) {
      r = { key, acked: [], unackedSha256: new Set(), unackedDeletes: 0 }
      this.records.set(key, r)
    }
    return r
  }

  /** Record an acknowledged write. */
  ack (version: AckedVersion): void {
    this.record(version.key).acked.push(version)
  }

  /** Record a put that failed (`sha256`) or a delete that failed (undefined). */
  unacked (key: string, sha256: string | undefined): void {
    const r = this.record(key)
    if (sha256 === undefined) r.unackedDeletes++
    else r.unackedSha256.add(sha256)
  }

  /** The key's record, if anything was written to it. */
  get (key: string): KeyRecord | undefined {
    return this.records.get(key)
  }

  /** The key's latest acknowledged version. */
  latest (key: string): AckedVersion | undefined {
    const acked = this.records.get(key)?.acked
    return acked?.[acked.length - 1]
  }

  /** Every key's record, in key order. */
  all (): KeyRecord[] {
    return [...this.records.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  /** Every acknowledged version. */
  versions (): AckedVersion[] {
    return this.all().flatMap((r) => r.acked)
  }

  counts (): LedgerCounts {
    const versions = this.versions()
    const data = versions.filter((v) => !v.deleteMarker)
    return {
      keys: this.records.size,
      dataVersions: data.length,
      deleteMarkers: versions.length - data.length,
      unackedWrites: this.all().reduce((sum, r) => sum + r.unackedSha256.size + r.unackedDeletes, 0),
      ackedBytes: data.reduce((sum, v) => sum + v.size, 0)
    }
  }
}

/** How a read compares with the ledger. */
export type ReadVerdict =
  | { kind: 'ok' }
  /** A version older than the latest acknowledged one, or one whose put failed: a replica lagging, not a loss. */
  | { kind: 'stale' }
  /** Bytes that are not what was written: always a loss. */
  | { kind: 'wrong', version: string, detail: string }

/** What a get returned. */
export interface ReadFacts {
  version: string
  claimedSha256: string
  sha256: string
  size: number
}

/**
 * Judge one successful read of `record` (pure). `askedVersion` is the
 * version id requested, when a specific one was.
 *
 * @example
 * judgeRead(ledger.get(key), answer) // { kind: 'ok' }
 */
export function judgeRead (record: KeyRecord | undefined, read: ReadFacts, askedVersion?: string): ReadVerdict {
  const wrong = (detail: string): ReadVerdict => ({ kind: 'wrong', version: read.version, detail })
  if (read.sha256 !== read.claimedSha256) return wrong(`the bytes hash to ${read.sha256.slice(0, 12)}, the node claims ${read.claimedSha256.slice(0, 12)}`)
  if (askedVersion !== undefined && read.version !== askedVersion) return wrong(`asked for version ${askedVersion}, got ${read.version}`)
  const acked = record?.acked.find((v) => v.id === read.version)
  if (acked === undefined) {
    return record?.unackedSha256.has(read.sha256) === true ? { kind: 'stale' } : wrong(`version ${read.version} holds bytes the harness never wrote to this key`)
  }
  if (acked.deleteMarker) return wrong(`version ${read.version} was acknowledged as a delete marker but served ${read.size} bytes`)
  if (acked.sha256 !== read.sha256 || acked.size !== read.size) return wrong(`version ${read.version} served ${read.size} bytes hashing to ${read.sha256.slice(0, 12)}, ${acked.size} bytes hashing to ${acked.sha256.slice(0, 12)} were written`)
  const latest = record?.acked[record.acked.length - 1]
  return askedVersion !== undefined || latest?.id === acked.id ? { kind: 'ok' } : { kind: 'stale' }
}
