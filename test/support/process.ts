import { spawn, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../../bin/claude-ipc-broker.js", import.meta.url))

export interface BrokerProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Everything printed so far, stdout and stderr together. */
  output(): string
  /** Send a signal and resolve with the exit code (or the signal's name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>
}

/**
 * Run the bin with `args`, as a user would, and wait until it says where it listens. A leading
 * subcommand (`replay file`) stays first; the loopback host and a free port follow it.
 */
export const spawnBroker = (args: ReadonlyArray<string>, startTimeoutMs = 20_000): Promise<BrokerProcess> =>
  new Promise((resolve, reject) => {
    const subcommand = args[0] !== undefined && !args[0].startsWith("-") ? [args[0]] : []
    const rest = args.slice(subcommand.length)
    const child = spawn(process.execPath, [bin, ...subcommand, "--host", "127.0.0.1", "--port", "0", ...rest], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const exited = new Promise<number | string>((done) =>
      child.once("exit", (code, signal) => done(code ?? signal ?? "unknown"))
    )
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`broker did not start within ${startTimeoutMs} ms:\n${output}`))
    }, startTimeoutMs)
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString()
      // The announcement ends with the "log:" line; by then the broker serves.
      const match = /listening on (http:\/\/[^\s]+)[\s\S]*\n\s+log:.*\n/.exec(output)
      if (match) {
        clearTimeout(timer)
        child.stdout!.off("data", onOutput)
        child.stdout!.on("data", (more: Buffer) => (output += more.toString()))
        resolve({
          url: match[1]!.replace("localhost", "127.0.0.1"),
          child,
          output: () => output,
          stop: (signal = "SIGTERM") => {
            child.kill(signal)
            return exited
          }
        })
      }
    }
    child.stdout!.on("data", onOutput)
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`broker exited (${code}) before listening:\n${output}`))
    })
  })

/** Run the bin to completion (for --help and bad arguments). */
export const runBin = (args: ReadonlyArray<string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.once("exit", (code) => resolve({ code, stdout, stderr }))
  })
