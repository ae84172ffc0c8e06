/**
 * The registry of cluster-wide settings (pure): every key with its type,
 * default, validation and a line of documentation. Values are replicated as
 * `setting` metadata records (pk = key, body {value} in the text form a user
 * types, e.g. "5m"); `cairn config set/get` and GET/PUT /api/v1/config read
 * and write them. Adding a key is one entry in SETTINGS.
 */
import { CairnError } from '../util/errors.ts'
import { formatDuration, parseDuration } from '../util/duration.ts'
import { formatRate, parseRate } from '../util/rate.ts'

/**
 * How a setting's value is written and checked: a whole number, a duration
 * ("30s"), a fraction in [0, 1] ("0.9999"), or a rate in bytes per second
 * ("20MB/s").
 */
export type SettingType = 'integer' | 'duration' | 'fraction' | 'rate'

/** One cluster setting. */
export interface SettingSpec {
  type: SettingType
  /** Default, in the typed form (a count, milliseconds for durations, bytes per second for rates). */
  defaultValue: number
  /** What a stored 0 means when 0 stands for "derived" (e.g. "k+1"); shown by `cairn config --help`. */
  zeroMeans?: string
  /** Smallest and largest accepted typed value. */
  min: number
  max: number
  doc: string
}

/** Every cluster setting. */
export const SETTINGS = {
  writeQuorum: {
    type: 'integer',
    defaultValue: 1,
    min: 0,
    max: 254,
    doc: 'other nodes that must hold a commit durably before a write is acknowledged (capped at the number of other members)'
  },
  maxClockSkew: {
    type: 'duration',
    defaultValue: 5 * 60_000,
    min: 1000,
    max: 7 * 86_400_000,
    doc: 'a record stamped further ahead than this of the receiver\'s clock is not applied until it becomes acceptable'
  },
  orphanGrace: {
    // One hour: far longer than any put in progress at office LAN speeds
    // (a 100 GiB object at 50 MB/s takes ~35 minutes), and short enough that
    // the disk of a failed or interrupted put comes back the same morning.
    type: 'duration',
    defaultValue: 3_600_000,
    min: 1000,
    max: 30 * 86_400_000,
    doc: 'a shard no live version references is collected only once it is older than this (longer than the longest put)'
  },
  deadAfter: {
    // 72 hours: a long weekend or a holiday is not a death (src/heal/policy.ts).
    type: 'duration',
    defaultValue: 72 * 3_600_000,
    min: 1000,
    max: 365 * 86_400_000,
    doc: 'an offline node is declared dead (its shards rebuilt elsewhere) this long after it was expected back'
  },
  happiness: {
    type: 'integer',
    defaultValue: 0,
    zeroMeans: 'k+1',
    min: 0,
    max: 255,
    doc: 'distinct online nodes a put needs; with fewer than k+m online it stores what it can and the healer adds the rest (0 means k+1)'
  },
  inlineMaxBytes: {
    // 0: derived from the member count (src/cluster/inline-limit.ts), 16 KiB
    // up to 8 members and shrinking beyond, so that every member's replica
    // of the small objects stays bounded.
    type: 'integer',
    defaultValue: 0,
    zeroMeans: '128 KiB / members, within 512 B..16 KiB',
    min: 0,
    max: 16 * 1024,
    doc: 'largest object stored inline in the metadata every node replicates instead of erasure coded (0: 128 KiB divided by the member count, within 512 B..16 KiB)'
  },
  target: {
    type: 'fraction',
    defaultValue: 0.9999,
    min: 0.5,
    max: 0.999999999999,
    doc: 'readability target per object; the default repair threshold is derived from it and the measured availability'
  },
  repairThreshold: {
    type: 'integer',
    defaultValue: 0,
    zeroMeans: 'derived from target',
    min: 0,
    max: 255,
    doc: 'repair an object when fewer than this many of its shards are on nodes not dead (0: derived from target and availability)'
  },
  repairRate: {
    type: 'rate',
    defaultValue: 20_000_000,
    min: 1024,
    max: 10_000_000_000,
    doc: 'bytes per second a node may rebuild (shards read plus shards written) when it coordinates repairs'
  },
  scrubShare: {
    type: 'fraction',
    defaultValue: 0.1,
    min: 0.001,
    max: 1,
    doc: 'largest share of its disk time a node spends re-hashing its shards'
  },
  multipartExpiry: {
    // A week, as S3 lifecycle rules commonly set: long enough for a paused
    // backup job to resume, short enough that abandoned parts do not pile up.
    type: 'duration',
    defaultValue: 7 * 86_400_000,
    min: 1000,
    max: 365 * 86_400_000,
    doc: 'an S3 multipart upload still open this long after it was created is aborted and its parts\' shards collected'
  },
  scrubInterval: {
    type: 'duration',
    defaultValue: 7 * 86_400_000,
    min: 1000,
    max: 365 * 86_400_000,
    doc: 'time between the starts of two scrubs of a node\'s shards'
  },
  auditInterval: {
    // Ten minutes: each round challenges a few stripes (AUDIT_STRIPES_PER_ROUND)
    // per coordinator, so a pool is sampled steadily at a small fraction of
    // repairRate, and a peer that drops or alters shards is caught within hours.
    type: 'duration',
    defaultValue: 10 * 60_000,
    min: 1000,
    max: 30 * 86_400_000,
    doc: 'time between two audit rounds of a node (each challenges the holders of a few random stripes it coordinates)'
  },
  auditMinScore: {
    type: 'fraction',
    defaultValue: 0.9,
    min: 0,
    max: 1,
    doc: 'a node whose share of passed audits falls below this (after auditMinAudits audits) receives no new shards'
  },
  auditMinAudits: {
    type: 'integer',
    defaultValue: 10,
    min: 1,
    max: 1_000_000,
    doc: 'audits of a node before auditMinScore applies to it'
  },
  gossipFanout: {
    // 3: with the logarithmic term (src/meta/gossip.ts) a cluster of up to 5
    // nodes pushes every write to every peer, as without gossip.
    type: 'integer',
    defaultValue: 3,
    min: 0,
    max: 254,
    doc: 'fewest peers a write is pushed to and a node forwards new records to (gossip); the fanout is max(this, ceil(log2(online peers + 1)) + 1), every peer in a small cluster; 0 pushes every write to every peer'
  }
} as const satisfies Record<string, SettingSpec>

export type SettingKey = keyof typeof SETTINGS

/** True when `key` names a cluster setting. */
export function isSettingKey (key: string): key is SettingKey {
  return Object.hasOwn(SETTINGS, key)
}

function unknownKey (key: string): CairnError {
  return new CairnError('BAD_INPUT', `unknown setting ${JSON.stringify(key)}`, `valid settings: ${Object.keys(SETTINGS).join(', ')}`)
}

/**
 * Parse and validate a value a user typed for `key`; returns the typed value
 * (milliseconds for durations). Throws BAD_INPUT naming the valid keys or form.
 *
 * @example
 * parseSetting('maxClockSkew', '30s') // 30000
 */
export function parseSetting (key: string, text: string): number {
  if (!isSettingKey(key)) throw unknownKey(key)
  const spec: SettingSpec = SETTINGS[key]
  let value: number
  if (spec.type === 'duration') {
    try { value = parseDuration(text) } catch { value = NaN }
  } else if (spec.type === 'rate') {
    try { value = parseRate(text) } catch { value = NaN }
  } else if (spec.type === 'fraction') {
    value = /^(0|1)?\.\d{1,15}$|^[01]$/.test(text.trim()) ? Number(text) : NaN
  } else {
    value = /^\d{1,6}$/.test(text.trim()) ? Number(text) : NaN
  }
  const whole = spec.type !== 'fraction'
  if (!Number.isFinite(value) || (whole && !Number.isSafeInteger(value)) || value < spec.min || value > spec.max) {
    const range = `${formatSetting(key, spec.min)}..${formatSetting(key, spec.max)}`
    const example = { duration: '30s, 5m, 1h or 2d', rate: '20MB/s or 512KiB/s', fraction: '0.9999', integer: String(spec.defaultValue) }[spec.type]
    throw new CairnError('BAD_INPUT', `${key} ${JSON.stringify(text)} is not a valid ${spec.type} in ${range}`, `${key}: ${spec.doc}; write e.g. ${example}`)
  }
  return value
}

/** The text form of a typed value (durations as "5m", rates as "20MB/s"). */
export function formatSetting (key: SettingKey, value: number): string {
  const type: SettingType = SETTINGS[key].type
  return type === 'duration' ? formatDuration(value) : type === 'rate' ? formatRate(value) : String(value)
}

/** The JSON form of a typed value: durations and rates as strings, numbers as numbers. */
export function settingJson (key: SettingKey, value: number): string | number {
  const type: SettingType = SETTINGS[key].type
  return type === 'duration' || type === 'rate' ? formatSetting(key, value) : value
}

/**
 * Every setting's typed value, from the stored text values (`stored`, by key);
 * a missing or unreadable stored value gives the default.
 *
 * @example
 * resolveSettings(new Map([['writeQuorum', '2']])).writeQuorum // 2
 */
export function resolveSettings (stored: ReadonlyMap<string, string>): Record<SettingKey, number> {
  const out = {} as Record<SettingKey, number>
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const text = stored.get(key)
    let value: number = SETTINGS[key].defaultValue
    if (text !== undefined) {
      try { value = parseSetting(key, text) } catch { /* a value from a newer or broken writer: keep the default */ }
    }
    out[key] = value
  }
  return out
}
