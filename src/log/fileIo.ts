import { writeSync } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import { Effect } from "effect"
import { LogUnavailable } from "../core/errors.js"

/** Any failure of the disk becomes LogUnavailable; the errno code stays in the message for operators. */
export const ioError =
  (what: string, path: string) =>
  (cause: unknown): LogUnavailable => {
    const code = (cause as NodeJS.ErrnoException | null)?.code
    const message = cause instanceof Error ? cause.message : String(cause)
    const detail = code === undefined || message.includes(code) ? message : `${code}: ${message}`
    return new LogUnavailable({ message: `file log: ${what} ${path} failed: ${detail}` })
  }

export const io = <A>(what: string, path: string, run: () => Promise<A>): Effect.Effect<A, LogUnavailable> =>
  Effect.tryPromise({ try: run, catch: ioError(what, path) })

/** A positional read may return fewer bytes than asked; loop until `length` or end of file. */
export const readFully = async (
  handle: FileHandle,
  buffer: Buffer,
  length: number,
  position: number
): Promise<number> => {
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

/** A positional write may be partial (e.g. interrupted by a signal); loop until all is written. */
export const writeFully = async (handle: FileHandle, buffer: Buffer, position: number): Promise<void> => {
  let done = 0
  while (done < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, done, buffer.length - done, position + done)
    if (bytesWritten === 0) throw Object.assign(new Error("EIO: write made no progress"), { code: "EIO" })
    done += bytesWritten
  }
}

/**
 * `writeFully` on the event loop's own thread: a batch of the group commit is a few kilobytes
 * copied into the page cache, cheaper done at once than handed to the thread pool and back.
 */
export const writeFullySync = (fd: number, buffer: Buffer, position: number): void => {
  let done = 0
  while (done < buffer.length) {
    const written = writeSync(fd, buffer, done, buffer.length - done, position + done)
    if (written === 0) throw Object.assign(new Error("EIO: write made no progress"), { code: "EIO" })
    done += written
  }
}
