import { Context, Effect, Layer } from "effect"
import { mkdir, open, readFile, rename } from "node:fs/promises"
import { join } from "node:path"
import type { StoredCheckpoint } from "../core/checkpointCodec.js"

/**
 * Where the latest checkpoint of the projection is kept between runs. Only an optimisation: a
 * missing, stale or unreadable checkpoint means a longer replay, never a different state.
 */
export interface CheckpointStoreService {
  readonly load: Effect.Effect<StoredCheckpoint | undefined>
  readonly save: (checkpoint: StoredCheckpoint) => Effect.Effect<void>
}

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
    const path = join(dataDir, "checkpoint.json")
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
      // Write aside, fsync, then rename: a crash leaves either the old checkpoint or the new one.
      save: (checkpoint) =>
        Effect.tryPromise(async () => {
          await mkdir(dataDir, { recursive: true })
          const temporary = `${path}.tmp`
          const file = await open(temporary, "w")
          try {
            await file.writeFile(JSON.stringify(checkpoint))
            await file.sync()
          } finally {
            await file.close()
          }
          await rename(temporary, path)
        }).pipe(
          Effect.zipRight(Effect.logInfo("checkpoint written").pipe(Effect.annotateLogs({ seq: checkpoint.seq, path }))),
          Effect.catchAll((error) => Effect.logWarning(`could not write checkpoint ${path}`, error))
        )
    })
  }
}
