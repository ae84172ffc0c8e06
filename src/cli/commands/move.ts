/**
 * `cairn node decommission NAME --node DIR [--wait] [--json]` and `cairn
 * rebalance --node DIR [--wait] [--json]`: start moving shards off a member
 * (it stays up meanwhile) or even out used space across members. Both run in
 * the background on every node (daemon/mover.ts), rate-limited by the
 * `repairRate` setting, and survive restarts. With --wait the command polls
 * the node's status, prints progress lines on stderr, and returns once the
 * move is done (exit 0), or fails when nothing has moved for
 * MOVE_STALL_LIMIT_MS (a non-zero exit; the move goes on in the background).
 */
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import type { ApiClient } from '../client.ts'
import type { ParsedArgs } from '../args.ts'
import { nodeDir } from '../node-dir.ts'
import { formatBytes } from '../format.ts'
import { CairnError } from '../../util/errors.ts'
import type { DecommissionProgress, RebalanceProgress } from '../../daemon/mover.ts'

/** Time between two status polls of --wait. */
export const MOVE_POLL_MS = 2_000
/** --wait gives up when the bytes left have not gone down for this long. */
export const MOVE_STALL_LIMIT_MS = 15 * 60_000
/** Time between two progress lines when nothing changed. */
const PROGRESS_REPEAT_MS = 30_000

interface MoveStatus {
  nodes: Array<{ name: string, id: string, state: string, usedBytes?: number, quotaBytes: number }>
  moves?: { decommission: DecommissionProgress[], rebalance: RebalanceProgress, lastPassMs: number, lastError: string }
}

/** Polls `sample` until it answers done; prints a progress line whenever it changes. */
async function waitFor (sample: () => Promise<{ done: boolean, bytesLeft: number, line: string }>): Promise<void> {
  let best = Number.POSITIVE_INFINITY
  let bestAt = Date.now()
  let last = ''
  let lastAt = 0
  // Bounded: returns, or throws once nothing moved for MOVE_STALL_LIMIT_MS.
  for (;;) {
    const s = await sample()
    if (s.done) return
    if (s.bytesLeft < best) { best = s.bytesLeft; bestAt = Date.now() }
    if (s.line !== last || Date.now() - lastAt >= PROGRESS_REPEAT_MS) { process.stderr.write(`${s.line}\n`); last = s.line; lastAt = Date.now() }
    if (Date.now() - bestAt > MOVE_STALL_LIMIT_MS) {
      throw new CairnError('TIMEOUT', `nothing moved for ${Math.round(MOVE_STALL_LIMIT_MS / 60_000)} minutes (${s.line})`, 'check `cairn workers` (the move worker\'s last error) and that the nodes are online; the move goes on in the background')
    }
    await new Promise((resolve) => setTimeout(resolve, MOVE_POLL_MS))
  }
}

async function moveStatus (client: ApiClient): Promise<MoveStatus> {
  return await client.json<MoveStatus>('GET', '/status')
}

/** Run `cairn node decommission NAME` (argv after `decommission`). */
export async function decommission (name: string | undefined, extra: string[], args: ParsedArgs): Promise<number> {
  if (name === undefined || extra.length > 0) throw new CairnError('BAD_INPUT', 'node decommission needs exactly one NAME', 'usage: cairn node decommission NAME --node DIR [--wait]')
  const client = connect(nodeDir(args))
  const started = Date.now()
  const answer = await client.sendJson<{ name: string, id: string, state: string }>('POST', '/decommission', {}, { node: name })
  if (!args.booleans.has('wait')) {
    if (args.booleans.has('json')) console.log(JSON.stringify(answer))
    else console.log(`${answer.name}: ${answer.state}; its shards move to the other nodes in the background (cairn status shows the progress)`)
    return 0
  }
  await waitFor(async () => {
    const s = await moveStatus(client)
    const node = s.nodes.find((n) => n.id === answer.id)
    const progress = s.moves?.decommission.find((x) => x.id === answer.id)
    const left = progress?.bytesLeft ?? Number.POSITIVE_INFINITY
    const line = progress === undefined ? `decommission ${answer.name}: starting` : `decommission ${answer.name}: ${progress.shardsLeft} shard(s), ${formatBytes(progress.bytesLeft)} left to move${s.moves?.lastError === '' || s.moves === undefined ? '' : ` (last error: ${s.moves.lastError})`}`
    return { done: node?.state === 'decommissioned', bytesLeft: left, line }
  })
  const summary = { name: answer.name, id: answer.id, state: 'decommissioned', tookMs: Date.now() - started }
  if (args.booleans.has('json')) console.log(JSON.stringify(summary))
  else console.log(`${answer.name}: decommissioned in ${Math.round(summary.tookMs / 1000)} s; no object names it any more, and its collector deletes what it still holds`)
  return 0
}

/** Run `cairn rebalance`. */
export async function rebalance (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json', 'wait', 'help'] })
  if (args.booleans.has('help')) {
    console.log('usage: cairn rebalance --node DIR [--wait] [--json]   even out used space over the members (after nodes joined)')
    return 0
  }
  if (args.positionals.length > 0) throw new CairnError('BAD_INPUT', `rebalance takes no arguments (got ${JSON.stringify(args.positionals[0])})`, 'usage: cairn rebalance --node DIR [--wait]')
  const client = connect(nodeDir(args))
  const started = Date.now()
  const job = await client.sendJson<{ state: string, startedMs: number }>('POST', '/rebalance', {}, {})
  if (!args.booleans.has('wait')) {
    if (args.booleans.has('json')) console.log(JSON.stringify(job))
    else console.log('rebalance running in the background (cairn status shows the progress)')
    return 0
  }
  let final: MoveStatus | undefined
  await waitFor(async () => {
    const s = await moveStatus(client)
    const r = s.moves?.rebalance
    final = s
    const done = r?.state === 'done' && r.startedMs >= job.startedMs
    const line = r === undefined || r.state === 'none' ? 'rebalance: starting' : r.state === 'waiting' ? 'rebalance: waiting for a decommission to finish' : `rebalance: ${r.shardsLeft} shard(s), ${formatBytes(r.bytesLeft)} left to move; largest deviation from a node's share ${(r.maxDeviation * 100).toFixed(1)}%`
    return { done, bytesLeft: r?.bytesLeft ?? Number.POSITIVE_INFINITY, line }
  })
  const nodes = (final?.nodes ?? []).filter((n) => n.state !== 'decommissioned').map((n) => ({ name: n.name, usedBytes: n.usedBytes ?? null, quotaBytes: n.quotaBytes }))
  const summary = { state: 'done', tookMs: Date.now() - started, maxDeviation: final?.moves?.rebalance.maxDeviation ?? 0, nodes }
  if (args.booleans.has('json')) console.log(JSON.stringify(summary))
  else console.log(`rebalance done in ${Math.round(summary.tookMs / 1000)} s: ${nodes.map((n) => `${n.name} ${n.usedBytes === null ? '?' : formatBytes(n.usedBytes)}`).join(', ')} (old copies are deleted by each node's collector)`)
  return 0
}
