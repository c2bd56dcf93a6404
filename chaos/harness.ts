/**
 * One chaos run: start the brokers (and nats-server), run the mixed load, inject faults until the
 * time is up, drain, check every invariant against the log, stop and clean up — always, even when
 * something throws or the user presses Ctrl-C (see `cleanupNow`).
 */
import { randomBytes } from "node:crypto"
import { rmSync } from "node:fs"
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
import { execFile, execFileSync } from "node:child_process"
import { promisify } from "node:util"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { finalCheck, hashOf, LogWatch, type BackendVerdict, type LogEvent } from "./checks.js"
import { dropLoop } from "./drops.js"
import { Injector, TmpfsDisk, type FaultKind, type FaultRecord } from "./faults.js"
import { RequestStats, type Target } from "./http.js"
import { Findings, Ledger, type Backend } from "./ledger.js"
import { ChannelReader, channelWriter, sender, SseFollower, signalRounds, worker, type Ctx, type Node } from "./load.js"
import { mcpClient, mcpWorker } from "./mcp.js"
import { brokerBin, findPython, freePort, killChildren, natsServerVersion, sleep, SupervisedBroker, SupervisedNats } from "./processes.js"
import { seeded } from "../test/support/random.js"

export interface ChaosOptions {
  /** How long faults are injected under load (the drain and checks come on top). */
  readonly durationMs: number
  /** Random gap between two faults (the first comes after one gap). */
  readonly gapMs: readonly [number, number]
  /** A fixed sequence of faults instead of random ones (the smoke test: one of each). */
  readonly schedule?: ReadonlyArray<FaultKind | { readonly kind: FaultKind; readonly target: "file" | "node-a" | "node-b" }>
  readonly seed?: number
  readonly tmpfsMb?: number
  readonly maxRssMb?: number
  /** How long the round trips get to finish after the load stops. */
  readonly drainMs?: number
  readonly keep?: boolean
  /** Another checkout's bin (e.g. an older commit, to see a fixed defect found again). */
  readonly bin?: string
  /** Brokers' parent reaps them this many ms (a random value in the range) after they die
   * (chaos/lazy-parent.py); [0, 0]: the harness itself is their parent. Default [0, 6000]. */
  readonly zombieMs?: readonly [number, number]
  readonly log?: (line: string) => void
}

export interface ChaosResult {
  readonly seconds: number
  readonly durationMs: number
  readonly skipped: ReadonlyArray<string>
  readonly faults: ReadonlyArray<FaultRecord>
  readonly drops: ReadonlyMap<string, number>
  readonly verdicts: ReadonlyArray<BackendVerdict>
  readonly requests: { total: number; ok: number; refusedByStatus: ReadonlyMap<number, number>; errors: number; stalls: number; aborted: number }
  readonly stallRecords: RequestStats["stallRecords"]
  /** MCP calls cut by a SIGKILL that the SDK left waiting for their timeout. */
  readonly orphaned: { count: number; records: RequestStats["orphanRecords"] }
  /** The most frequent refusals: "status code route" → count. */
  readonly refusals: ReadonlyArray<readonly [string, number]>
  readonly writesAcked: Readonly<Record<string, number>>
  readonly roundTrips: { sent: number; completed: number; unfinished: number; byStatus: Readonly<Record<string, number>>; p50Ms: number; p99Ms: number }
  readonly restarts: {
    afterKill: number
    refusedByLock: number
    failedOther: number
    unexpectedExits: ReadonlyArray<{ broker: string; code: number | null; signal: string | null; output: string }>
    failures: ReadonlyArray<{ broker: string; reason: string; failure: string; output: string }>
    slowestMs: number
    medianMs: number
    fromTsx: number
  }
  readonly memory: { peakRssMb: Record<string, number>; endRssMb: Record<string, number>; natsPeakRssMb: number; limitMb: number }
  readonly sse: { followers: number; events: number; reconnects: number }
  readonly channelReads: number
  readonly natsVersion: string | undefined
  /** How long a killed broker stayed a zombie (its parent's reap delay), when it ran under the lazy parent. */
  readonly zombieMs: readonly [number, number] | undefined
  readonly bin: string
  readonly findings: Findings
  readonly logEvents: Readonly<Record<string, number>>
}


// What must be undone however the run ends: mounts to unmount, directories to remove.
const mounts = new Set<string>()
const dirs = new Set<string>()

/** Synchronous last-resort cleanup (Ctrl-C, an uncaught error): kill, unmount, remove. */
export const cleanupNow = (): void => {
  killChildren()
  for (const mount of mounts) {
    try {
      execFileSync("umount", ["-l", mount], { stdio: "ignore" })
    } catch {
      // Not mounted (any more).
    }
  }
  mounts.clear()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  dirs.clear()
}

// However the process ends (a test runner tearing down a timed-out test included).
process.once("exit", cleanupNow)

const quantile = (values: ReadonlyArray<number>, q: number) => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export const runChaos = async (options: ChaosOptions): Promise<ChaosResult> => {
  const log = options.log ?? (() => undefined)
  const started = Date.now()
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  const runId = randomBytes(3).toString("hex")
  const skipped: Array<string> = []
  const base = await mkdtemp(join(tmpdir(), "chaos-"))
  dirs.add(base)
  const stats = new RequestStats()
  const ledger = new Ledger(runId)
  const findings = new Findings()
  const ctx: Ctx = {
    stats,
    ledger,
    findings,
    // The tests' and the bench's generator, so a run's choices can be repeated with --seed.
    random: seeded(seed).next,
    phase: { load: true, workers: true, streams: true },
    log,
    drops: new Map(),
    channelAcks: new Map(),
    mcpSessions: new Set(),
    faultEpoch: 0,
    faultActive: false
  }
  log(`chaos run ${runId}, seed ${seed}, working in ${base}`)

  let disk: TmpfsDisk | undefined
  let nats: SupervisedNats | undefined
  const brokers: Array<SupervisedBroker> = []
  const loadLoops: Array<Promise<unknown>> = []
  const workerLoops: Array<Promise<unknown>> = []
  const streamLoops: Array<Promise<unknown>> = []
  const allLoops = () => [...loadLoops, ...workerLoops, ...streamLoops]
  try {
    // The file broker's data dir: on a tmpfs of our own if we may mount one.
    const mounted = await TmpfsDisk.mount(join(base, "tmpfs"), options.tmpfsMb ?? 64)
    if (typeof mounted === "string") {
      skipped.push(`full-disk faults skipped: ${mounted}`)
      log(`SKIP full-disk faults: ${mounted}`)
    } else {
      disk = mounted
      mounts.add(disk.mountDir)
      log(`tmpfs of ${disk.sizeMb} MiB mounted at ${disk.mountDir}`)
    }
    const fileDir = disk?.dataDir ?? join(base, "file-data")
    await mkdir(fileDir, { recursive: true })
    const leaseArgs = ["--lease-ms", "6000"]
    const [zombieLow, zombieHigh] = options.zombieMs ?? [0, 6_000]
    const python = zombieHigh > 0 ? await findPython() : undefined
    if (zombieHigh > 0 && python === undefined) {
      skipped.push("zombie windows skipped: no python3 for chaos/lazy-parent.py; the harness itself is the brokers' parent and reaps them at once")
      log("SKIP zombie windows: no python3")
    }
    const zombieMs = python === undefined ? undefined : ([zombieLow, zombieHigh] as const)
    const brokerOptions = {
      ...(options.bin === undefined ? {} : { bin: options.bin }),
      ...(python === undefined ? {} : { lazyParent: { python, reapDelayMs: () => zombieLow + ctx.random() * (zombieHigh - zombieLow) } })
    }
    brokers.push(new SupervisedBroker("file", await freePort(), fileDir, leaseArgs, log, brokerOptions))

    const natsVersion = await natsServerVersion()
    if (natsVersion === undefined) {
      skipped.push("JetStream cluster and nats-server restarts skipped: no nats-server on the PATH")
      log("SKIP the JetStream cluster: no nats-server on the PATH")
    } else {
      nats = new SupervisedNats(await freePort(), join(base, "nats-store"), log)
      await nats.start()
      log(`${natsVersion} on ${nats.url}, store ${nats.storeDir}`)
      const stream = `CHAOS_${runId.toUpperCase()}`
      for (const name of ["node-a", "node-b"]) {
        const dir = join(base, name)
        await mkdir(dir, { recursive: true })
        brokers.push(new SupervisedBroker(name, await freePort(), dir, ["--store", nats.url, "--nats-stream", stream, ...leaseArgs], log, brokerOptions))
      }
    }
    await Promise.all(brokers.map((broker) => broker.start("first")))
    log(`brokers up: ${brokers.map((b) => `${b.name} ${b.url} (pid ${b.pid})`).join(", ")}`)

    const nodes: Array<Node> = brokers.map((broker) => ({
      target: { name: broker.name, url: broker.url },
      backend: broker.name === "file" ? "file" : "cluster",
      broker
    }))
    const byBackend = (backend: Backend) => nodes.filter((node) => node.backend === backend)
    const backends = (["file", "cluster"] as const).filter((backend) => byBackend(backend).length > 0)
    const upOf = (target: Target) => brokers.find((b) => b.name === target.name)?.up ?? false
    const watches = new Map(backends.map((backend) => [backend, new LogWatch(backend, byBackend(backend).map((n) => n.target), stats, upOf)]))

    // The load.
    const followers: Array<SseFollower> = []
    const readers: Array<ChannelReader> = []
    for (const backend of backends) {
      const group = byBackend(backend)
      const role = `work-${backend}`
      const mcpRole = `mcpw-${backend}`
      const channels = [`ch-${backend}-0`, `ch-${backend}-1`]
      const workersPerNode = backend === "file" ? 3 : 2
      for (const node of group) {
        for (let i = 0; i < workersPerNode; i++) workerLoops.push(worker(ctx, node, `w-${node.target.name}-${i}`, role))
        const sendersPerNode = backend === "file" ? 2 : 1
        for (let i = 0; i < sendersPerNode; i++) loadLoops.push(sender(ctx, node, `s-${node.target.name}-${i}`, [role, role, role, mcpRole], group))
        loadLoops.push(channelWriter(ctx, node, `cw-${node.target.name}`, channels))
        const mine = [new SseFollower(node, `sse-${node.target.name}-0`), new SseFollower(node, `sse-${node.target.name}-1`)]
        followers.push(...mine)
        for (const follower of mine) streamLoops.push(follower.run(ctx))
        loadLoops.push(dropLoop(ctx, node, mine))
      }
      if (backend === "file") loadLoops.push(channelWriter(ctx, group[0]!, `cw-file-2`, channels))
      for (const channel of channels) {
        const reader = new ChannelReader(channel, group, backend)
        readers.push(reader)
        streamLoops.push(reader.run(ctx))
      }
      loadLoops.push(signalRounds(ctx, group, backend, `sg-${backend}`))
      // MCP: a client and a worker session on the first node of each backend.
      loadLoops.push(mcpClient(ctx, group[0]!, [role, mcpRole]))
      workerLoops.push(mcpWorker(ctx, group[0]!, mcpRole))
    }

    // Memory, every second; the log, read as it grows (interim checks), every 10 s.
    const sampling = (async () => {
      while (ctx.phase.streams) {
        await Promise.all([...brokers.map((b) => b.sampleRss()), nats?.sampleRss()])
        await sleep(1_000)
      }
    })()
    const interim = async () => {
      for (const watch of watches.values()) await watch.catchUp(ledger, findings)
    }
    const interimLoop = (async () => {
      for (let tick = 1; ctx.phase.load; tick++) {
        await sleep(500)
        if (tick % 20 === 0 && ctx.phase.load) await interim()
      }
    })()

    // The faults.
    const injector = new Injector(ctx, nodes, nats, disk)
    const faults: Array<FaultRecord> = []
    const endAt = Date.now() + options.durationMs
    const schedule = options.schedule
    const choose = (): { kind: FaultKind; target?: Node } => {
      if (schedule !== undefined) {
        const item = schedule[faults.length % schedule.length]!
        const kind = typeof item === "string" ? item : item.kind
        const target = typeof item === "string" ? undefined : nodes.find((n) => n.target.name === item.target)
        // Where a fault cannot be injected here (no tmpfs, no nats-server), a SIGKILL of a broker stands in.
        if (!injector.kinds().some((k) => k.kind === kind)) return { kind: "broker SIGKILL + restart", target: target ?? nodes[0]! }
        return target === undefined ? { kind } : { kind, target }
      }
      const kinds = injector.kinds()
      let r = ctx.random() * kinds.reduce((sum, k) => sum + k.weight, 0)
      for (const k of kinds) if ((r -= k.weight) < 0) return { kind: k.kind }
      return { kind: kinds[0]!.kind }
    }
    const [gapLow, gapHigh] = options.gapMs
    // A fixed schedule is injected whole, however long its faults take on a loaded machine (each
    // fault bounds its own waits, so the loop still ends).
    const more = () => Date.now() < endAt || (schedule !== undefined && faults.length < schedule.length)
    while (more()) {
      const gap = gapLow + Math.floor(ctx.random() * (gapHigh - gapLow + 1))
      if (Date.now() + gap >= endAt && (schedule === undefined || faults.length >= schedule.length)) {
        await sleep(Math.max(0, endAt - Date.now()))
        break
      }
      await sleep(gap)
      if (schedule !== undefined && faults.length >= schedule.length) continue
      const { kind, target } = choose()
      ctx.faultActive = true
      ctx.faultEpoch++
      try {
        const record = await injector.inject(kind, target)
        faults.push(record)
        log(
          `fault ${faults.length}: ${record.kind} (${record.target}): unavailable ${record.unavailableMs === undefined ? "> bound" : `${record.unavailableMs} ms`}` +
            `${record.restartMs !== undefined ? `, restart ${record.restartMs} ms` : ""}` +
            `${record.fullMs !== undefined ? `, full ${record.fullMs} ms (${record.writesRefusedWhileFull} writes refused, ${record.writesAckedWhileFull} acked)` : ""}` +
            `${record.note ? `; ${record.note}` : ""}` +
            ` [harness: rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MB]`
        )
        if (record.unavailableMs === undefined) findings.add("no acknowledged write within 120 s of a fault", `${record.kind} on ${record.target} at ${record.at}`)
      } catch (error) {
        findings.add("fault injector failed", `${kind}: ${error instanceof Error ? error.stack : String(error)}`)
      } finally {
        ctx.faultActive = false
        ctx.faultEpoch++
      }
      await interim()
    }

    // Drain: no new work; round trips get `drainMs` to finish (senders wait for their results);
    // then the workers stop.
    log(`load stops after ${faults.length} faults; draining`)
    ctx.phase.load = false
    await Promise.all(brokers.map((b) => b.settled()))
    await Promise.race([Promise.all(loadLoops), sleep(options.drainMs ?? 30_000)])
    ctx.phase.workers = false
    // MCP calls a kill left hanging (see mcp.ts) would hold the drain up to their timeouts.
    await Promise.all([...ctx.mcpSessions].map((session) => session.close()))
    await Promise.race([Promise.all([...loadLoops, ...workerLoops]), sleep(60_000)])
    await interimLoop
    log(`round trips: ${ledger.roundTrips.filter((t) => t.settledAt !== undefined).length} of ${ledger.roundTrips.length} settled; workers stopped`)

    // Streams catch up to each backend's head, then stop.
    const heads = new Map<Backend, number>()
    for (const backend of backends) {
      await watches.get(backend)!.catchUp(ledger, findings)
      heads.set(backend, watches.get(backend)!.index.next - 1)
    }
    const caughtUpBy = Date.now() + 20_000
    while (Date.now() < caughtUpBy && followers.some((f) => f.lastSeq < heads.get(f.node.backend)!)) await sleep(100)
    for (const reader of readers) {
      for (let i = 0; i < 20 && (await reader.readOnce(ctx, 0)) !== 0; i++) {
        // Read until a read returns nothing new.
      }
    }
    ctx.phase.streams = false
    log("streams caught up; checking the logs")
    for (const follower of followers) {
      if (follower.lastSeq < heads.get(follower.node.backend)!) {
        stats.stalls++
        findings.add("SSE follower did not catch up", `${follower.name}: at seq ${follower.lastSeq}, head ${heads.get(follower.node.backend)} (${follower.reconnects} reconnects)`)
      }
      follower.stop()
    }
    await Promise.race([Promise.all(allLoops()), sleep(60_000)])
    await sampling

    // The verdicts.
    const verdicts: Array<BackendVerdict> = []
    const logEvents: Record<string, number> = {}
    for (const backend of backends) {
      const group = byBackend(backend)
      const { verdict, events } = await finalCheck({
        backend,
        nodes: group.map((n) => n.target),
        ...(backend === "file" ? { file: join(fileDir, "events.ndjson") } : {}),
        watch: watches.get(backend)!,
        ledger,
        findings,
        stats,
        readFile: (path) => readFile(path, "utf8")
      })
      verdicts.push(verdict)
      logEvents[backend] = events.length
      compareStreams(backend, events, followers, readers, findings)
    }

    const endRssMb: Record<string, number> = {}
    for (const broker of brokers) endRssMb[broker.name] = Math.round(await broker.sampleRss())
    const limitMb = options.maxRssMb ?? 1024
    for (const broker of brokers) {
      if (broker.peakRssMb > limitMb) findings.add("broker memory above the bound", `${broker.name}: peak RSS ${broker.peakRssMb.toFixed(0)} MB > ${limitMb} MB`)
    }

    const starts = brokers.flatMap((b) => b.starts.map((s) => ({ ...s, broker: b.name })))
    const afterKill = starts.filter((s) => s.reason === "after-kill")
    const okStarts = afterKill.filter((s) => s.failure === undefined)
    for (const s of starts.filter((s) => s.failure === "lock" && s.reason === "after-kill")) {
      findings.add("restart right after SIGKILL refused", `${s.broker}: ${s.output?.split("\n").find((line) => /in use/.test(line)) ?? s.output}`)
    }
    const writesAcked: Record<string, number> = {}
    for (const record of ledger.writes.values()) if (record.fate === "acked") writesAcked[`${record.kind} (${record.via})`] = (writesAcked[`${record.kind} (${record.via})`] ?? 0) + 1
    const trips = ledger.roundTrips
    const completed = trips.filter((t) => t.settledAt !== undefined)
    const byStatus: Record<string, number> = {}
    for (const trip of completed) byStatus[trip.status!] = (byStatus[trip.status!] ?? 0) + 1
    const peakRssMb: Record<string, number> = {}
    for (const broker of brokers) peakRssMb[broker.name] = Math.round(broker.peakRssMb)

    return {
      seconds: (Date.now() - started) / 1000,
      durationMs: options.durationMs,
      skipped,
      faults,
      drops: ctx.drops,
      verdicts,
      requests: { total: stats.total, ok: stats.ok, refusedByStatus: stats.refusedByStatus, errors: stats.errors, stalls: stats.stalls, aborted: stats.aborted },
      stallRecords: stats.stallRecords,
      orphaned: { count: stats.orphaned, records: stats.orphanRecords },
      refusals: [...stats.refusals].sort((a, b) => b[1] - a[1]).slice(0, 12),
      writesAcked,
      roundTrips: {
        sent: trips.length,
        completed: completed.length,
        unfinished: trips.length - completed.length,
        byStatus,
        p50Ms: quantile(completed.map((t) => t.settledAt! - t.sentAt), 0.5),
        p99Ms: quantile(completed.map((t) => t.settledAt! - t.sentAt), 0.99)
      },
      restarts: {
        afterKill: okStarts.length,
        refusedByLock: afterKill.filter((s) => s.failure === "lock").length,
        failedOther: starts.filter((s) => s.failure !== undefined && s.failure !== "lock").length,
        unexpectedExits: brokers.flatMap((b) => b.unexpectedExits.map((e) => ({ broker: b.name, code: e.code, signal: e.signal, output: e.output.split("\n").slice(-8).join("\n") }))),
        failures: starts.filter((s) => s.failure !== undefined).map((s) => ({ broker: s.broker, reason: s.reason, failure: s.failure!, output: (s.output ?? "").split("\n").slice(-6).join("\n") })),
        slowestMs: Math.round(Math.max(0, ...okStarts.map((s) => s.ms))),
        medianMs: Math.round(quantile(okStarts.map((s) => s.ms), 0.5)),
        fromTsx: starts.filter((s) => !s.fromDist).length
      },
      memory: { peakRssMb, endRssMb, natsPeakRssMb: Math.round(nats?.peakRssMb ?? 0), limitMb },
      sse: { followers: followers.length, events: followers.reduce((n, f) => n + f.received, 0), reconnects: followers.reduce((n, f) => n + f.reconnects, 0) },
      channelReads: readers.reduce((n, r) => n + r.reads, 0),
      natsVersion,
      zombieMs,
      bin: options.bin ?? brokerBin,
      findings,
      logEvents
    }
  } finally {
    ctx.phase.load = false
    ctx.phase.workers = false
    ctx.phase.streams = false
    await Promise.race([Promise.all(allLoops()), sleep(15_000)]).catch(() => undefined)
    await Promise.all(brokers.map((b) => b.stop().catch(() => undefined)))
    await nats?.stop().catch(() => undefined)
    killChildren()
    if (options.keep === true && disk !== undefined) {
      // The tmpfs goes away with the unmount: keep a copy of what was on it.
      await execFileAsync("cp", ["-a", disk.dataDir, join(base, "file-data-kept")]).catch(() => undefined)
    }
    if (disk !== undefined) {
      await disk.unmount()
      mounts.delete(disk.mountDir)
    }
    if (options.keep === true) {
      dirs.delete(base)
      log(`kept ${base}`)
    } else {
      await rm(base, { recursive: true, force: true })
      dirs.delete(base)
    }
  }
}

const execFileAsync = promisify(execFile)

/** Every SSE follower saw exactly the log; every channel reader read each channel's messages in log order. */
const compareStreams = (
  backend: Backend,
  events: ReadonlyArray<LogEvent>,
  followers: ReadonlyArray<SseFollower>,
  readers: ReadonlyArray<ChannelReader>,
  findings: Findings
) => {
  const hashes = new Map<number, number>()
  for (const follower of followers.filter((f) => f.node.backend === backend)) {
    let mismatches = 0
    for (const event of events) {
      const seen = follower.hashes.get(event.seq)
      if (seen === undefined) continue
      let expected = hashes.get(event.seq)
      if (expected === undefined) {
        expected = hashOf(event)
        hashes.set(event.seq, expected)
      }
      if (seen !== expected && mismatches++ < 3) findings.add("SSE event differs from the log", `${follower.name}: seq ${event.seq} (${event.type})`)
    }
  }
  for (const reader of readers.filter((r) => r.backend === backend)) {
    const tokens = events.filter((e) => e.type === "message.sent" && e.data?.channel === reader.channel).map((e) => e.data?.message?.token)
    for (let id = 1; id <= reader.since; id++) {
      if (reader.tokens[id] !== tokens[id - 1]) {
        findings.add("channel read differs from the log", `${reader.channel} #${id}: read ${reader.tokens[id]}, log ${tokens[id - 1]}`)
        break
      }
    }
    if (reader.since < tokens.length) findings.add("channel reader did not catch up", `${reader.channel}: read to #${reader.since}, the log has ${tokens.length}`)
  }
}
