import { Context, Effect, Layer } from "effect"
import { appendFile, type FileHandle, mkdir, open, readFile, rename } from "node:fs/promises"
import { createInterface } from "node:readline"
import { join } from "node:path"
import type { StoredCheckpoint, StoredDelta } from "../core/checkpointCodec.js"

/**
 * Where the spaced checkpoints of the chain are kept between runs (`checkpoints.ndjson`, one delta
 * per line, appended as they are taken). Like the checkpoint, only an optimisation: it is not
 * fsynced, a torn or unreadable line ends it, and the broker checks it against the log.
 */
export interface CheckpointChainStoreService {
  /**
   * Hands the stored deltas to `take` in order, one parsed at a time (the chain of a long log is tens
   * of megabytes: read whole, it made the start-up's peak), up to the first line that is not one or
   * that `take` refuses. `read`: how many were handed over; `whole` when that was the end of the file.
   */
  readonly load: (take: (delta: StoredDelta) => boolean) => Effect.Effect<{ readonly read: number; readonly whole: boolean }>
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
        load: (take) => Effect.promise(() => readChain(chainPath, take)),
        append: (deltas) =>
          written(
            chainPath,
            // The first append may come before anything else made the dir (a JetStream node's checkpoint dir).
            Effect.tryPromise(async () => {
              await mkdir(dataDir, { recursive: true })
              await appendFile(chainPath, asLines(deltas))
            })
          ),
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

/** The deltas up to the first line that is not one (a torn end after a crash), read line by line. */
const readChain = async (path: string, take: (delta: StoredDelta) => boolean) => {
  let file: FileHandle
  try {
    file = await open(path, "r")
  } catch {
    return { read: 0, whole: true } // no chain yet (or none readable): start without one
  }
  const input = file.createReadStream({ start: 0, autoClose: false })
  try {
    const size = (await file.stat()).size
    let bytes = 0
    let read = 0
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      bytes += Buffer.byteLength(line, "utf8") + 1
      // A last line without its newline is torn, even when it happens to parse.
      if (bytes > size) return { read, whole: false }
      let value: StoredDelta
      try {
        value = JSON.parse(line) as StoredDelta
      } catch {
        return { read, whole: false }
      }
      if (typeof value !== "object" || value === null || typeof value.seq !== "number") return { read, whole: false }
      read++
      if (!take(value)) return { read, whole: false }
    }
    return { read, whole: bytes === size }
  } catch {
    return { read: 0, whole: false }
  } finally {
    input.destroy()
    await file.close()
  }
}
