/**
 * A small, strict command-line parser: `--name value`, `--name=value`,
 * boolean flags, and positionals. Unknown flags are errors, so a typo never
 * silently changes what a command does.
 */
import { CairnError } from '../util/errors.ts'

/** How a command declares its flags. */
export interface FlagSpec {
  /** Flags that take a value. */
  values?: readonly string[]
  /** Flags that are on when present. */
  booleans?: readonly string[]
}

/** The parsed command line. */
export interface ParsedArgs {
  positionals: string[]
  values: Map<string, string>
  booleans: Set<string>
}

/**
 * Parse `argv` against `spec`; throws BAD_INPUT on an unknown flag or a
 * missing value.
 *
 * @example
 * parseArgs(['a.txt', '--node', 'd'], { values: ['node'] }).values.get('node') // 'd'
 */
export function parseArgs (argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const values = new Set(spec.values ?? [])
  const booleans = new Set(spec.booleans ?? [])
  const out: ParsedArgs = { positionals: [], values: new Map(), booleans: new Set() }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') { out.positionals.push(...argv.slice(i + 1)); break }
    if (!arg.startsWith('--') || arg === '-') { out.positionals.push(arg); continue }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    if (values.has(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
      if (value === undefined) throw new CairnError('BAD_INPUT', `flag --${name} needs a value`, `write --${name} VALUE`)
      out.values.set(name, value)
    } else if (booleans.has(name) && eq === -1) {
      out.booleans.add(name)
    } else {
      const known = [...values, ...booleans].map((f) => `--${f}`).join(', ')
      throw new CairnError('BAD_INPUT', `unknown flag --${name}`, known === '' ? 'this command takes no flags' : `known flags: ${known}`)
    }
  }
  return out
}

/** A numeric flag value, validated; `fallback` when absent. */
export function numberFlag (args: ParsedArgs, name: string, fallback: number, check?: { min?: number, max?: number, integer?: boolean }): number {
  const raw = args.values.get(name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  const bad = !Number.isFinite(value) ||
    (check?.integer === true && !Number.isInteger(value)) ||
    (check?.min !== undefined && value < check.min) ||
    (check?.max !== undefined && value > check.max)
  if (bad) {
    const range = `${check?.min ?? '-inf'}..${check?.max ?? 'inf'}`
    throw new CairnError('BAD_INPUT', `--${name} ${raw} is not a valid ${check?.integer === true ? 'integer' : 'number'} in ${range}`, `pass e.g. --${name} ${fallback}`)
  }
  return value
}
