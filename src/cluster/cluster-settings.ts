/**
 * The live cluster settings of one node: the replicated `setting` records
 * resolved through the registry (settings.ts), cached until a setting record
 * changes. Getters return numbers (milliseconds for durations), so consumers
 * take plain functions such as `() => settings.maxClockSkewMs()`.
 */
import type { MetaRecord, SettingBody } from '../meta/types.ts'
import { SETTINGS, formatSetting, isSettingKey, parseSetting, resolveSettings, settingJson } from './settings.ts'
import type { SettingKey } from './settings.ts'
import { CairnError } from '../util/errors.ts'
import { inlineLimitBytes } from './inline-limit.ts'

/** What the settings need from the node. */
export interface ClusterSettingsInit {
  /** Live `setting` records of the replica. */
  records: () => MetaRecord[]
  /** Commit records cluster-wide (the replicator's commit). */
  commit: (records: MetaRecord[], signal?: AbortSignal) => Promise<void>
  /** A new HLC timestamp. */
  now: () => string
  selfId: string
  /** The cluster's coding parameters (settings whose default depends on them: happiness). */
  code?: { k: number, m: number }
  /** Members in the roster (the setting whose default depends on it: inlineMaxBytes). */
  memberCount?: () => number
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
  gossipFanout (): number { return this.get('gossipFanout') }
  maxClockSkewMs (): number { return this.get('maxClockSkew') }
  orphanGraceMs (): number { return this.get('orphanGrace') }
  deadAfterMs (): number { return this.get('deadAfter') }
  /** Distinct online nodes a put needs: the setting, or k+1 when unset, kept within [k, k+m]. */
  happiness (): number {
    const { k, m } = this.code()
    const set = this.get('happiness')
    return Math.min(k + m, Math.max(k, set === 0 ? k + 1 : set))
  }

  /** The largest inline object: the setting, or derived from the member count when 0 (inline-limit.ts). */
  inlineMaxBytes (): number {
    return inlineLimitBytes(this.init.memberCount?.() ?? 1, this.get('inlineMaxBytes'))
  }

  target (): number { return this.get('target') }
  /** The repairThreshold setting kept within [k, k+m], or undefined when it is to be derived (0). */
  repairThresholdOverride (): number | undefined {
    const { k, m } = this.code()
    const set = this.get('repairThreshold')
    // At k, one more loss would lose data before any repair: at least k+1 (k when there is no parity).
    return set === 0 ? undefined : Math.min(k + m, Math.max(Math.min(k + 1, k + m), set))
  }

  repairRate (): number { return this.get('repairRate') }
  scrubShare (): number { return this.get('scrubShare') }
  scrubIntervalMs (): number { return this.get('scrubInterval') }
  multipartExpiryMs (): number { return this.get('multipartExpiry') }
  auditIntervalMs (): number { return this.get('auditInterval') }
  auditMinScore (): number { return this.get('auditMinScore') }
  auditMinAudits (): number { return this.get('auditMinAudits') }

  private code (): { k: number, m: number } {
    return this.init.code ?? { k: 1, m: 0 }
  }

  /** Every setting in JSON form (durations as "5m", integers as numbers). */
  toJson (): Record<string, string | number> {
    const values = this.values()
    const out: Record<string, string | number> = {}
    for (const key of Object.keys(SETTINGS) as SettingKey[]) out[key] = settingJson(key, values[key])
    // Settings whose 0 stands for a derived value are shown resolved where the node can resolve them.
    if (this.init.code !== undefined) out.happiness = this.happiness()
    if (this.init.memberCount !== undefined) out.inlineMaxBytes = this.inlineMaxBytes()
    if (values.repairThreshold === 0) out.repairThreshold = 'auto'
    return out
  }

  /** Validate and set `key` cluster-wide; throws BAD_INPUT for an unknown key or bad value. */
  async set (key: string, text: string, signal?: AbortSignal): Promise<void> {
    const value = parseSetting(key, text)
    if (!isSettingKey(key)) return
    const code = this.init.code
    if (code !== undefined && (key === 'happiness' || key === 'repairThreshold') && value !== 0 && (value < code.k || value > code.k + code.m)) {
      throw new CairnError('BAD_INPUT', `${key} ${value} is outside ${code.k}..${code.k + code.m} for ${code.k}+${code.m} coding`, `${key} counts shards of one stripe on distinct nodes: pick a number from k=${code.k} to k+m=${code.k + code.m}, or 0 for the default`)
    }
    const record: MetaRecord = { v: 1, table: 'setting', pk: key, hlc: this.init.now(), origin: this.init.selfId, tombstone: false, body: { value: formatSetting(key, value) } }
    await this.init.commit([record], signal)
    this.invalidate()
  }
}
