/**
 * Free TCP ports on loopback, for new nodes' listen and API ports.
 */
import { createServer } from 'node:net'

/** A port that was free on `host` a moment ago. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => { resolve(port) })
    })
  })
}
