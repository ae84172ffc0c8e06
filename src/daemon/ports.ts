/**
 * Free TCP ports for new nodes' listen and API ports.
 *
 * Ports are picked below Linux's ephemeral range (32768–60999 by default),
 * so an outgoing connection of another process can never take a node's port
 * between the moment it is chosen and the moment the node starts: a random
 * port in [PORT_RANGE_MIN, PORT_RANGE_MAX] is tried until one binds.
 */
import { createServer } from 'node:net'
import { randomInt } from 'node:crypto'
import { CairnError } from '../util/errors.ts'

/** Lowest port handed out. */
export const PORT_RANGE_MIN = 20_000
/** Highest port handed out (just below the ephemeral range). */
export const PORT_RANGE_MAX = 32_767
/** Random ports tried before giving up. */
export const PORT_ATTEMPTS = 200

/** True when `port` can be bound on `host` right now. */
export async function portIsFree (port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => { resolve(false) })
    srv.listen(port, host, () => { srv.close(() => { resolve(true) }) })
  })
}

/**
 * Ports this process has handed out: `cairn cluster` picks three ports for
 * each of many nodes before any node binds them, and two random picks of the
 * same free port (a few percent for a 14-node cluster) made a node fail to
 * start. Each port is handed out at most once per process.
 */
const handedOut = new Set<number>()

/** A port that was free on `host` a moment ago, outside the ephemeral range, and not handed out before by this process. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < PORT_ATTEMPTS; i++) {
    const port = randomInt(PORT_RANGE_MIN, PORT_RANGE_MAX + 1)
    if (handedOut.has(port)) continue
    // Reserved before the check, so concurrent calls never pick the same port.
    handedOut.add(port)
    if (await portIsFree(port, host)) return port
    handedOut.delete(port)
  }
  throw new CairnError('CONFIG', `no free TCP port found on ${host} in ${PORT_RANGE_MIN}-${PORT_RANGE_MAX}`, 'pass --port and --api-port explicitly')
}
