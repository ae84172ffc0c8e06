/**
 * Test files: random files written in chunks (memory stays flat whatever the
 * size), SHA-256 of a file by streaming, and files of a recognisable repeated
 * text whose 64-byte runs can be searched for in shard files.
 */
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'

/** Size of one write when generating a file. */
export const FILE_CHUNK_BYTES = 1024 * 1024

/**
 * Write `bytes` random bytes to `path`; returns their SHA-256 (hex).
 *
 * @example
 * const sha = await randomFile('/tmp/x/big', 256 * 1024 * 1024)
 */
export async function randomFile (path: string, bytes: number): Promise<string> {
  return await chunkedFile(path, bytes, (chunk) => { randomFillSync(chunk) })
}

/**
 * Write `bytes` bytes of `period` repeated (cut at the end) to `path`;
 * returns their SHA-256 (hex).
 */
export async function patternFile (path: string, bytes: number, period: Buffer): Promise<string> {
  if (FILE_CHUNK_BYTES % period.length !== 0) throw new Error(`pattern period ${period.length} must divide ${FILE_CHUNK_BYTES}`)
  const block = Buffer.alloc(FILE_CHUNK_BYTES)
  for (let at = 0; at < block.length; at += period.length) period.copy(block, at)
  return await chunkedFile(path, bytes, (chunk) => { block.copy(chunk, 0, 0, chunk.length) })
}

async function chunkedFile (path: string, bytes: number, fill: (chunk: Buffer) => void): Promise<string> {
  const hash = createHash('sha256')
  const buffer = Buffer.alloc(FILE_CHUNK_BYTES)
  const file = await open(path, 'w')
  try {
    // Bounded: ceil(bytes / FILE_CHUNK_BYTES) rounds.
    for (let written = 0; written < bytes;) {
      const chunk = buffer.subarray(0, Math.min(FILE_CHUNK_BYTES, bytes - written))
      fill(chunk)
      hash.update(chunk)
      await file.write(chunk, 0, chunk.length)
      written += chunk.length
    }
  } finally {
    await file.close()
  }
  return hash.digest('hex')
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
