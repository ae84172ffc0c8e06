/**
 * An in-memory mesh of metadata replicas (real SQLite stores, one process):
 * every node sees every other online, a call is a direct `handle` on the
 * receiver, and a peer can be made to fail or hang. Every push message is
 * logged (sender, receiver, header, record pks) so a test can count what
 * each node sent. Faults between processes are covered by the integration
 * tests.
 *
 * @example
 * const mesh = metaMesh(40)
 * await mesh.replicators['n0']?.commit([record])
 * await mesh.quiesce()
 */
import { MetaStore } from '../../src/meta/store.ts'
import { Replicator } from '../../src/meta/replicator.ts'
import type { MetaTransport, ReplicatorOptions } from '../../src/meta/replicator.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

export type PeerMode = 'ok' | 'hang' | 'fail'

/** One push message as the transport saw it. */
export interface LoggedPush { from: string, to: string, forward: boolean, hop: number, pks: string[] }

export interface MetaMesh {
  names: string[]
  stores: Record<string, MetaStore>
  replicators: Record<string, Replicator>
  mode: Record<string, PeerMode>
  pushes: LoggedPush[]
  /** Let hung calls go on. */
  release: () => void
  /** Wait until no message has been sent for a while (every background push and forward is done). */
  quiesce: () => Promise<void>
}

/** Most turns of the event loop `quiesce` waits (bounds a test that never settles). */
const MAX_QUIESCE_TURNS = 100_000
/** Turns with no new message after which the mesh counts as quiet. */
const QUIET_TURNS = 50

/** A deterministic random source (mulberry32), so a failing run can be replayed. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `count` nodes n0..n(count-1); `options(name)` adds replicator options per node. */
export function metaMesh (count: number, options: (name: string) => ReplicatorOptions = () => ({})): MetaMesh {
  const names = Array.from({ length: count }, (_, i) => `n${i}`)
  const stores: Record<string, MetaStore> = {}
  const replicators: Record<string, Replicator> = {}
  const mode: Record<string, PeerMode> = {}
  const pushes: LoggedPush[] = []
  const held: Array<() => void> = []
  let calls = 0
  const transport = (self: string): MetaTransport => ({
    onlinePeers: () => names.filter((p) => p !== self),
    memberCount: () => count - 1,
    call: async (peer, header, body) => {
      calls++
      if (header.op === 'push') {
        const pks = (JSON.parse(new TextDecoder().decode(body)) as MetaRecord[]).map((r) => r.pk)
        pushes.push({ from: self, to: peer, forward: header.forward === true, hop: typeof header.hop === 'number' ? header.hop : 0, pks })
      }
      if (mode[peer] === 'fail') throw new Error(`${peer} refuses`)
      if (mode[peer] === 'hang') await new Promise<void>((resolve) => { held.push(resolve) })
      const res = await (replicators[peer] as Replicator).handle(header, body, self)
      return { header: res.header, body: res.body ?? new Uint8Array(0) }
    }
  })
  for (const name of names) {
    stores[name] = MetaStore.open(':memory:')
    mode[name] = 'ok'
    replicators[name] = new Replicator(stores[name], transport(name), undefined, { selfId: name, ...options(name) })
  }
  const quiesce = async (): Promise<void> => {
    let quiet = 0
    let seen = calls
    for (let turn = 0; turn < MAX_QUIESCE_TURNS && quiet < QUIET_TURNS; turn++) {
      await new Promise((resolve) => setImmediate(resolve))
      if (calls === seen) quiet++
      else { quiet = 0; seen = calls }
    }
  }
  return { names, stores, replicators, mode, pushes, release: () => { for (const r of held.splice(0)) r() }, quiesce }
}
