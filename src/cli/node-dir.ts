/**
 * Which node a CLI command talks to: `--node DIR`, else the CAIRN_NODE
 * environment variable.
 */
import type { ParsedArgs } from './args.ts'
import { CairnError } from '../util/errors.ts'

/** The node directory a command should use. */
export function nodeDir (args: ParsedArgs): string {
  const dir = args.values.get('node') ?? process.env.CAIRN_NODE
  if (dir === undefined || dir === '') throw new CairnError('BAD_INPUT', 'no node given', 'pass --node DIR (a node data directory) or set CAIRN_NODE=DIR')
  return dir
}
