/**
 * `node:http` loaded through `require`, for every module that calls it.
 *
 * An ESM `import { request } from 'node:http'` makes Node build the module's
 * ESM namespace, which reads every export, and the `WebSocket`,
 * `EventSource`, … getters among them load undici (Node's fetch): about
 * 80 ms of CPU per process, measured here, for code Cairn never uses — a
 * third of a `cairn status` and a few percent of a node's start-up. A
 * CommonJS `require` returns the module object without touching the getters.
 * Type-only imports (`import type { Server } from 'node:http'`) cost nothing
 * and stay as they are.
 */
import { createRequire } from 'node:module'
import type * as NodeHttp from 'node:http'

/**
 * The `node:http` module.
 *
 * @example
 * import { http } from '../util/node-http.ts'
 * const server = http.createServer(handler)
 */
export const http: typeof NodeHttp = createRequire(import.meta.url)('node:http') as typeof NodeHttp
