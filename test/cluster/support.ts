import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BrokerConfigShape } from "../../src/broker/Config.js"
import type { JetStreamLogOptions } from "../../src/log/jetstream.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { deleteStreams, natsUrl, uniqueStream } from "./nats.js"

/** One broker node of a test cluster: the real broker in this process, on its own port. */
export interface Node {
  readonly name: string
  readonly url: string
  readonly broker: TestBroker
  get<T = any>(path: string): Promise<Reply<T>>
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply<T>>
}

export interface Reply<T> {
  readonly status: number
  readonly body: T
}

const call = async <T>(url: string, init: RequestInit = {}): Promise<Reply<T>> => {
  const response = await fetch(url, init)
  const text = await response.text()
  return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as T }
}

/** Asserts a 200 and returns the body; the message shows what came back otherwise. */
export const ok = <T>(reply: Reply<T>): T => {
  if (reply.status !== 200 && reply.status !== 201) {
    throw new Error(`expected 200, got ${reply.status}: ${JSON.stringify(reply.body)}`)
  }
  return reply.body
}

/** A cluster's nodes share a stream; each keeps its checkpoints in a directory of its own. */
export interface TestCluster {
  readonly stream: string
  readonly nodes: Array<Node>
  /** Start one more node on the stream (or a node again on its old data dir), optionally via other servers. */
  start(name: string, dataDir?: string, servers?: string): Promise<Node>
  /** Close a node, keeping its data dir for a restart; returns the dir. */
  stop(node: Node): Promise<string>
  close(): Promise<void>
}

export const startCluster = async (
  size: number,
  options: { readonly config?: Partial<BrokerConfigShape>; readonly nats?: Partial<JetStreamLogOptions> } = {}
): Promise<TestCluster> => {
  const stream = uniqueStream("CLUSTER")
  const dirs: Array<string> = []
  const nodes: Array<Node> = []

  const start = async (name: string, dataDir?: string, servers = natsUrl): Promise<Node> => {
    const dir = dataDir ?? (await mkdtemp(join(tmpdir(), `broker-node-${name}-`)))
    if (!dirs.includes(dir)) dirs.push(dir)
    const broker = await startBroker({
      dataDir: dir,
      nats: { servers, stream, reconnectWaitMs: 100, ...options.nats },
      config: options.config ?? {}
    })
    const node: Node = {
      name,
      url: broker.url,
      broker,
      get: (path) => call(broker.url + path),
      post: (path, body, headers = {}) =>
        call(broker.url + path, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify(body ?? {})
        })
    }
    nodes.push(node)
    return node
  }

  const stop = async (node: Node): Promise<string> => {
    nodes.splice(nodes.indexOf(node), 1)
    await node.broker.close()
    return node.broker.dataDir!
  }

  for (let i = 0; i < size; i++) await start(String.fromCharCode(65 + i))
  return {
    stream,
    nodes,
    start,
    stop,
    close: async () => {
      await Promise.all(nodes.splice(0).map((node) => node.broker.close()))
      await deleteStreams(stream)
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Poll until `probe` gives something other than undefined/false; fail after `timeoutMs` saying what. */
export const eventually = async <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 10_000
): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    last = await probe()
    if (last !== undefined && last !== false) return last as T
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last)})`)
    await sleep(20)
  }
}

export const headOf = async (node: Node): Promise<number> => ok(await node.get<{ log: { head: number } }>("/status")).log.head

/** Wait until every node has applied at least `head` events. */
export const allCaughtUp = (nodes: ReadonlyArray<Node>, head: number) =>
  eventually(`every node at head ${head}`, async () => {
    const heads = await Promise.all(nodes.map(headOf))
    return heads.every((h) => h >= head) ? heads : false
  })

/** The log as stored, via GET /log (NDJSON). */
export const logOf = async (node: Node): Promise<Array<{ seq: number; at: string; type: string; data: any }>> => {
  const text = await (await fetch(`${node.url}/log`)).text()
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line))
}
