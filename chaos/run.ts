/**
 * `npm run chaos` — the broker under mixed load while faults are injected at random: SIGKILL and
 * restart of the broker, kill -9 and restart of nats-server under a two-node JetStream cluster, a
 * real full disk (tmpfs), clients leaving mid-request. Then every acknowledged write is looked for
 * in the log. See docs/reliability.md.
 *
 *   npm run chaos                        10 minutes of faults; rewrites the results in docs/reliability.md
 *   npm run chaos -- --minutes 3         shorter (not written to the doc unless --write)
 *   npm run chaos -- --seed 42           repeat a run's random choices (the machine's timing still varies)
 *
 * Options: --minutes <n>, --seed <n>, --gap <min>-<max> (seconds between faults, default 4-12),
 * --tmpfs-mb <n>, --max-rss-mb <n>, --zombie-ms [<min>-]<max> (brokers' parent reaps them that many ms
 * after they die, default 0-6000; 0: the harness itself is their parent), --bin <file> (another checkout's
 * bin/claude-ipc-broker.js, never written to the doc), --write / --no-write, --keep (keep the data dirs).
 * Exit code: 0 when every target holds, 1 when one fails, 2 for bad arguments.
 */
import { loadavg } from "node:os"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import { cleanupNow, runChaos } from "./harness.js"
import { formatReport, passed, writeDoc } from "./report.js"

const usage = "npm run chaos -- [--minutes <n>] [--seed <n>] [--gap <min>-<max>] [--tmpfs-mb <n>] [--max-rss-mb <n>] [--zombie-ms [<min>-]<max>] [--bin <file>] [--write|--no-write] [--keep]"

const fail = (message: string): never => {
  console.error(`chaos: ${message}\n${usage}`)
  process.exit(2)
}

const { values } = (() => {
  try {
    return parseArgs({
      strict: true,
      options: {
        minutes: { type: "string" },
        seed: { type: "string" },
        gap: { type: "string" },
        "tmpfs-mb": { type: "string" },
        "max-rss-mb": { type: "string" },
        write: { type: "boolean" },
        "no-write": { type: "boolean" },
        keep: { type: "boolean" },
        bin: { type: "string" },
        "zombie-ms": { type: "string" },
        help: { type: "boolean", short: "h" }
      }
    })
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error))
  }
})()

if (values.help) {
  console.log(usage)
  process.exit(0)
}

const number = (name: string, text: string | undefined, fallback: number, min: number) => {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < min) fail(`--${name} must be a number ≥ ${min}`)
  return value
}

const minutes = number("minutes", values.minutes, 10, 0.1)
const seed = Math.floor(number("seed", values.seed, Math.floor(Math.random() * 2 ** 31), 0))
const gap = (() => {
  if (values.gap === undefined) return [4_000, 12_000] as const
  const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(values.gap)
  if (!match || Number(match[1]) > Number(match[2])) return fail("--gap must look like 4-12 (seconds)")
  return [Number(match[1]) * 1000, Number(match[2]) * 1000] as const
})()
// The file log grows ~2 MB a minute under this load; the tmpfs holds it with room to spare.
const tmpfsMb = Math.floor(number("tmpfs-mb", values["tmpfs-mb"], Math.max(32, 32 + Math.ceil(minutes * 6)), 8))
const maxRssMb = number("max-rss-mb", values["max-rss-mb"], 1024, 64)
const zombieMs = ((): readonly [number, number] => {
  const text = values["zombie-ms"] ?? "0-6000"
  const match = /^(?:(\d+)-)?(\d+)$/.exec(text)
  if (!match || Number(match[1] ?? 0) > Number(match[2])) return fail("--zombie-ms must look like 6000 or 2000-6000")
  return [Number(match[1] ?? 0), Number(match[2])]
})()
const bin = values.bin === undefined ? undefined : resolve(values.bin)

// Ctrl-C or a kill: kill the children, unmount the tmpfs, remove the temp dirs, then go.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    console.error(`\nchaos: ${signal}: cleaning up`)
    cleanupNow()
    process.exit(130)
  })
}
process.once("uncaughtException", (error) => {
  console.error(error)
  cleanupNow()
  process.exit(1)
})

const loadBefore = loadavg()
const command = `npm run chaos${values.minutes === undefined ? "" : ` -- --minutes ${values.minutes}`}`
console.log(`chaos: ${minutes} minutes of faults under load (seed ${seed}); Ctrl-C stops and cleans up`)
const started = Date.now()
const result = await runChaos({
  durationMs: minutes * 60_000,
  gapMs: gap,
  seed,
  tmpfsMb,
  maxRssMb,
  keep: values.keep ?? false,
  zombieMs,
  ...(bin === undefined ? {} : { bin }),
  log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`)
})
const report = formatReport(result, { command, seed, loadBefore })
console.log(`\n${report}\n`)
const full = minutes >= 10
// Figures of another checkout's bin never go into this repository's doc.
const write = values["no-write"] || bin !== undefined ? false : (values.write ?? full)
if (write) {
  await writeDoc(report)
  console.log("Written to docs/reliability.md.")
} else console.log("Not written to docs/reliability.md (a run shorter than 10 minutes; pass --write to force).")
process.exit(passed(result) ? 0 : 1)
