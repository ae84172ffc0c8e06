/**
 * Summary statistics of a simulation run: readability (min, mean and its
 * standard error by daily batch means), losses, repair traffic, and the
 * week-long availability curve (mean and min per time of week).
 */

/** One point of the week-long curve. */
export interface CurvePoint {
  /** Hours since Monday 00:00. */
  hourOfWeek: number
  /** Mean fraction of objects readable at this time of week, over all simulated weeks. */
  meanReadable: number
  /** Lowest fraction readable at this time of week. */
  minReadable: number
  /** Mean fraction of nodes online. */
  onlineNodes: number
}

/** What `cairn sim` reports. */
export interface SimResult {
  readable: { min: number, mean: number, stderr: number }
  /** Objects lost for good. */
  lost: number
  lostFraction: number
  /** Repair traffic (bytes read plus written) per node per simulated day. */
  repairBytesPerNodePerDay: number
  /** Storage overhead (k + m) / k. */
  overhead: number
  elapsedSeconds: number
  repairs: number
  deadDeclarations: number
  permanentFailures: number
  groups: number
  /** Share of placements answered from the per-group candidate prefix. */
  fastPlacementShare: number
  /** The hour of the week with the lowest mean fraction of objects readable (the curve's samples averaged per hour). */
  worstHour: { hourOfWeek: number, meanReadable: number }
  curve: CurvePoint[]
}

/** Raw counters handed over by the simulator. */
export interface RawRun {
  samples: readonly number[]
  onlineSamples: readonly number[]
  samplesPerDay: number
  samplesPerWeek: number
  sampleMinutes: number
  lostObjects: number
  objects: number
  repairBytes: number
  repairs: number
  nodes: number
  days: number
  overhead: number
  deadDeclarations: number
  permanentFailures: number
  groups: number
  fastPlacements: number
  fullPlacements: number
  elapsedSeconds: number
}

/** Standard error of the mean by batch means (one batch per simulated day). */
function batchStderr (samples: readonly number[], batchSize: number): number {
  const means: number[] = []
  for (let start = 0; start + batchSize <= samples.length; start += batchSize) {
    let sum = 0
    for (let i = start; i < start + batchSize; i++) sum += samples[i] as number
    means.push(sum / batchSize)
  }
  if (means.length < 2) return NaN
  const mean = means.reduce((a, b) => a + b, 0) / means.length
  const variance = means.reduce((a, b) => a + (b - mean) ** 2, 0) / (means.length - 1)
  return Math.sqrt(variance / means.length)
}

function weekCurve (run: RawRun): CurvePoint[] {
  const bins = Math.min(run.samplesPerWeek, run.samples.length)
  const sum = new Float64Array(bins)
  const min = new Float64Array(bins).fill(1)
  const online = new Float64Array(bins)
  const count = new Float64Array(bins)
  for (let i = 0; i < run.samples.length; i++) {
    const bin = i % run.samplesPerWeek
    if (bin >= bins) continue
    const value = run.samples[i] as number
    sum[bin] = (sum[bin] as number) + value
    min[bin] = Math.min(min[bin] as number, value)
    online[bin] = (online[bin] as number) + (run.onlineSamples[i] as number)
    count[bin] = (count[bin] as number) + 1
  }
  return Array.from({ length: bins }, (_, bin) => ({
    hourOfWeek: bin * run.sampleMinutes / 60,
    meanReadable: (sum[bin] as number) / (count[bin] as number),
    minReadable: min[bin] as number,
    onlineNodes: (online[bin] as number) / (count[bin] as number)
  }))
}

const withCurve = (curve: CurvePoint[]): { worstHour: { hourOfWeek: number, meanReadable: number }, curve: CurvePoint[] } => ({ worstHour: worstHourOf(curve), curve })

/** The hour of the week whose curve points have the lowest mean readability. */
function worstHourOf (curve: readonly CurvePoint[]): { hourOfWeek: number, meanReadable: number } {
  const sum = new Map<number, { total: number, count: number }>()
  for (const p of curve) {
    const hour = Math.floor(p.hourOfWeek)
    const s = sum.get(hour) ?? { total: 0, count: 0 }
    s.total += p.meanReadable
    s.count++
    sum.set(hour, s)
  }
  let worst = { hourOfWeek: 0, meanReadable: NaN }
  for (const [hour, s] of sum) {
    const mean = s.total / s.count
    if (!(mean >= worst.meanReadable)) worst = { hourOfWeek: hour, meanReadable: mean }
  }
  return worst
}

/** Turn raw counters into the report. */
export function summarize (run: RawRun): SimResult {
  let sum = 0
  let min = 1
  for (const value of run.samples) { sum += value; if (value < min) min = value }
  const placements = run.fastPlacements + run.fullPlacements
  return {
    readable: { min, mean: run.samples.length > 0 ? sum / run.samples.length : NaN, stderr: batchStderr(run.samples, run.samplesPerDay) },
    lost: run.lostObjects,
    lostFraction: run.lostObjects / run.objects,
    repairBytesPerNodePerDay: run.repairBytes / run.nodes / run.days,
    overhead: run.overhead,
    elapsedSeconds: run.elapsedSeconds,
    repairs: run.repairs,
    deadDeclarations: run.deadDeclarations,
    permanentFailures: run.permanentFailures,
    groups: run.groups,
    fastPlacementShare: placements > 0 ? run.fastPlacements / placements : 1,
    ...withCurve(weekCurve(run))
  }
}
