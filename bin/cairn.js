#!/usr/bin/env node
// Entry point of the `cairn` CLI. Cairn's sources are TypeScript that Node 24
// runs directly (type stripping), so this shim only silences the one-time
// experimental warning and hands over to the CLI.
process.removeAllListeners('warning')
process.on('warning', (w) => { if (w.name !== 'ExperimentalWarning') console.error(w.message) })
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(`cairn: Node ${process.versions.node} is too old; run it through npm (npx cairn …) so the pinned Node 24 is used, or install Node >= 22.`)
  process.exit(2)
}
const { main } = await import('../src/cli/main.ts')
await main(process.argv.slice(2))
