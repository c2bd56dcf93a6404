/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: it throws on anything
 * a Prometheus server would reject or that the format's rules forbid (bad names, bad escapes,
 * unknown types, TYPE after samples, a family split in two, duplicate series, histograms whose
 * buckets are not cumulative or lack `+Inf`, `_count` or `_sum`), naming the line.
 */

export interface ParsedSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface ParsedFamily {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped"
  readonly help: string | undefined
  readonly samples: ReadonlyArray<ParsedSample>
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const types = new Set(["counter", "gauge", "histogram", "summary", "untyped"])

const parseValue = (text: string, where: string): number => {
  if (text === "+Inf") return Infinity
  if (text === "-Inf") return -Infinity
  if (text === "NaN") return NaN
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: bad value '${text}'`)
  return Number(text)
}

/** `{a="1",b="x\"y"}` starting at `start`; returns the labels and the index after `}`. */
const parseLabels = (line: string, start: number, where: string) => {
  const labels: Record<string, string> = {}
  let i = start + 1
  for (;;) {
    if (line[i] === "}") return { labels, end: i + 1 }
    const eq = line.indexOf("=", i)
    if (eq === -1) throw new Error(`${where}: label without '='`)
    const name = line.slice(i, eq)
    if (!labelName.test(name) || name.startsWith("__")) throw new Error(`${where}: bad label name '${name}'`)
    if (name in labels) throw new Error(`${where}: label '${name}' twice`)
    if (line[eq + 1] !== '"') throw new Error(`${where}: label value of '${name}' is not quoted`)
    let value = ""
    let j = eq + 2
    for (;;) {
      const c = line[j]
      if (c === undefined) throw new Error(`${where}: unterminated label value`)
      if (c === '"') break
      if (c === "\\") {
        const next = line[j + 1]
        if (next === "\\") value += "\\"
        else if (next === '"') value += '"'
        else if (next === "n") value += "\n"
        else throw new Error(`${where}: bad escape '\\${next}' in label value`)
        j += 2
        continue
      }
      value += c
      j += 1
    }
    labels[name] = value
    i = j + 1
    if (line[i] === ",") i += 1
    else if (line[i] !== "}") throw new Error(`${where}: expected ',' or '}' after label '${name}'`)
  }
}

/** The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` belong to it. */
const familyOf = (sample: string, declared: ReadonlyMap<string, string>): string => {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length)
      const type = declared.get(base)
      if (type === "histogram" || (type === "summary" && suffix !== "_bucket")) return base
    }
  }
  return sample
}

const seriesKey = (name: string, labels: Readonly<Record<string, string>>) =>
  `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))}`

export const parsePrometheus = (text: string): Map<string, ParsedFamily> => {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the exposition must end with a newline")
  const declared = new Map<string, string>()
  const helps = new Map<string, string>()
  const samples = new Map<string, Array<ParsedSample>>()
  const order: Array<string> = []
  const seen = new Set<string>()
  const series = new Set<string>()
  let current: string | undefined

  text.split("\n").forEach((line, index) => {
    const where = `line ${index + 1} '${line}'`
    if (line.trim() === "") return
    if (line.startsWith("#")) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
      if (!match) return // a plain comment
      const [, keyword, name, rest = ""] = match
      if (!metricName.test(name!)) throw new Error(`${where}: bad metric name`)
      if (keyword === "TYPE") {
        if (!types.has(rest.trim())) throw new Error(`${where}: unknown type '${rest}'`)
        if (declared.has(name!)) throw new Error(`${where}: second TYPE for ${name}`)
        if (samples.has(name!)) throw new Error(`${where}: TYPE after samples of ${name}`)
        declared.set(name!, rest.trim())
      } else {
        if (helps.has(name!)) throw new Error(`${where}: second HELP for ${name}`)
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) throw new Error(`${where}: bad escape in HELP`)
        helps.set(name!, rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\"))
      }
      return
    }
    const nameEnd = line.search(/[{ ]/)
    if (nameEnd <= 0) throw new Error(`${where}: not a sample`)
    const name = line.slice(0, nameEnd)
    if (!metricName.test(name)) throw new Error(`${where}: bad metric name`)
    let labels: Record<string, string> = {}
    let rest = nameEnd
    if (line[nameEnd] === "{") {
      const parsed = parseLabels(line, nameEnd, where)
      labels = parsed.labels
      rest = parsed.end
    }
    if (line[rest] !== " ") throw new Error(`${where}: expected a space before the value`)
    const fields = line.slice(rest + 1).split(" ")
    if (fields.length > 2 || fields[0] === "") throw new Error(`${where}: expected 'value [timestamp]'`)
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`${where}: bad timestamp`)
    const value = parseValue(fields[0]!, where)

    const family = familyOf(name, declared)
    if (family !== current) {
      if (seen.has(family)) throw new Error(`${where}: samples of ${family} are not together`)
      seen.add(family)
      order.push(family)
      current = family
    }
    const key = seriesKey(name, labels)
    if (series.has(key)) throw new Error(`${where}: duplicate series`)
    series.add(key)
    if (declared.get(family) === "counter" && !(value >= 0)) throw new Error(`${where}: a counter must be ≥ 0`)
    const list = samples.get(family) ?? []
    list.push({ name, labels, value })
    samples.set(family, list)
  })

  const families = new Map<string, ParsedFamily>()
  const names = new Set([...order, ...declared.keys()])
  for (const name of names) {
    const type = (declared.get(name) ?? "untyped") as ParsedFamily["type"]
    const family: ParsedFamily = { name, type, help: helps.get(name), samples: samples.get(name) ?? [] }
    if (type === "histogram") checkHistogram(family)
    families.set(name, family)
  }
  return families
}

/** Per label set: `le` ascending and cumulative, ending with `+Inf` equal to `_count`, and a `_sum`. */
const checkHistogram = (family: ParsedFamily) => {
  const groups = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>()
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels
    const key = seriesKey("", rest)
    const group = groups.get(key) ?? { buckets: [] }
    groups.set(key, group)
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without 'le'`)
      group.buckets.push([parseValue(le, `${family.name} le`), sample.value])
    } else if (sample.name === `${family.name}_sum`) group.sum = sample.value
    else if (sample.name === `${family.name}_count`) group.count = sample.value
    else throw new Error(`${family.name}: unexpected sample ${sample.name}`)
  }
  for (const [key, group] of groups) {
    const what = `${family.name}${key}`
    if (group.sum === undefined || group.count === undefined) throw new Error(`${what}: _sum or _count missing`)
    const last = group.buckets[group.buckets.length - 1]
    if (last === undefined || last[0] !== Infinity) throw new Error(`${what}: the last bucket must be le="+Inf"`)
    if (last[1] !== group.count) throw new Error(`${what}: the +Inf bucket must equal _count`)
    group.buckets.forEach(([le, count], i) => {
      if (i === 0) return
      const [previousLe, previousCount] = group.buckets[i - 1]!
      if (!(le > previousLe)) throw new Error(`${what}: le must increase`)
      if (count < previousCount) throw new Error(`${what}: buckets must be cumulative`)
    })
  }
}

/** The value of one series, or undefined; `labels` must match the series' labels exactly. */
export const sampleValue = (
  families: ReadonlyMap<string, ParsedFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number | undefined => {
  const key = seriesKey(name, labels)
  for (const family of families.values()) {
    for (const sample of family.samples) if (seriesKey(sample.name, sample.labels) === key) return sample.value
  }
  return undefined
}
