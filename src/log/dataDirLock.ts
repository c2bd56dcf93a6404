import { Effect, type Scope } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as nodePath from "node:path"
import { LogUnavailable } from "../core/errors.js"

/** The lock itself: a Unix domain socket the broker listens on while it uses the data dir. */
export const lockSocketName = "broker.sock"
/** The holder's pid, for people (and for older versions, which read it); never trusted as the lock. */
export const lockFileName = "broker.lock"

/**
 * `sun_path` holds 108 bytes on Linux and 104 on macOS, the terminating NUL included; Node does not
 * refuse a longer path, it silently binds a truncated one. The lock's names (the socket, and the
 * temporary names beside it, 9 bytes longer) must fit in the smaller.
 */
const maxSocketPathBytes = 103
const scratchSuffixBytes = 9

/** How long a live holder gets to say its pid before it is named without one. */
const pidAnswerMs = 2_000
/** Takeovers of a leftover socket in a row before giving up (another broker keeps starting). */
const maxAttempts = 5

/**
 * Where the lock of a data dir (its real path) lives: `broker.sock` inside it, or, when that path is
 * too long for a Unix socket, a socket in the OS temp dir named by a hash of the data dir's real
 * path (every broker started on the same directory computes the same name).
 */
export const lockSocketPath = (realDataDir: string): string => {
  const inside = nodePath.join(realDataDir, lockSocketName)
  if (Buffer.byteLength(inside) + scratchSuffixBytes <= maxSocketPathBytes) return inside
  const hash = createHash("sha256").update(realDataDir).digest("hex").slice(0, 32)
  return nodePath.join(os.tmpdir(), `claude-ipc-broker-${hash}.sock`)
}

/** A name beside the lock's, on the same file system (links and renames need that), unique to this attempt. */
const scratchPath = (socketPath: string) => `${socketPath}.${randomBytes(4).toString("hex")}`

/** What a connection to a lock socket tells. */
type Probe =
  | { readonly kind: "live"; readonly pid: number | undefined }
  /** Nobody listens: its owner is dead (the kernel closed the socket when it died). */
  | { readonly kind: "dead" }
  | { readonly kind: "gone" }
  | { readonly kind: "unknown"; readonly error: NodeJS.ErrnoException }

/** Connects to a lock socket; a live holder answers its pid and hangs up. */
const probe = (socketPath: string): Promise<Probe> =>
  new Promise((resolve) => {
    const socket = net.connect(socketPath)
    let answer = ""
    let connected = false
    let settled = false
    const done = (result: Probe) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => done({ kind: "live", pid: undefined }), pidAnswerMs)
    socket.setEncoding("utf8")
    socket.on("connect", () => (connected = true))
    socket.on("data", (chunk: string) => (answer += chunk))
    socket.on("end", () => done({ kind: "live", pid: parsePid(answer) }))
    socket.on("close", () => done(connected ? { kind: "live", pid: parsePid(answer) } : { kind: "dead" }))
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (connected) return done({ kind: "live", pid: parsePid(answer) })
      if (error.code === "ECONNREFUSED") return done({ kind: "dead" })
      if (error.code === "ENOENT") return done({ kind: "gone" })
      done({ kind: "unknown", error })
    })
  })

const parsePid = (text: string): number | undefined => {
  const pid = Number.parseInt(text, 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

const readPidFile = async (path: string): Promise<number | undefined> => {
  try {
    return parsePid(await fs.readFile(path, "utf8"))
  } catch {
    return undefined
  }
}

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException | null)?.code

/** Runs `attempt`, answering undefined instead of throwing when the error has one of `codes`. */
const unless = async <A>(codes: ReadonlyArray<string>, attempt: () => Promise<A>): Promise<A | undefined> => {
  try {
    return await attempt()
  } catch (error) {
    if (codes.includes(errnoOf(error) ?? "")) return undefined
    throw error
  }
}

const listen = (server: net.Server, path: string) =>
  new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(path, () => {
      server.off("error", reject)
      resolve()
    })
  })

const closeServer = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()))

type Taking = { readonly taken: true } | { readonly taken: false; readonly owner: Probe & { kind: "live" } }

/**
 * Put our listening socket (bound at `scratch`) at `socketPath`, unless a live broker is there.
 *
 * `link` creates the name only if nothing has it, so two brokers never both succeed. A leftover
 * (nobody listens) is first renamed away to a name of our own, which only one contender can do, and
 * deleted only once that renamed socket is seen to be dead too: a broker that took the lock between
 * our check and our rename is put back, never deleted.
 */
const take = async (scratch: string, socketPath: string): Promise<Taking> => {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if ((await unless(["EEXIST"], () => fs.link(scratch, socketPath).then(() => true))) === true) return { taken: true }
    const there = await probe(socketPath)
    if (there.kind === "live") return { taken: false, owner: there }
    if (there.kind === "unknown") throw there.error
    if (there.kind === "gone") continue
    const moved = scratchPath(socketPath)
    if ((await unless(["ENOENT"], () => fs.rename(socketPath, moved).then(() => true))) === undefined) continue
    const after = await probe(moved)
    if (after.kind === "dead" || after.kind === "gone") {
      await unless(["ENOENT"], () => fs.unlink(moved))
      continue
    }
    // A broker took the lock between our look and our rename (or we cannot tell): put it back, never delete it.
    await unless(["EEXIST"], () => fs.link(moved, socketPath))
    await unless(["ENOENT"], () => fs.unlink(moved))
    if (after.kind === "live") return { taken: false, owner: after }
    throw after.error
  }
  throw new Error(`other brokers keep taking ${socketPath} over`)
}

interface Held {
  readonly server: net.Server
  readonly socketPath: string
  readonly ino: number
}

/** Give the lock up: its name first, so that a broker starting now finds it gone rather than refused. */
const release = async ({ server, socketPath, ino }: Held, pidFile: string) => {
  const stillOurs = await fs.stat(socketPath).then((stat) => stat.ino === ino, () => false)
  if (stillOurs) await unless(["ENOENT"], () => fs.unlink(socketPath)).catch(() => undefined)
  await closeServer(server)
  if ((await readPidFile(pidFile)) === process.pid) await fs.rm(pidFile, { force: true }).catch(() => undefined)
}

/** Takes the lock at `socketPath`, or learns who holds it. */
const acquire = async (socketPath: string, pidFile: string): Promise<Held | { readonly owner: number | undefined }> => {
  const server = net.createServer((connection) => {
    connection.on("error", () => undefined) // a contender that hangs up first
    connection.end(`${process.pid}\n`)
  })
  server.on("error", () => undefined)
  // A lock must never be what keeps a process alive.
  server.unref()
  const scratch = scratchPath(socketPath)
  await listen(server, scratch)
  let held: Held | undefined
  try {
    const { ino } = await fs.stat(scratch)
    const taking = await take(scratch, socketPath)
    if (!taking.taken) return { owner: taking.owner.pid ?? (await readPidFile(pidFile)) }
    held = { server, socketPath, ino }
    await fs.writeFile(pidFile, `${process.pid}\n`, { mode: 0o644 })
    return held
  } catch (error) {
    if (held !== undefined) await release(held, pidFile)
    throw error
  } finally {
    // The scratch name is ours alone: whether the socket was taken (and is reachable under the lock's
    // name now) or not, it goes. Closing a server that holds no lock frees the socket too.
    await unless(["ENOENT"], () => fs.unlink(scratch))
    if (held === undefined) await closeServer(server)
  }
}

/**
 * One broker per data dir: two processes appending to one `events.ndjson` would interleave their
 * records and number them twice.
 *
 * The lock is a Unix domain socket the broker listens on. The kernel closes it the moment its owner
 * dies, however it dies, so a killed broker never leaves a lock behind: not as a zombie its parent
 * has not reaped, and not as a pid that another process has since been given (pid 1 after a
 * container restart) — both of which a pid in a file cannot tell from a live broker. A second broker
 * connects to it: a connection means a live holder, which answers its pid, and the second is refused
 * with it; a refused connection means the socket file is a leftover, which is replaced. The pid is
 * also written to `broker.lock`, for people and for older versions.
 */
export const lockDataDir = (dataDir: string): Effect.Effect<void, LogUnavailable, Scope.Scope> => {
  const pidFile = nodePath.join(dataDir, lockFileName)
  const refuse = (owner: number | undefined) =>
    new LogUnavailable({
      message: `the data dir ${dataDir} is in use by another broker (pid ${owner ?? "unknown"}); stop that one first`
    })
  const taken = Effect.tryPromise({
    try: async () => acquire(lockSocketPath(await fs.realpath(dataDir)), pidFile),
    catch: (error) => new LogUnavailable({ message: `file log: cannot lock ${dataDir}: ${String(error)}` })
  }).pipe(Effect.flatMap((held) => ("server" in held ? Effect.succeed(held) : Effect.fail(refuse(held.owner)))))
  return Effect.asVoid(Effect.acquireRelease(taken, (held) => Effect.promise(() => release(held, pidFile))))
}
