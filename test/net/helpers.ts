/**
 * Shared helpers of the net tests: start loopback-only nodes and stop them.
 * Every node listens on 127.0.0.1 with a free port and never uses mDNS.
 */

import { generateClusterKey, generateNodeKey } from '../../src/net/keys.ts'
import { createNetNode } from '../../src/net/node.ts'
import type { Libp2pNetNode } from '../../src/net/node.ts'
import type { NetNodeInit } from '../../src/net/types.ts'

/** Start a node on a free loopback port. */
export async function startNode (clusterKey: Uint8Array, extra: Partial<NetNodeInit> = {}): Promise<Libp2pNetNode> {
  const node = await createNetNode({
    privateKey: await generateNodeKey(),
    clusterKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    ...extra
  })
  await node.start()
  return node
}

/** Start two nodes of one cluster, the first dialled by the second. */
export async function startPair (extra: Partial<NetNodeInit> = {}): Promise<{ a: Libp2pNetNode, b: Libp2pNetNode, clusterKey: Uint8Array }> {
  const clusterKey = generateClusterKey()
  const a = await startNode(clusterKey, extra)
  const b = await startNode(clusterKey, extra)
  const first = a.multiaddrs()[0]
  if (first === undefined) throw new Error('node a has no address')
  await b.dial(first)
  return { a, b, clusterKey }
}

/** Stop nodes, ignoring ones already stopped. */
export async function stopAll (...nodes: Libp2pNetNode[]): Promise<void> {
  await Promise.allSettled(nodes.map(async node => node.stop()))
}

/** Resolve once `predicate` holds, polling every 20 ms; reject after `timeoutMs`. */
export async function waitFor (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
