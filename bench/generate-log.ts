/**
 * Writes a realistic `events.ndjson` straight to disk, in the broker's storage format
 * (`{"seq","at","type","data"}` per line), so that start-up, replay and memory can be measured on
 * large logs without pushing a million events through HTTP first.
 *
 * The mix follows what a busy broker records: mostly `message.sent` on a handful of channels, a
 * steady trickle of commands that are sent, claimed and acked, peers that connect, heartbeat and
 * leave, and now and then a signal. Every command is settled and every peer is offline by the end,
 * so a broker started on the file has no sweeping to do and starts from a quiet state.
 *
 *   node --import tsx bench/generate-log.ts <data-dir> <count>
 */
import { mkdir } from "node:fs/promises"
import { createWriteStream } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { seeded } from "../test/support/random.js"

const channels = ["general", "builds", "reviews", "deploys", "tests", "chat", "alerts", "notes"]
const roles = ["backend", "frontend", "reviewer", "tester"]
const words = "the build passed failed on main branch review ready merge tests flaky fixed retry deploy staging prod".split(" ")

export interface GenerateOptions {
  readonly count: number
  readonly seed?: number
  /** Average milliseconds between events; the last event is close to now. */
  readonly spacingMs?: number
}

export interface Generated {
  readonly path: string
  readonly events: number
  readonly bytes: number
  readonly byType: Readonly<Record<string, number>>
}

/** Writes `<dataDir>/events.ndjson` with `count` events (replacing any file there). */
export const generateLog = async (dataDir: string, options: GenerateOptions): Promise<Generated> => {
  await mkdir(dataDir, { recursive: true })
  const path = join(dataDir, "events.ndjson")
  const out = createWriteStream(path)
  // The same file for the same seed.
  const { int } = seeded(options.seed ?? 42)
  const spacing = options.spacingMs ?? 20
  let ms = Date.now() - options.count * spacing - 60_000
  let seq = 0
  let bytes = 0
  const byType: Record<string, number> = {}
  let chunk: Array<string> = []
  let chunkBytes = 0

  const flush = async () => {
    if (chunk.length === 0) return
    const text = chunk.join("")
    chunk = []
    chunkBytes = 0
    if (!out.write(text)) await new Promise<void>((resolve) => out.once("drain", resolve))
  }

  const emit = (type: string, data: object): void => {
    seq += 1
    ms += 1 + int(spacing * 2)
    const line = `{"seq":${seq},"at":"${new Date(ms).toISOString()}","type":"${type}","data":${JSON.stringify(data)}}\n`
    chunk.push(line)
    chunkBytes += line.length
    bytes += line.length // every generated line is ASCII
    byType[type] = (byType[type] ?? 0) + 1
  }

  const online: Array<{ id: string; role: string }> = []
  let nextPeer = 0
  let nextCommand = 0
  /** Commands on their way: sent → delivered → acked, a few events apart. */
  const inFlight: Array<{ id: string; state: "sent" | "delivered"; peer: string }> = []
  const sentence = () => Array.from({ length: 6 + int(10) }, () => words[int(words.length)]).join(" ")

  const connect = () => {
    const peer = { id: `peer-${nextPeer++}`, role: roles[int(roles.length)]! }
    online.push(peer)
    emit("peer.connected", { peerId: peer.id, role: peer.role, capabilities: ["git", "test"], name: null })
  }
  for (let i = 0; i < 8; i++) connect()

  // Leave room at the end to settle every command and take every peer offline.
  const body = options.count - 64
  while (seq < body) {
    if (chunkBytes >= 1 << 20) await flush()
    const r = int(1000)
    if (r < 880) {
      const from = online.length > 0 && r % 2 === 0 ? online[int(online.length)]!.id : null
      emit("message.sent", {
        channel: channels[int(channels.length)],
        from,
        message: { text: sentence(), n: seq, ok: r % 3 === 0 }
      })
    } else if (r < 900 && online.length > 0) {
      emit("peer.heartbeat", { peerId: online[int(online.length)]!.id })
    } else if (r < 903 && online.length < 40) {
      connect()
    } else if (r < 905 && online.length > 8) {
      const [peer] = online.splice(int(online.length), 1)
      if (inFlight.some((c) => c.peer === peer!.id)) online.push(peer!)
      else emit("peer.went_offline", { peerId: peer!.id, reason: "disconnected" })
    } else if (r < 935 && online.length > 0 && inFlight.length < 16) {
      const peer = online[int(online.length)]!
      const id = `cmd-${nextCommand++}`
      inFlight.push({ id, state: "sent", peer: peer.id })
      emit("command.sent", {
        commandId: id,
        from: "human",
        target: peer.id,
        action: "run-tests",
        params: { suite: words[int(words.length)], n: nextCommand },
        ttlMs: null
      })
    } else if (r < 998 && inFlight.length > 0) {
      const command = inFlight[0]!
      if (command.state === "sent") {
        command.state = "delivered"
        emit("command.delivered", { commandId: command.id, peerId: command.peer, leaseMs: 600_000 })
      } else {
        inFlight.shift()
        emit("command.acked", { commandId: command.id, ok: true, result: { passed: 10 + int(90) }, by: command.peer })
      }
    } else {
      const name = ["ready", "done", "go"][int(3)]!
      if (r % 2 === 0) emit("signal.fired", { name, data: { round: seq }, by: null })
      else emit("signal.cleared", { name })
    }
  }
  for (const command of inFlight.splice(0)) {
    if (command.state === "sent") emit("command.delivered", { commandId: command.id, peerId: command.peer, leaseMs: 600_000 })
    emit("command.acked", { commandId: command.id, ok: true, result: { passed: 1 }, by: command.peer })
  }
  for (const peer of online.splice(0)) emit("peer.went_offline", { peerId: peer.id, reason: "disconnected" })
  while (seq < options.count) {
    emit("message.sent", { channel: "general", from: null, message: { text: sentence(), n: seq, ok: true } })
  }
  await flush()
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
  return { path, events: seq, bytes, byType }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [dir, count] = process.argv.slice(2)
  if (!dir || !count) {
    console.error("usage: node --import tsx bench/generate-log.ts <data-dir> <count>")
    process.exit(2)
  }
  const started = Date.now()
  const result = await generateLog(dir, { count: Number(count) })
  console.log(`${result.path}: ${result.events} events, ${(result.bytes / 1e6).toFixed(1)} MB in ${Date.now() - started} ms`)
  console.log(result.byType)
}
