/**
 * Benchmark of the churn simulator at office-campus scale: the equivalent of
 * `cairn sim --nodes 10000 --objects 1000000 --days 365` (office model).
 * Prints wall time, peak RSS and the simulation report as one JSON line.
 * Target: under 10 minutes and under 4 GiB on a 2-core machine.
 *
 * Run: npx node bench/sim.ts [extra cairn sim flags]
 */
import { parseArgs } from '../src/cli/args.ts'
import { configFromFlags, simReport } from '../src/cli/commands/sim.ts'
import { simulate } from '../src/sim/simulator.ts'

const defaults = ['--nodes', '10000', '--objects', '1000000', '--days', '365']
const flags = [...defaults, ...process.argv.slice(2)]
const started = performance.now()
const config = configFromFlags(parseArgs(flags, {
  values: ['model', 'availability', 'nodes', 'objects', 'days', 'k', 'm', 'seed', 'groups', 'zones', 'anchors', 'mttf-days', 'dead-after-hours', 'repair-threshold', 'sample-minutes'],
  booleans: []
}))
const result = simulate(config)
const wallSeconds = (performance.now() - started) / 1000
const peakRssMiB = process.resourceUsage().maxRSS / 1024
console.log(JSON.stringify({ bench: 'sim', flags: flags.join(' '), wallSeconds, peakRssMiB, ...simReport(config, result) }))
