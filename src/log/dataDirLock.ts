import { Effect, type Scope } from "effect"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { LogUnavailable } from "../core/errors.js"

export const lockFileName = "broker.lock"

/** Lock files this process holds, so that it also refuses to open one data dir twice. */
const heldHere = new Set<string>()

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const ownerOf = async (path: string): Promise<number | undefined> => {
  try {
    const pid = Number.parseInt(await fs.readFile(path, "utf8"), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

type Attempt = { readonly taken: true } | { readonly taken: false; readonly owner: number | undefined }

const tryCreate = async (path: string): Promise<Attempt> => {
  try {
    await fs.writeFile(path, `${process.pid}\n`, { flag: "wx", mode: 0o644 })
    return { taken: true }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    return { taken: false, owner: await ownerOf(path) }
  }
}

/**
 * One broker per data dir: two processes appending to one `events.ndjson` would interleave their
 * records and number them twice. The lock is a file holding its owner's pid, created exclusively;
 * a second broker is refused with that pid. A lock whose process is gone (killed, crashed) is taken
 * over, and so is one naming this process that it does not hold (left by a log it opened before).
 */
export const lockDataDir = (dataDir: string): Effect.Effect<void, LogUnavailable, Scope.Scope> => {
  const path = nodePath.join(dataDir, lockFileName)
  const refuse = (owner: number) =>
    new LogUnavailable({
      message: `the data dir ${dataDir} is in use by another broker (pid ${owner}); stop it, or delete ${path} if no broker runs there`
    })
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: async (): Promise<number | undefined> => {
        for (let attempt = 0; attempt < 3; attempt++) {
          const result = await tryCreate(path)
          if (result.taken) return undefined
          const { owner } = result
          const held = owner !== undefined && (owner === process.pid ? heldHere.has(path) : isAlive(owner))
          if (held) return owner
          // Stale. Removed only if it still names the same owner: another broker may have taken it
          // over in between (a window of one read, for two brokers started at once after a crash).
          if ((await ownerOf(path)) === owner) await fs.rm(path, { force: true })
        }
        throw new Error(`could not take ${path}: other brokers keep creating it`)
      },
      catch: (error) => new LogUnavailable({ message: `file log: cannot lock ${dataDir}: ${String(error)}` })
    }).pipe(
      Effect.flatMap((owner) => (owner === undefined ? Effect.sync(() => void heldHere.add(path)) : Effect.fail(refuse(owner))))
    ),
    () =>
      Effect.promise(async () => {
        heldHere.delete(path)
        if ((await ownerOf(path)) === process.pid) await fs.rm(path, { force: true })
      })
  )
}
