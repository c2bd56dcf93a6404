/**
 * The real broker's lifetime tied to vitest's hooks, so a test file says which broker it needs in
 * one line instead of repeating the start, the client and the close in every describe block.
 *
 * Nothing is mocked: `startBroker` runs the same layers as `claude-ipc-broker serve`, in this
 * process, on a free loopback port.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest"
import { client, type Client } from "../http/client.js"
import { startBroker, type TestBroker, type TestBrokerOptions } from "./broker.js"

/** A broker started by `useBroker`: read its fields inside tests and hooks, once it runs. */
export interface UsedBroker extends Omit<TestBroker, "close"> {
  /**
   * An HTTP client for it. It finds the broker at each request, so it may be taken when the file is
   * collected: `const c = broker.client`.
   */
  readonly client: Client
}

export interface UseBrokerOptions {
  /**
   * `POST /reset` before each test: every test starts from an empty state on the same broker, which
   * is far cheaper than a broker per test. Tests that need what the previous one left leave it off.
   */
  readonly resetBeforeEach?: boolean
}

/**
 * One broker for the tests of the describe block (or file) this is called in: started before the
 * first of them, closed after the last.
 */
export const useBroker = (options: TestBrokerOptions = {}, use: UseBrokerOptions = {}): UsedBroker => {
  let current: TestBroker | undefined
  const running = (): TestBroker => {
    if (current === undefined) throw new Error("useBroker: the broker runs only while the tests of its block do")
    return current
  }
  beforeAll(async () => {
    current = await startBroker(options)
  })
  afterAll(async () => {
    await current?.close()
    current = undefined
  })
  const http = client(() => running().url)
  if (use.resetBeforeEach === true) {
    beforeEach(async () => {
      const headers: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }
      const res = await http.post("/reset", undefined, { headers })
      if (res.status !== 200) throw new Error(`POST /reset before the test answered ${res.status}: ${res.text}`)
    })
  }
  return {
    get url() {
      return running().url
    },
    get dataDir() {
      return running().dataDir
    },
    get broker() {
      return running().broker
    },
    broken: () => running().broken(),
    client: http
  }
}

/** Brokers a test starts itself, and data dirs it keeps across restarts. */
export interface OwnBrokers {
  /** Start a broker that is closed after the test, passed or failed. */
  readonly start: (options?: TestBrokerOptions) => Promise<TestBroker>
  /** A fresh temp dir for a broker to restart on, removed after the test once its brokers are closed. */
  readonly dataDir: (prefix?: string) => Promise<string>
}

/**
 * For tests that start their own brokers (each with its own options, or restarted on one data dir):
 * whatever they start is closed after the test, so a failing assertion does not leave a broker
 * running into the next test, and its data dir goes only once nothing writes to it any more.
 */
export const useBrokers = (): OwnBrokers => {
  const open: Array<TestBroker> = []
  const dirs: Array<string> = []
  afterEach(async () => {
    const closed = await Promise.allSettled(open.splice(0).map((broker) => broker.close()))
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 })))
    const failed = closed.find((result) => result.status === "rejected")
    if (failed !== undefined) throw failed.reason
  })
  return {
    start: async (options = {}) => {
      const broker = await startBroker(options)
      open.push(broker)
      return broker
    },
    dataDir: async (prefix = "broker-test-") => {
      const dir = await mkdtemp(join(tmpdir(), prefix))
      dirs.push(dir)
      return dir
    }
  }
}
