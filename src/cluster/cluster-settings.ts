/**
 * The live cluster settings of one node: the replicated `setting` records
 * resolved through the registry (settings.ts), cached until a setting record
 * changes. Getters return numbers (milliseconds for durations), so consumers
 * take plain functions such as `() => settings.maxClockSkewMs()`.
 */
import type { MetaRecord, SettingBody } from '../meta/types.ts'
import { SETTINGS, formatSetting, isSettingKey, parseSetting, resolveSettings, settingJson } from './settings.ts'
import type { SettingKey } from './settings.ts'

/** What the settings need from the node. */
export interface ClusterSettingsInit {
  /** Live `setting` records of the replica. */
  records: () => MetaRecord[]
  /** Commit records cluster-wide (the replicator's commit). */
  commit: (records: MetaRecord[], signal?: AbortSignal) => Promise<void>
  /** A new HLC timestamp. */
  now: () => string
  selfId: string
}

/**
 * Cluster settings backed by the metadata replica.
 *
 * @example
 * const settings = new ClusterSettings(init); settings.writeQuorum() // 1
 */
export class ClusterSettings {
  private readonly init: ClusterSettingsInit
  private cache: Record<SettingKey, number> | undefined

  constructor (init: ClusterSettingsInit) {
    this.init = init
  }

  /** Forget cached values (called when `setting` records change). */
  invalidate (): void {
    this.cache = undefined
  }

  /** Every setting's typed value. */
  values (): Record<SettingKey, number> {
    if (this.cache === undefined) {
      const stored = new Map<string, string>()
      for (const r of this.init.records()) stored.set(r.pk, (r.body as SettingBody).value)
      this.cache = resolveSettings(stored)
    }
    return this.cache
  }

  /** One typed value. */
  get (key: SettingKey): number {
    return this.values()[key]
  }

  writeQuorum (): number { return this.get('writeQuorum') }
  maxClockSkewMs (): number { return this.get('maxClockSkew') }
  orphanGraceMs (): number { return this.get('orphanGrace') }

  /** Every setting in JSON form (durations as "5m", integers as numbers). */
  toJson (): Record<string, string | number> {
    const values = this.values()
    const out: Record<string, string | number> = {}
    for (const key of Object.keys(SETTINGS) as SettingKey[]) out[key] = settingJson(key, values[key])
    return out
  }

  /** Validate and set `key` cluster-wide; throws BAD_INPUT for an unknown key or bad value. */
  async set (key: string, text: string, signal?: AbortSignal): Promise<void> {
    const value = parseSetting(key, text)
    if (!isSettingKey(key)) return
    const record: MetaRecord = { v: 1, table: 'setting', pk: key, hlc: this.init.now(), origin: this.init.selfId, tombstone: false, body: { value: formatSetting(key, value) } }
    await this.init.commit([record], signal)
    this.invalidate()
  }
}
