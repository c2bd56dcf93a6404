import { Console, Context, Effect } from "effect"
import { Console as NodeConsole } from "node:console"
import { Writable } from "node:stream"

/**
 * Where the command-line tool reads its surroundings and writes its output. The process entry
 * wires it to the real streams and signals; tests hand in their own, so that every subcommand can
 * run in-process and be checked on its output.
 */
export interface CliIoShape {
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: Readonly<Record<string, string | undefined>>
  /** The directory `mcp-config --write` edits the harness's project file in (`.mcp.json`, `.cursor/mcp.json`, …). */
  readonly cwd: string
  /** Colour on stdout: a terminal, and NO_COLOR not set. */
  readonly color: boolean
  /** The same for stderr, where logs and error lines go. */
  readonly errorColor: boolean
  /** Completes when the user asks the tool to stop (SIGINT, SIGTERM). */
  readonly stopped: Effect.Effect<void>
}

export class CliIo extends Context.Tag("claude-ipc-broker/CliIo")<CliIo, CliIoShape>() {}

const ansi = /\x1b\[[0-9;]*m/g

export const stripAnsi = (text: string): string => text.replace(ansi, "")

/** A writable that passes text on, without colour codes when `color` is off. */
const plainWhenNeeded = (target: Writable, color: boolean): Writable =>
  color
    ? target
    : new Writable({
        write(chunk: Buffer | string, _encoding, done) {
          target.write(stripAnsi(chunk.toString()), done)
        }
      })

/** An Effect Console over a Node console: what `Console.log` and the loggers write through. */
const effectConsole = (node: InstanceType<typeof NodeConsole>): Console.Console => ({
  [Console.TypeId]: Console.TypeId,
  assert: (condition, ...args) => Effect.sync(() => node.assert(condition, ...args)),
  clear: Effect.void,
  count: (label) => Effect.sync(() => node.count(label)),
  countReset: (label) => Effect.sync(() => node.countReset(label)),
  debug: (...args) => Effect.sync(() => node.debug(...args)),
  dir: (item, options) => Effect.sync(() => node.dir(item, options)),
  dirxml: (...args) => Effect.sync(() => node.dirxml(...args)),
  error: (...args) => Effect.sync(() => node.error(...args)),
  group: (options) =>
    Effect.sync(() => (options?.collapsed ? node.groupCollapsed(options.label) : node.group(options?.label))),
  groupEnd: Effect.sync(() => node.groupEnd()),
  info: (...args) => Effect.sync(() => node.info(...args)),
  log: (...args) => Effect.sync(() => node.log(...args)),
  table: (data, properties) => Effect.sync(() => node.table(data, properties as Array<string>)),
  time: (label) => Effect.sync(() => node.time(label)),
  timeEnd: (label) => Effect.sync(() => node.timeEnd(label)),
  timeLog: (label, ...args) => Effect.sync(() => node.timeLog(label, ...args)),
  trace: (...args) => Effect.sync(() => node.trace(...args)),
  warn: (...args) => Effect.sync(() => node.warn(...args)),
  unsafe: node
})

/** `Console.log` to stdout, `Console.error` (and the loggers that use it) to stderr. */
export const consoleOf = (io: CliIoShape): Console.Console =>
  effectConsole(
    new NodeConsole({
      stdout: plainWhenNeeded(io.stdout, io.color),
      stderr: plainWhenNeeded(io.stderr, io.errorColor),
      colorMode: false
    })
  )

const discard = new Writable({ write: (_chunk, _encoding, done) => done() })

/** @effect/cli's help repeats these under every option; the option's own description says more. */
const boilerplate = /\n\n {2}(A user-defined piece of text\.|An integer\.|A true or false value\.|This setting is optional\.)(?=\n)/g

/** Help as @effect/cli prints it, without the sentences it repeats under every option. */
const conciseHelp = (text: string): string => text.replace(boilerplate, "")

const concise = (target: Writable): Writable =>
  new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      target.write(conciseHelp(chunk.toString()), done)
    }
  })

/**
 * The console @effect/cli parses with: help goes to stdout (shorter), but its error output (a
 * paragraph of help after every mistake) is dropped, because the tool reports a mistake as one
 * line itself.
 */
export const parsingConsoleOf = (io: CliIoShape): Console.Console =>
  effectConsole(new NodeConsole({ stdout: concise(plainWhenNeeded(io.stdout, io.color)), stderr: discard, colorMode: false }))

const wantsColor = (stream: { readonly isTTY?: boolean }, env: CliIoShape["env"]) =>
  stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "")

/**
 * One Ctrl-C can arrive twice: a terminal sends SIGINT to its whole foreground process group, and a
 * parent that forwards signals sends its own copy (npm does, and `npm start` execs the broker, so
 * the broker is npm's child). A repeat this soon after the first is that copy, not the person
 * pressing again; an orderly shutdown takes less than this, so a second Ctrl-C meant as "now"
 * (because the first seems stuck) comes later.
 */
const echoWithinMs = 2_000

/** Whether a SIGINT at `now` is the echo of the one that began the shutdown at `firstAt`. */
const isEcho = (firstAt: number, now: number): boolean => now - firstAt < echoWithinMs

/** The real process: its streams, environment, and SIGINT/SIGTERM as the request to stop. */
export const processIo = (): CliIoShape => {
  // `export | head` closes the pipe early: that is the reader being done, not an error to report.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0)
    throw error
  })
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    color: wantsColor(process.stdout, process.env),
    errorColor: wantsColor(process.stderr, process.env),
    stopped: Effect.async<void>((resume) => {
      // One listener for the whole shutdown, never removed and re-added: while a signal has no
      // listener Node restores its default action, and a terminal's Ctrl-C and npm's copy of it
      // arrive close enough that the copy could land in that gap and kill the broker mid-shutdown.
      let firstAt: number | undefined
      const onSignal = (signal: NodeJS.Signals) => {
        if (firstAt === undefined) {
          firstAt = Date.now()
          resume(Effect.void)
        } else if (signal === "SIGINT" && !isEcho(firstAt, Date.now())) {
          process.exit(130) // a second Ctrl-C while shutting down means "now"
        }
      }
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
      return Effect.sync(() => {
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
      })
    })
  }
}
