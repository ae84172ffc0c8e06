/**
 * `cairn config set KEY VALUE --node DIR` and `cairn config get [KEY] --node
 * DIR [--json]`: cluster-wide settings, replicated to every member. Keys,
 * types and defaults come from the registry in cluster/settings.ts.
 */
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { formatTable } from '../format.ts'
import { nodeDir } from '../node-dir.ts'
import { SETTINGS, formatSetting, isSettingKey, parseSetting } from '../../cluster/settings.ts'
import type { SettingKey } from '../../cluster/settings.ts'
import { CairnError } from '../../util/errors.ts'

function help (): string {
  const keys = (Object.keys(SETTINGS) as SettingKey[]).map((k) => `  ${k.padEnd(16)} ${SETTINGS[k].type.padEnd(9)} ${defaultText(k).padEnd(10)} ${SETTINGS[k].doc}`)
  return [
    'usage: cairn config set KEY VALUE --node DIR      set a cluster-wide setting',
    '       cairn config get [KEY] --node DIR [--json]   print the settings',
    '',
    'settings (durations: 500ms, 30s, 5m, 1h, 2d; rates: 512KiB/s, 20MB/s; fractions: 0.9999):',
    `  ${'KEY'.padEnd(16)} ${'TYPE'.padEnd(9)} ${'DEFAULT'.padEnd(10)} MEANING`,
    ...keys
  ].join('\n')
}

/** Run `cairn config …`. */
export async function config (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json', 'help'] })
  const [action, key, value, ...extra] = args.positionals
  if (args.booleans.has('help') || action === 'help') {
    console.log(help())
    return 0
  }
  if (action === 'set') {
    if (key === undefined || value === undefined || extra.length > 0) throw new CairnError('BAD_INPUT', 'config set needs KEY VALUE', `valid settings: ${Object.keys(SETTINGS).join(', ')}`)
    parseSetting(key, value)
    const all = await connect(nodeDir(args)).sendJson<Record<string, string | number>>('PUT', '/config', {}, { key, value })
    console.log(`${key} = ${String(all[key])} (cluster-wide)`)
    return 0
  }
  if (action === 'get') {
    if (key !== undefined && !isSettingKey(key)) throw new CairnError('BAD_INPUT', `unknown setting ${JSON.stringify(key)}`, `valid settings: ${Object.keys(SETTINGS).join(', ')}`)
    const all = await connect(nodeDir(args)).json<Record<string, string | number>>('GET', '/config')
    const shown = key === undefined ? all : { [key]: all[key] as string | number }
    if (args.booleans.has('json')) console.log(JSON.stringify(shown))
    else console.log(formatTable(['KEY', 'VALUE', 'DEFAULT'], Object.entries(shown).map(([k, v]) => [k, String(v), isSettingKey(k) ? defaultText(k) : ''])))
    return 0
  }
  throw new CairnError('BAD_INPUT', `unknown config action ${JSON.stringify(action ?? '')}`, 'use `cairn config set KEY VALUE` or `cairn config get`; see `cairn config --help`')
}

function defaultText (key: SettingKey): string {
  const spec: { defaultValue: number, zeroMeans?: string } = SETTINGS[key]
  return spec.defaultValue === 0 && spec.zeroMeans !== undefined ? spec.zeroMeans : formatSetting(key, spec.defaultValue)
}
