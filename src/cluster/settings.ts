/**
 * The registry of cluster-wide settings (pure): every key with its type,
 * default, validation and a line of documentation. Values are replicated as
 * `setting` metadata records (pk = key, body {value} in the text form a user
 * types, e.g. "5m"); `cairn config set/get` and GET/PUT /api/v1/config read
 * and write them. Adding a key is one entry in SETTINGS.
 */
import { CairnError } from '../util/errors.ts'
import { formatDuration, parseDuration } from '../util/duration.ts'

/** How a setting's value is written and checked. */
export type SettingType = 'integer' | 'duration'

/** One cluster setting. */
export interface SettingSpec {
  type: SettingType
  /** Default, in the typed form (a count, or milliseconds for durations). */
  defaultValue: number
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
  } else {
    value = /^\d{1,6}$/.test(text.trim()) ? Number(text) : NaN
  }
  if (!Number.isSafeInteger(value) || value < spec.min || value > spec.max) {
    const range = spec.type === 'duration' ? `${formatDuration(spec.min)}..${formatDuration(spec.max)}` : `${spec.min}..${spec.max}`
    const example = spec.type === 'duration' ? '30s, 5m, 1h or 2d' : String(spec.defaultValue)
    throw new CairnError('BAD_INPUT', `${key} ${JSON.stringify(text)} is not a valid ${spec.type} in ${range}`, `${key}: ${spec.doc}; write e.g. ${example}`)
  }
  return value
}

/** The text form of a typed value (durations as "5m"). */
export function formatSetting (key: SettingKey, value: number): string {
  return SETTINGS[key].type === 'duration' ? formatDuration(value) : String(value)
}

/** The JSON form of a typed value: durations as strings, integers as numbers. */
export function settingJson (key: SettingKey, value: number): string | number {
  return SETTINGS[key].type === 'duration' ? formatDuration(value) : value
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
