/**
 * Worker thread of the wasm codec: runs one coding task per message, so that
 * wide codes (a 4 MiB stripe of 32+97 takes ~170 ms to encode) never block the
 * node's event loop. Messages are WasmTask / WasmReply (wasm-pool.ts); buffers
 * travel as transferred ArrayBuffers, so nothing is copied between threads.
 */
import { parentPort } from 'node:worker_threads'
import { wasmEncode, wasmReconstruct } from './wasm-codec.ts'
import type { WasmReply, WasmTask } from './wasm-pool.ts'

function run (task: WasmTask): Uint8Array {
  if (task.op === 'encode') return wasmEncode(task.k, task.m, task.bytes, task.shardSizeBytes)
  return wasmReconstruct(task.k, task.m, task.bytes, task.flags, task.shardSizeBytes)
}

const port = parentPort
if (port !== null) {
  port.on('message', (task: WasmTask) => {
    let reply: WasmReply
    try {
      const bytes = run(task)
      reply = { id: task.id, bytes }
      port.postMessage(reply, [bytes.buffer as ArrayBuffer])
    } catch (err) {
      reply = { id: task.id, error: (err as Error).message }
      port.postMessage(reply)
    }
  })
}
