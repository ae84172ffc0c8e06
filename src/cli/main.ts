/**
 * The `cairn` command line: dispatches to one module per command group and
 * turns every error into one clear line on stderr and a non-zero exit code.
 */
import { CairnError } from '../util/errors.ts'
import { http } from '../util/node-http.ts'

type Command = (argv: string[]) => Promise<number>

/** Every command, loaded lazily so `cairn put` does not load libp2p. */
const COMMANDS: Record<string, { run: () => Promise<Command>, help: string }> = {
  init: { run: async () => (await import('./commands/setup.ts')).init, help: 'init --dir DIR [--k 4 --m 2 --name N --host H --quota 10GiB --role anchor|pc --zone Z]   create a cluster and its first node' },
  invite: { run: async () => (await import('./commands/setup.ts')).invite, help: 'invite --node DIR                     print a join token (a secret)' },
  join: { run: async () => (await import('./commands/setup.ts')).join, help: 'join TOKEN --dir DIR [--role anchor|pc --zone Z --quota Q]   create a new member node' },
  node: { run: async () => (await import('./commands/node.ts')).node, help: 'node role NAME anchor|pc | zone NAME ZONE | decommission NAME [--wait] --node DIR   set a member\'s role or zone, or move everything off it (node --help)' },
  rebalance: { run: async () => (await import('./commands/move.ts')).rebalance, help: 'rebalance --node DIR [--wait] [--json]   even out used space over the members (after nodes joined)' },
  start: { run: async () => { (await import('../daemon/young-generation.ts')).holdYoungGeneration(); return (await import('./commands/start.ts')).start }, help: 'start --node DIR                      run a node in the foreground' },
  cluster: { run: async () => (await import('./commands/cluster.ts')).cluster, help: 'cluster --nodes N --dir D [--k K --m M] [--dead-after 72h]   run a local N-node cluster' },
  put: { run: async () => (await import('./commands/objects.ts')).put, help: 'put FILE BUCKET/KEY --node DIR         store a file (FILE may be -)' },
  get: { run: async () => (await import('./commands/objects.ts')).get, help: 'get BUCKET/KEY OUT --node DIR [--version ID]   read an object (OUT may be -)' },
  ls: { run: async () => (await import('./commands/objects.ts')).ls, help: 'ls [BUCKET[/PREFIX]] --node DIR [--json]   list buckets or objects' },
  rm: { run: async () => (await import('./commands/objects.ts')).rm, help: 'rm BUCKET/KEY --node DIR              delete (writes a delete marker)' },
  versions: { run: async () => (await import('./commands/objects.ts')).versions, help: 'versions BUCKET/KEY --node DIR [--json]   list versions, newest first' },
  retention: { run: async () => (await import('./commands/objects.ts')).retention, help: 'retention BUCKET [--keep-versions N] [--keep-days D] [--clear]   per-bucket version retention' },
  key: { run: async () => (await import('./commands/key.ts')).key, help: 'key create NAME [--admin] | ls | rm NAME | allow NAME BUCKET read|write|owner --node DIR   S3 access keys' },
  config: { run: async () => (await import('./commands/config.ts')).config, help: 'config set KEY VALUE | get [KEY] [--json] --node DIR   cluster-wide settings (config --help lists them)' },
  status: { run: async () => (await import('./commands/status.ts')).status, help: 'status --node DIR [--json]            nodes, online state, usage' },
  health: { run: async () => (await import('./commands/heal.ts')).health, help: 'health BUCKET/KEY --node DIR [--version ID] [--json]   one object\'s shards, holders and state' },
  workers: { run: async () => (await import('./commands/heal.ts')).workers, help: 'workers --node DIR [--json]           background workers: repair, scrub, collection, …' },
  plan: { run: async () => (await import('./commands/plan.ts')).run, help: 'plan --nodes N --availability A [--k K --m M | --target T] [--json]   readability and durability' },
  sim: { run: async () => (await import('./commands/sim.ts')).run, help: 'sim [--model office|independent] [--nodes N --objects O --days D] [--json]   churn simulation' }
}

/** Commands that answer --help themselves, with a page of their own. */
const OWN_HELP = new Set(['config', 'key', 'node'])

function usage (): string {
  return ['usage: cairn COMMAND [ARGS]   (CAIRN_NODE=DIR may replace --node DIR)', '', ...Object.values(COMMANDS).map((c) => `  cairn ${c.help}`)].join('\n')
}

/** How long a finished command leaves its last open handles before it exits anyway. */
export const EXIT_FALLBACK_MS = 2_000

/**
 * End a finished command with `code` by letting the event loop run dry, not
 * by `process.exit()`.
 *
 * `process.exit()` shuts V8's platform threads down while the isolate is still
 * alive. A background compile job (Maglev, Sparkplug) that is waiting for the
 * main thread to collect garbage then never finishes, and the process hangs
 * in the join forever (nodejs/node#54918). Here that was a `cairn put --json`
 * that printed its whole result under load and was still alive 240 s later.
 * A natural end disposes the isolate first, which releases such jobs.
 * Keep-alive sockets to the node are closed here; if anything else is still
 * open after EXIT_FALLBACK_MS, `process.exit()` ends the process as before
 * (and says what was open when CAIRN_EXIT_REPORT=1, which the tests set).
 */
function finish (code: number): void {
  process.exitCode = code
  http.globalAgent.destroy()
  setTimeout(() => {
    if (process.env.CAIRN_EXIT_REPORT === '1') process.stderr.write(`cairn: still open ${EXIT_FALLBACK_MS} ms after the command ended: ${process.getActiveResourcesInfo().join(', ')}; exiting\n`)
    process.exit(code)
  }, EXIT_FALLBACK_MS).unref()
}

/**
 * Run the CLI with `argv` (without node and script). The process ends when
 * the command is done (see finish); `start` and `cluster` end when they stop.
 */
export async function main (argv: string[]): Promise<void> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(usage())
    finish(name === undefined ? 2 : 0)
    return
  }
  const command = COMMANDS[name]
  if (command === undefined) {
    console.error(`cairn: unknown command ${JSON.stringify(name)}; run \`cairn help\` for the list`)
    finish(2)
    return
  }
  // Commands with several actions print their own help; the others print their usage line.
  if ((rest.includes('--help') || rest.includes('-h')) && !OWN_HELP.has(name)) {
    console.log(`usage: cairn ${command.help}\n\nCommands that talk to a node take --node DIR (or CAIRN_NODE=DIR); --json prints machine-readable output where offered.`)
    finish(0)
    return
  }
  try {
    const code = await (await command.run())(rest)
    if (name === 'start' || name === 'cluster') process.exitCode = code
    else finish(code)
  } catch (err) {
    if (err instanceof CairnError) {
      console.error(`cairn ${name}: ${err.oneLine()}`)
      finish(err.exitCode)
      return
    }
    console.error(`cairn ${name}: internal error: ${(err as Error)?.stack ?? String(err)}`)
    finish(1)
  }
}
