/**
 * The scenarios by name, a context to run them in, and the run itself: scenarios in order, one
 * table at the end. bench/run.ts is the command line around this.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { formatSummary, summarise, type ProfileSummary } from "./profile.js"
import type { Row } from "./report.js"
import type { Context } from "./scenarios/context.js"
import { bridgesScenario } from "./scenarios/bridges.js"
import { fanOutScenario } from "./scenarios/fanout.js"
import { jetStreamScenario } from "./scenarios/jetstream.js"
import { largeLogScenario, peersMemoryScenario, type LogPart } from "./scenarios/log.js"
import { projectsScenario } from "./scenarios/projects.js"
import { pushScenario } from "./scenarios/push.js"
import { roundTripScenario } from "./scenarios/roundtrip.js"
import { idleScenario, sendScenario } from "./scenarios/send.js"
import { spreadScenario } from "./scenarios/spread.js"
import { sseScenario } from "./scenarios/sse.js"

export type { Context } from "./scenarios/context.js"

export const scenarioNames = ["send", "idle", "roundtrip", "fanout", "sse", "startup", "replay", "memory", "push", "bridges", "jetstream", "projects", "spread"] as const
export type ScenarioName = (typeof scenarioNames)[number]

export const describeScenario: Record<ScenarioName, string> = {
  send: "1. channel send throughput, 10 and 100 connections",
  idle: "   waiting costs nothing per event: sends with 1,000 idle command waiters parked",
  roundtrip: "2. command round trip, alone and with 1,000 idle waiters",
  fanout: "3. fan-out: 1,000 waiters on one signal",
  sse: "4. SSE: 100 clients, 10,000-event burst",
  startup: "5. start-up on 100k and 1M-event logs, with and without checkpoint",
  replay: "6. replay: /status?at=<seq> on the 1M-event log",
  memory: "7. memory: 10,000 peers; 1M-event log",
  push: "8. push latency: REST send → claude/channel at a stdio bridge, 100 bridges connected",
  bridges: "9. 1,000 idle bridges: broker CPU, RSS growth and log appends while idle",
  jetstream: "10. JetStream backend: channel send at 100 conns vs bare JetStream; command round trip",
  projects: "11. projects: channel sends spread over 100 projects × 10 peers vs into one project",
  spread: "12. spread (JetStream): 4 projects on 4 brokers, each its own stream, vs on 1 broker, 1 stream"
}

/** Scenarios 5–7 share their large logs and brokers; profiling any of them profiles those brokers. */
const logParts: ReadonlySet<ScenarioName> = new Set(["startup", "replay", "memory"])

export interface RunOptions {
  readonly quick: boolean
  readonly only: ReadonlyArray<ScenarioName>
  /** Profile the brokers of this scenario with --cpu-prof. */
  readonly profile?: ScenarioName | undefined
  readonly keep: boolean
  readonly log: (message: string) => void
}

export interface RunResult {
  readonly rows: ReadonlyArray<Row>
  readonly profile?: { readonly scenario: ScenarioName; readonly file: string; readonly summary: ProfileSummary } | undefined
  readonly seconds: number
}

export const makeContext = async (
  options: Pick<RunOptions, "quick" | "keep" | "log">,
  nodeFlags: Context["nodeFlags"] = () => []
): Promise<Context & { dispose(): Promise<void> }> => {
  const tmp = await mkdtemp(join(tmpdir(), "claude-ipc-bench-"))
  return {
    quick: options.quick,
    tmp,
    nodeFlags,
    log: options.log,
    keep: options.keep,
    dispose: () => (options.keep ? Promise.resolve() : rm(tmp, { recursive: true, force: true }))
  }
}

export const runBench = async (options: RunOptions): Promise<RunResult> => {
  const started = performance.now()
  const selected = scenarioNames.filter((name) => options.only.length === 0 || options.only.includes(name))
  const profileDir = options.profile === undefined ? undefined : await mkdtemp(join(tmpdir(), "claude-ipc-bench-prof-"))
  const profiles = (scenario: string): ReadonlyArray<string> => {
    if (profileDir === undefined || options.profile === undefined) return []
    const wanted = logParts.has(options.profile) ? logParts.has(scenario as ScenarioName) : scenario === options.profile
    return wanted ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []
  }
  const ctx = await makeContext(options, profiles)
  const rows: Array<Row> = []
  let logDone = false
  const runOne = async (name: ScenarioName): Promise<void> => {
    switch (name) {
      case "send":
        rows.push(...(await sendScenario(ctx)))
        break
      case "idle":
        rows.push(...(await idleScenario(ctx)))
        break
      case "roundtrip":
        rows.push(...(await roundTripScenario(ctx)))
        break
      case "fanout":
        rows.push(...(await fanOutScenario(ctx)))
        break
      case "sse":
        rows.push(...(await sseScenario(ctx)))
        break
      case "push":
        rows.push(...(await pushScenario(ctx)))
        break
      case "bridges":
        rows.push(...(await bridgesScenario(ctx)))
        break
      case "jetstream":
        rows.push(...(await jetStreamScenario(ctx)))
        break
      case "projects":
        rows.push(...(await projectsScenario(ctx)))
        break
      case "spread":
        rows.push(...(await spreadScenario(ctx)))
        break
      case "startup":
      case "replay":
      case "memory": {
        if (name === "memory") rows.push(...(await peersMemoryScenario(ctx)))
        if (!logDone) {
          logDone = true
          const parts = new Set(selected.filter((s): s is LogPart => logParts.has(s)))
          rows.push(...(await largeLogScenario(ctx, parts)))
        }
        break
      }
    }
  }
  try {
    for (const name of selected) {
      options.log(`\n${describeScenario[name].trim()}${options.quick ? " (quick)" : ""}`)
      const began = performance.now()
      try {
        await runOne(name)
      } catch (error) {
        // One broken scenario must not cost the others' results: it shows as a failed row.
        const message = error instanceof Error ? error.message : String(error)
        options.log(`  ! ${name} failed: ${message}`)
        rows.push({ scenario: `${name}: did not complete (${message.split("\n")[0]!.slice(0, 120)})`, unit: "", broker: NaN, baseline: null, target: { kind: "max", value: 0 } })
      }
      options.log(`  (${((performance.now() - began) / 1000).toFixed(1)} s)`)
    }
  } finally {
    await ctx.dispose()
  }
  let profile: RunResult["profile"]
  if (profileDir !== undefined && options.profile !== undefined) {
    const files = (await readdir(profileDir)).filter((file) => file.endsWith(".cpuprofile"))
    const summaries = await Promise.all(files.map(async (file) => ({ file, summary: await summarise(join(profileDir, file)) })))
    // The broker that worked hardest is the one worth reading.
    const busiest = summaries.sort((a, b) => b.summary.busyMs - a.summary.busyMs)[0]
    if (busiest) {
      profile = { scenario: options.profile, file: join(profileDir, busiest.file), summary: busiest.summary }
      options.log(`\nCPU profile of the busiest broker in '${options.profile}' (${profile.file}):\n${formatSummary(busiest.summary)}`)
    } else {
      options.log(`\n! no .cpuprofile was written in ${profileDir}`)
    }
  }
  return { rows, profile, seconds: (performance.now() - started) / 1000 }
}
