import { Deferred, Effect } from "effect"
import { PassThrough } from "node:stream"
import { runCli } from "../../src/cli/main.js"
import type { CliIoShape } from "../../src/cli/io.js"

export interface ToolRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunningTool {
  /** Everything printed on stdout so far. */
  stdout(): string
  stderr(): string
  /** Resolves once stdout contains `text`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>
  /** Ask it to stop, as Ctrl-C would, and wait for the exit code. */
  stop(): Promise<ToolRun>
  readonly done: Promise<ToolRun>
}

export interface ToolOptions {
  readonly env?: Record<string, string>
  readonly cwd?: string
  readonly color?: boolean
}

/** Run the command-line tool in this process, as the bin would, on captured streams. */
export const startTool = (argv: ReadonlyArray<string>, options: ToolOptions = {}): RunningTool => {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ""
  let err = ""
  stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
  stderr.on("data", (chunk: Buffer) => (err += chunk.toString()))
  const stopped = Effect.runSync(Deferred.make<void>())
  const io: CliIoShape = {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    color: options.color ?? false,
    errorColor: false,
    stopped: Deferred.await(stopped)
  }
  const done = runCli(argv, io).then((code) => ({ code, stdout: out, stderr: err }))
  const waitFor = async (text: string | RegExp, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs
    const seen = () => (typeof text === "string" ? out.includes(text) : text.test(out))
    while (!seen()) {
      if (Date.now() > deadline) throw new Error(`no ${String(text)} on stdout within ${timeoutMs} ms:\n${out}\n${err}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  return {
    stdout: () => out,
    stderr: () => err,
    waitFor,
    stop: () => {
      Effect.runSync(Deferred.succeed(stopped, undefined))
      return done
    },
    done
  }
}

/** Run the tool to completion. */
export const tool = (argv: ReadonlyArray<string>, options: ToolOptions = {}): Promise<ToolRun> => startTool(argv, options).done
