/**
 * Human output helpers of the CLI: byte sizes and aligned tables.
 */

/** `1536` → `1.5 KiB`. */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`
}

/** Left-aligned columns separated by two spaces. */
export function formatTable (head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n')
}

/** Parse `10GiB`, `500MB`, `1024` into bytes; NaN when malformed. */
export function parseBytes (text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?$/i.exec(text.trim())
  if (m === null) return NaN
  const factor: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, tb: 1e12, tib: 1024 ** 4 }
  return Math.floor(Number(m[1]) * (factor[(m[2] ?? 'b').toLowerCase()] ?? NaN))
}
