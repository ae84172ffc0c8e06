/**
 * Preloaded with `node --import` into a CLI process by a test: appends the
 * URL of every module the process resolves (one per line) to the file named
 * by CAIRN_TEST_LOADS_FILE, so a test can tell which packages a command
 * loaded.
 */
import { appendFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const file = process.env.CAIRN_TEST_LOADS_FILE
if (file !== undefined) {
  registerHooks({
    resolve (specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context)
      appendFileSync(file, `${resolved.url}\n`)
      return resolved
    }
  })
}
