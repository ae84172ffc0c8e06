/**
 * `cairn start --node DIR`: run one node in the foreground until SIGINT or
 * SIGTERM, then stop it cleanly.
 */
import { flushCompileCache } from 'node:module'
import { parseArgs } from '../args.ts'
import { nodeDir } from '../node-dir.ts'
import { Daemon } from '../../daemon/daemon.ts'
import { errorMessage } from '../../util/errors.ts'
import { releaseYoungGeneration } from '../../daemon/young-generation.ts'
import { startExternalMemoryGovernor } from '../../daemon/external-memory.ts'

/** Longest a clean stop may take before the process exits anyway. */
export const STOP_TIMEOUT_MS = 10_000

export async function start (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['quiet'] })
  const quiet = args.booleans.has('quiet')
  const log = (message: string): void => { if (!quiet) process.stderr.write(`${new Date().toISOString()} ${message}\n`) }
  // A bug in a background task is logged; it never takes stored data down with it.
  process.on('unhandledRejection', (reason) => { log(`unhandled rejection: ${errorMessage(reason)} ${(reason as Error)?.stack ?? ''}`) })
  // main.ts held the young generation small while the daemon loaded (young-generation.ts).
  const daemon = await Daemon.start(nodeDir(args), log)
  releaseYoungGeneration()
  // With CAIRN_EXTERNAL_GARBAGE_MIB set, dropped Buffers are collected sooner than V8 would (external-memory.ts).
  const stopGovernor = startExternalMemoryGovernor()
  // Node writes its compile cache (bin/cairn.js) at exit; a node may run for weeks and end by SIGKILL.
  flushCompileCache()
  console.log(`cairn node ${daemon.files.node.name} running (pid ${process.pid}); stop with Ctrl-C`)
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: stopping`)
      const force = setTimeout(() => { log('stop timed out; exiting'); process.exit(1) }, STOP_TIMEOUT_MS)
      force.unref()
      stopGovernor()
      void daemon.stop().finally(resolve)
    }
    process.once('SIGINT', () => { stop('SIGINT') })
    process.once('SIGTERM', () => { stop('SIGTERM') })
  })
  return 0
}
