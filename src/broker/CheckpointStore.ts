import { Context, Effect, Layer } from "effect"
import { appendFile, mkdir, open, readFile, rename } from "node:fs/promises"
import { join } from "node:path"
import type { StoredCheckpoint, StoredDelta } from "../core/checkpointCodec.js"

/**
 * Where the spaced checkpoints of the chain are kept between runs (`checkpoints.ndjson`, one delta
 * per line, appended as they are taken). Like the checkpoint, only an optimisation: it is not
 * fsynced, a torn or unreadable line ends it, and the broker checks it against the log.
 */
export interface CheckpointChainStoreService {
  /** The deltas up to the first line that is not one; `whole` when that was the end of the file. */
  readonly load: Effect.Effect<{ readonly deltas: ReadonlyArray<StoredDelta>; readonly whole: boolean }>
  /** Each answers whether it was written (failures are logged, never raised). */
  readonly append: (deltas: ReadonlyArray<StoredDelta>) => Effect.Effect<boolean>
  /** Replaces the whole chain (after thinning or a failed append), written aside and renamed. */
  readonly replace: (deltas: ReadonlyArray<StoredDelta>) => Effect.Effect<boolean>
}

/**
 * Where the latest checkpoint of the projection is kept between runs. Only an optimisation: a
 * missing, stale or unreadable checkpoint means a longer replay, never a different state.
 */
export interface CheckpointStoreService {
  readonly load: Effect.Effect<StoredCheckpoint | undefined>
  readonly save: (checkpoint: StoredCheckpoint) => Effect.Effect<void>
  /** Absent: no chain outlives the process (time travel before the start point folds from seq 0). */
  readonly chain?: CheckpointChainStoreService
}

export const checkpointFileName = "checkpoint.json"
export const chainFileName = "checkpoints.ndjson"

export class CheckpointStore extends Context.Tag("claude-ipc-broker/CheckpointStore")<
  CheckpointStore,
  CheckpointStoreService
>() {
  /** For the memory log: nothing outlives the process anyway. */
  static none = Layer.succeed(CheckpointStore, {
    load: Effect.succeed(undefined),
    save: () => Effect.void
  })

  static file = (dataDir: string) => {
    const path = join(dataDir, checkpointFileName)
    const chainPath = join(dataDir, chainFileName)
    return Layer.succeed(CheckpointStore, {
      load: Effect.tryPromise(() => readFile(path, "utf8")).pipe(
        // A parse error must be a failure (caught below), not a defect that stops the start-up.
        Effect.flatMap((text) => Effect.try(() => JSON.parse(text) as StoredCheckpoint)),
        Effect.catchAll((error) =>
          (error.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT"
            ? Effect.succeed(undefined)
            : Effect.as(Effect.logWarning(`ignoring unreadable checkpoint ${path}`, error), undefined)
        )
      ),
      save: (checkpoint) =>
        writeAside(dataDir, path, JSON.stringify(checkpoint)).pipe(
          Effect.zipRight(Effect.logInfo("checkpoint written").pipe(Effect.annotateLogs({ seq: checkpoint.seq, path }))),
          Effect.catchAll((error) => Effect.logWarning(`could not write checkpoint ${path}`, error))
        ),
      chain: {
        load: Effect.promise(() => readFile(chainPath, "utf8").catch(() => "")).pipe(Effect.map(parseChain)),
        append: (deltas) => written(chainPath, Effect.tryPromise(() => appendFile(chainPath, asLines(deltas)))),
        replace: (deltas) => written(chainPath, writeAside(dataDir, chainPath, asLines(deltas)))
      }
    })
  }
}

const asLines = (deltas: ReadonlyArray<StoredDelta>): string => deltas.map((delta) => `${JSON.stringify(delta)}\n`).join("")

/** Whether `write` succeeded; a failure is a warning, since the chain is only an optimisation. */
const written = <E>(path: string, write: Effect.Effect<void, E>): Effect.Effect<boolean> =>
  write.pipe(
    Effect.as(true),
    Effect.catchAll((error) => Effect.as(Effect.logWarning(`could not write ${path}`, error), false))
  )

/** Write aside, fsync, then rename: a crash leaves either the old file or the new one. */
const writeAside = (dataDir: string, path: string, text: string) =>
  Effect.tryPromise(async () => {
    await mkdir(dataDir, { recursive: true })
    const temporary = `${path}.tmp`
    const file = await open(temporary, "w")
    try {
      await file.writeFile(text)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(temporary, path)
  })

/** The deltas up to the first line that is not one (a torn end after a crash). */
const parseChain = (text: string) => {
  const deltas: Array<StoredDelta> = []
  const lines = text.split("\n")
  // The text ends with a newline, so the last element is "".
  for (const line of lines.slice(0, -1)) {
    try {
      const value = JSON.parse(line) as StoredDelta
      if (typeof value !== "object" || value === null || typeof value.seq !== "number") break
      deltas.push(value)
    } catch {
      break
    }
  }
  return { deltas, whole: deltas.length === lines.length - 1 && lines.at(-1) === "" }
}
