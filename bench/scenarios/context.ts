import { mkdtemp, rm } from "node:fs/promises"
import { join } from "node:path"
import { startBaseline, startBroker, type BrokerOptions, type Server } from "../servers.js"

/** What every scenario gets from the harness. */
export interface Context {
  /** Short smoke run: every loop smaller and shorter. */
  readonly quick: boolean
  /** This run's scratch directory; data dirs live under it. */
  readonly tmp: string
  /** Node flags for brokers started by `scenario` (e.g. --cpu-prof when profiling it). */
  readonly nodeFlags: (scenario: string) => ReadonlyArray<string>
  readonly log: (message: string) => void
  /** Keep data dirs after the run (for inspection). */
  readonly keep: boolean
}

export const newDataDir = (ctx: Context, name: string) => mkdtemp(join(ctx.tmp, `${name}-`))

export const removeDir = (ctx: Context, dir: string) => (ctx.keep ? Promise.resolve() : rm(dir, { recursive: true, force: true }))

/** A fresh broker on a fresh data dir, and the baseline; both stopped (and the dir removed) after `body`. */
export const withServers = async <A>(
  ctx: Context,
  scenario: string,
  body: (servers: { readonly broker: Server; readonly baseline: Server }) => Promise<A>,
  options: Partial<BrokerOptions> = {}
): Promise<A> => {
  const dataDir = await newDataDir(ctx, scenario)
  const [broker, baseline] = await Promise.all([
    startBroker({ dataDir, nodeFlags: ctx.nodeFlags(scenario), ...options }),
    startBaseline()
  ])
  try {
    return await body({ broker, baseline })
  } finally {
    await Promise.all([broker.stop(), baseline.stop()])
    await removeDir(ctx, dataDir)
  }
}
