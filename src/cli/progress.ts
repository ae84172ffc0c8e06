/**
 * Progress on long transfers: a pass-through stream that counts bytes and,
 * when stderr is a terminal, redraws one status line (bytes, percent, MB/s).
 */
import { Transform } from 'node:stream'
import { formatBytes } from './format.ts'

/** Redraw interval of the progress line. */
export const PROGRESS_INTERVAL_MS = 500

/** A counting stream and a function to finish the line. */
export function progressMeter (label: string, totalBytes: number | undefined, quiet: boolean): { stream: Transform, done: () => void } {
  const show = !quiet && process.stderr.isTTY === true
  let bytes = 0
  const start = Date.now()
  // Counting inside the transform (not with a 'data' listener) keeps the
  // stream paused until its consumer is attached, so no byte is dropped.
  const stream = new Transform({
    highWaterMark: 1024 * 1024,
    transform (chunk: Buffer, _encoding, callback) { bytes += chunk.length; callback(null, chunk) }
  })
  const draw = (): void => {
    const secs = Math.max((Date.now() - start) / 1000, 0.001)
    const pct = totalBytes !== undefined && totalBytes > 0 ? ` ${((100 * bytes) / totalBytes).toFixed(0)}%` : ''
    process.stderr.write(`\r${label}: ${formatBytes(bytes)}${pct} ${(bytes / secs / 1e6).toFixed(1)} MB/s   `)
  }
  const timer = show ? setInterval(draw, PROGRESS_INTERVAL_MS) : undefined
  return {
    stream,
    done: () => {
      if (timer !== undefined) { clearInterval(timer); draw(); process.stderr.write('\n') }
    }
  }
}
