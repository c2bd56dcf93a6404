import { parseArgs } from "node:util"
import { defaultConfig, type BrokerConfigShape } from "./broker/Config.js"
import type { ServerOptions } from "./server.js"

export const usage = `claude-ipc-broker — a message broker for AI coding sessions

Usage: claude-ipc-broker [options]        (npm start -- [options])

Options:
  --port <n>              port to listen on (default 9100)
  --host <addr>           address to bind (default 0.0.0.0)
  --data-dir <dir>        where the file log and its checkpoint live (default ./data)
  --memory                keep the log in memory only (nothing survives a restart)
  --stale-after-ms <n>    a silent peer becomes stale after this (default ${defaultConfig.staleAfterMs})
  --offline-after-ms <n>  … and offline after this; its commands return to pending (default ${defaultConfig.offlineAfterMs})
  --lease-ms <n>          a delivered, unacked command returns to pending after this (default ${defaultConfig.leaseMs})
  --max-wait-ms <n>       long-poll timeouts are clamped to this (default ${defaultConfig.maxWaitMs})
  --max-body-bytes <n>    larger request bodies get 413 (default ${defaultConfig.maxBodyBytes})
  -h, --help              show this help

Example:
  npm start -- --port 9100 --data-dir ./data
`

export class UsageError extends Error {}

const positiveInt = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag} takes a whole number, not '${value}'`)
  return n
}

export type Cli = { readonly help: true } | { readonly help: false; readonly options: ServerOptions }

/** Turn argv into server options; a UsageError names the flag that is wrong. */
export const parseCli = (argv: ReadonlyArray<string>): Cli => {
  const { values } = (() => {
    try {
      return parseArgs({
        args: [...argv],
        strict: true,
        options: {
          port: { type: "string" },
          host: { type: "string" },
          "data-dir": { type: "string" },
          memory: { type: "boolean" },
          "stale-after-ms": { type: "string" },
          "offline-after-ms": { type: "string" },
          "lease-ms": { type: "string" },
          "max-wait-ms": { type: "string" },
          "max-body-bytes": { type: "string" },
          help: { type: "boolean", short: "h" }
        }
      })
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error))
    }
  })()
  if (values.help) return { help: true }
  const port = positiveInt("--port", values.port) ?? 9100
  if (port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}`)
  const config: Partial<BrokerConfigShape> = Object.fromEntries(
    Object.entries({
      staleAfterMs: positiveInt("--stale-after-ms", values["stale-after-ms"]),
      offlineAfterMs: positiveInt("--offline-after-ms", values["offline-after-ms"]),
      leaseMs: positiveInt("--lease-ms", values["lease-ms"]),
      maxWaitMs: positiveInt("--max-wait-ms", values["max-wait-ms"]),
      maxBodyBytes: positiveInt("--max-body-bytes", values["max-body-bytes"])
    }).filter(([, value]) => value !== undefined)
  )
  return {
    help: false,
    options: {
      port,
      host: values.host ?? "0.0.0.0",
      dataDir: values["data-dir"] ?? "./data",
      memory: values.memory ?? false,
      config
    }
  }
}
