/**
 * Helia (IPFS in TypeScript) side by side with Cairn, in the same run:
 * `npm run bench -- --peer helia`.
 *
 * Two Helia nodes, each its own OS process (this file with `--node DIR`), so
 * peak RSS and CPU are per process as for Cairn's nodes. Node A adds a file
 * with UnixFS defaults (`addByteStream`, default chunker and layout); node B,
 * dialled straight to A's address, fetches it by CID over bitswap (`cat`).
 *
 * Each node is built from the pieces, not from `createHelia`, whose defaults
 * reach out: HTTP delegated routing and trustless gateways (`withHTTP`),
 * bootstrap peers, the DHT, mDNS, UPnP, AutoNAT, relays and WebRTC
 * (`libp2pDefaults`). Here libp2p has only TCP on 127.0.0.1, Noise (Helia's
 * default encrypter), Yamux and identify; Helia has bitswap as its only
 * block broker and libp2p's own router (which, with no DHT, finds nothing,
 * so blocks come from the connected peer). Blocks live on disk
 * (`blockstore-fs`, temp file + rename, as a Helia node with a repository
 * keeps them); the datastore is in memory.
 *
 * The file's bytes are an AES-128-CTR key stream, different for every add,
 * so no block repeats (a repeated pattern would be deduplicated by content
 * addressing and fetched once). Making them costs about 0.3 ns/B inside the
 * add timing.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import { createCipheriv, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Interface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { cpuNsOf, peakRssMiB } from './local.ts'

/** One size of the comparison; MB/s count 10^6 bytes, CPU is user + system of both Helia processes. */
export interface HeliaRow {
  size: string
  sizeBytes: number
  repeat: number
  addMBps: number
  fetchMBps: number
  /** CPU ns per file byte, both processes, while adding (A does the work) and fetching (A serves, B fetches). */
  addCpuNsPerByte: number
  fetchCpuNsPerByte: number
  /** Peak RSS (VmHWM) of each process so far, after this size. */
  peakRssMiB: { adder: number, fetcher: number }
}

const MiB = 1024 * 1024
/** Longest one add or fetch may take before the bench gives up (1 GiB on a loaded 2-core machine). */
const COMMAND_TIMEOUT_MS = 30 * 60_000

/** A node process: reads JSON commands from stdin, answers one JSON line each. */
async function runNode (dir: string): Promise<void> {
  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }, { unixfs }, { FsBlockstore }, { tcp }, { noise }, { yamux }, { identify }] = await Promise.all([
    import('helia'), import('@helia/libp2p'), import('@helia/bitswap'), import('@helia/unixfs'), import('blockstore-fs'),
    import('@libp2p/tcp'), import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'), import('@libp2p/identify')
  ])
  const blockstore = new FsBlockstore(join(dir, 'blocks'))
  const light = createHeliaLight({ blockstore })
  const withNet = withLibp2pLight(light, {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    connectionMonitor: { enabled: false },
    services: { identify: identify() }
  })
  const helia = withBitswap(withNet)
  await helia.start()
  const fs = unixfs(helia)
  const { multiaddr } = await import('@multiformats/multiaddr')
  const { CID } = await import('multiformats/cid')
  const answer = (value: unknown): void => { process.stdout.write(JSON.stringify(value) + '\n') }
  answer({ address: helia.libp2p.getMultiaddrs()[0]?.toString() })
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { op: 'dial' | 'add' | 'fetch', address?: string, cid?: string, sizeBytes?: number }
    const start = performance.now()
    if (cmd.op === 'dial') {
      await helia.libp2p.dial(multiaddr(cmd.address as string))
      answer({ ok: true })
    } else if (cmd.op === 'add') {
      const cid = await fs.addByteStream(keyStream(cmd.sizeBytes as number))
      answer({ cid: cid.toString(), ms: performance.now() - start })
    } else {
      let bytes = 0
      for await (const chunk of fs.cat(CID.parse(cmd.cid as string))) bytes += chunk.byteLength
      answer({ bytes, ms: performance.now() - start })
    }
  }
  await helia.stop()
  process.exit(0)
}

/** `sizeBytes` of AES-128-CTR key stream in 1 MiB pieces: incompressible, never repeating. */
async function * keyStream (sizeBytes: number): AsyncGenerator<Uint8Array> {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16))
  const zeros = Buffer.alloc(MiB)
  for (let sent = 0; sent < sizeBytes; sent += MiB) yield cipher.update(zeros.subarray(0, Math.min(MiB, sizeBytes - sent)))
}

interface NodeProcess { proc: ChildProcessByStdio<Writable, Readable, null>, lines: Interface, address: string }

async function nextLine (node: { proc: NodeProcess['proc'], lines: Interface }): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('helia node did not answer in time')) }, COMMAND_TIMEOUT_MS)
    const onExit = (code: number | null): void => { clearTimeout(timer); reject(new Error(`helia node exited with ${code}`)) }
    node.proc.once('exit', onExit)
    node.lines.once('line', (line) => { clearTimeout(timer); node.proc.off('exit', onExit); resolve(line) })
  })
}

async function startNode (dir: string): Promise<NodeProcess> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--node', dir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: proc.stdout })
  const { address } = JSON.parse(await nextLine({ proc, lines })) as { address?: string }
  if (address === undefined || !address.startsWith('/ip4/127.0.0.1/')) throw new Error(`helia node listens on ${address}, not 127.0.0.1`)
  return { proc, lines, address }
}

async function command<T> (node: NodeProcess, cmd: Record<string, unknown>): Promise<T> {
  node.proc.stdin.write(JSON.stringify(cmd) + '\n')
  return JSON.parse(await nextLine(node)) as T
}

/**
 * Add and fetch each size `repeat` times between two Helia processes.
 *
 * @example
 * const rows = await benchHelia([['1 MiB', 1024 * 1024, 20]])
 */
export async function benchHelia (sizes: ReadonlyArray<readonly [string, number, number]>): Promise<HeliaRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-helia-'))
  const nodes: NodeProcess[] = []
  try {
    const adder = await startNode(join(dir, 'a'))
    nodes.push(adder)
    const fetcher = await startNode(join(dir, 'b'))
    nodes.push(fetcher)
    await command(fetcher, { op: 'dial', address: adder.address })
    const bothCpuNs = (): number => cpuNsOf(adder.proc.pid as number) + cpuNsOf(fetcher.proc.pid as number)
    const rows: HeliaRow[] = []
    for (const [size, sizeBytes, repeat] of sizes) {
      let addMs = 0
      let fetchMs = 0
      let addCpuNs = 0
      let fetchCpuNs = 0
      for (let i = 0; i < repeat; i++) {
        let cpu = bothCpuNs()
        const added = await command<{ cid: string, ms: number }>(adder, { op: 'add', sizeBytes })
        addCpuNs += bothCpuNs() - cpu
        addMs += added.ms
        cpu = bothCpuNs()
        const fetched = await command<{ bytes: number, ms: number }>(fetcher, { op: 'fetch', cid: added.cid })
        fetchCpuNs += bothCpuNs() - cpu
        fetchMs += fetched.ms
        if (fetched.bytes !== sizeBytes) throw new Error(`helia fetched ${fetched.bytes} of ${sizeBytes} bytes`)
      }
      const total = sizeBytes * repeat
      rows.push({
        size,
        sizeBytes,
        repeat,
        addMBps: total / 1e3 / addMs,
        fetchMBps: total / 1e3 / fetchMs,
        addCpuNsPerByte: addCpuNs / total,
        fetchCpuNsPerByte: fetchCpuNs / total,
        peakRssMiB: { adder: peakRssMiB(adder.proc.pid as number), fetcher: peakRssMiB(fetcher.proc.pid as number) }
      })
      process.stderr.write(`helia ${size}: add ${rows.at(-1)?.addMBps.toFixed(1)} MB/s, fetch ${rows.at(-1)?.fetchMBps.toFixed(1)} MB/s\n`)
    }
    return rows
  } finally {
    await Promise.all(nodes.map(async (n) => await new Promise<void>((resolve) => {
      if (n.proc.exitCode !== null) { resolve(); return }
      const timer = setTimeout(() => { n.proc.kill('SIGKILL') }, 10_000)
      n.proc.once('exit', () => { clearTimeout(timer); resolve() })
      n.proc.stdin.end()
    })))
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--node') {
  await runNode(process.argv[3] as string)
} else if (import.meta.main) {
  const sizes: Array<[string, number, number]> = [['1 MiB', MiB, 20], ['64 MiB', 64 * MiB, 2], ['256 MiB', 256 * MiB, 1]]
  if (!process.argv.includes('--quick')) sizes.push(['1 GiB', 1024 * MiB, 1])
  for (const r of await benchHelia(sizes)) console.log(JSON.stringify(r))
}
