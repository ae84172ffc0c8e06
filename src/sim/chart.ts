/**
 * The week-long availability curve as CSV and as a self-contained SVG line
 * chart (no dependencies), for docs/img and for `cairn sim --svg`.
 */
import type { CurvePoint } from './sim-stats.ts'

/** Chart size in SVG user units (pixels). */
const CHART_WIDTH_PX = 760
const CHART_HEIGHT_PX = 300
const MARGIN_PX = 48

/**
 * CSV with a header: hourOfWeek, meanReadable, minReadable, onlineNodes.
 *
 * @example
 * curveCsv([{ hourOfWeek: 0, meanReadable: 1, minReadable: 1, onlineNodes: 0.2 }]).split('\n')[0]
 */
export function curveCsv (curve: readonly CurvePoint[]): string {
  const lines = ['hourOfWeek,meanReadable,minReadable,onlineNodes']
  for (const p of curve) lines.push(`${p.hourOfWeek.toFixed(3)},${p.meanReadable.toFixed(6)},${p.minReadable.toFixed(6)},${p.onlineNodes.toFixed(6)}`)
  return lines.join('\n') + '\n'
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * An SVG chart of the curve: readable (mean, min) and nodes online, over the
 * hours of a week.
 *
 * @example
 * curveSvg(result.curve, 'office, 300 PCs, k=4 m=8').startsWith('<svg') // true
 */
export function curveSvg (curve: readonly CurvePoint[], title: string): string {
  const plotWidth = CHART_WIDTH_PX - 2 * MARGIN_PX
  const plotHeight = CHART_HEIGHT_PX - 2 * MARGIN_PX
  const x = (hour: number): number => MARGIN_PX + (hour / 168) * plotWidth
  const y = (value: number): number => MARGIN_PX + (1 - value) * plotHeight
  const line = (pick: (p: CurvePoint) => number): string =>
    curve.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.hourOfWeek).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(' ')
  const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']
  const grid: string[] = []
  for (let d = 0; d <= 7; d++) {
    grid.push(`<line x1="${x(d * 24)}" y1="${MARGIN_PX}" x2="${x(d * 24)}" y2="${MARGIN_PX + plotHeight}" stroke="#ddd"/>`)
    if (d < 7) grid.push(`<text x="${x(d * 24 + 12)}" y="${MARGIN_PX + plotHeight + 16}" text-anchor="middle">${days[d]}</text>`)
  }
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    grid.push(`<line x1="${MARGIN_PX}" y1="${y(v)}" x2="${MARGIN_PX + plotWidth}" y2="${y(v)}" stroke="#eee"/>`)
    grid.push(`<text x="${MARGIN_PX - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`)
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH_PX}" height="${CHART_HEIGHT_PX}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${CHART_WIDTH_PX / 2}" y="20" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`,
    ...grid,
    `<path d="${line((p) => p.onlineNodes)}" fill="none" stroke="#999" stroke-width="1.2"/>`,
    `<path d="${line((p) => p.minReadable)}" fill="none" stroke="#d62728" stroke-width="1.2"/>`,
    `<path d="${line((p) => p.meanReadable)}" fill="none" stroke="#1f77b4" stroke-width="1.8"/>`,
    `<text x="${MARGIN_PX + 4}" y="${CHART_HEIGHT_PX - 8}" fill="#1f77b4">mean readable</text>`,
    `<text x="${MARGIN_PX + 110}" y="${CHART_HEIGHT_PX - 8}" fill="#d62728">min readable</text>`,
    `<text x="${MARGIN_PX + 210}" y="${CHART_HEIGHT_PX - 8}" fill="#999">nodes online</text>`,
    '</svg>',
    ''
  ].join('\n')
}
