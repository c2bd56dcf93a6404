/**
 * Projects, issue 16: 100 projects of 10 peers each on one broker; channel sends from 100
 * connections spread over the 100 projects (each request to the next project's channel) against
 * the same load into one project, alternating, in one run. A project is a prefix and a key in the
 * one projection, so spreading the load should cost nothing: target within 10% of one project.
 */
import type { Row } from "../report.js"
import { json, keepAliveAgent, postLoadRotating, type Throughput } from "../load.js"
import { type Context, withServers } from "./context.js"

export interface ProjectsParams {
  readonly projects: number
  readonly peersPerProject: number
  readonly connections: number
  readonly seconds: number
  readonly rounds: number
}

export const projectsParams = (quick: boolean): ProjectsParams =>
  quick
    ? { projects: 20, peersPerProject: 2, connections: 50, seconds: 2, rounds: 1 }
    : { projects: 100, peersPerProject: 10, connections: 100, seconds: 5, rounds: 2 }

const body = { text: "build 4711 passed on main", ok: true, n: 1 }

const total = (runs: ReadonlyArray<Throughput>) =>
  runs.reduce((n, run) => n + run.ok, 0) / runs.reduce((n, run) => n + run.seconds, 0)

export const projectsScenario = async (ctx: Context, params: ProjectsParams = projectsParams(ctx.quick)): Promise<Array<Row>> =>
  withServers(ctx, "projects", async ({ broker }) => {
    const names = Array.from({ length: params.projects }, (_, i) => `bench-${i}`)
    const agent = keepAliveAgent(8)
    // Every project gets its peers (and a first message, so its channel exists), 8 requests at a time.
    const setup = names.flatMap((name) => [
      ...Array.from({ length: params.peersPerProject }, (_, i) => () =>
        json(agent, "POST", `${broker.url}/p/${name}/peers/connect`, { role: `worker-${i % 3}` })
      ),
      () => json(agent, "POST", `${broker.url}/p/${name}/channels/bench/send`, body)
    ])
    for (let i = 0; i < setup.length; i += 8) await Promise.all(setup.slice(i, i + 8).map((call) => call()))
    const spreadPaths = names.map((name) => `/p/${name}/channels/bench/send`)
    // The same client code for both, so that its own cost (it shares the machine) is the same.
    const onePath = [`/p/${names[0]}/channels/bench/send`]
    // Warm both up (the JIT), then alternate.
    await postLoadRotating(broker.url, onePath, body, params.connections, 1)
    await postLoadRotating(broker.url, spreadPaths, body, params.connections, 1)
    const spread: Array<Throughput> = []
    const one: Array<Throughput> = []
    for (let round = 0; round < params.rounds; round++) {
      const a = await postLoadRotating(broker.url, spreadPaths, body, params.connections, params.seconds)
      spread.push(a)
      ctx.log(`  spread over ${params.projects} projects: ${Math.round(a.perSecond)}/s (p99 ${a.p99Ms} ms, ${a.failed} failed)`)
      const b = await postLoadRotating(broker.url, onePath, body, params.connections, params.seconds)
      one.push(b)
      ctx.log(`  one project: ${Math.round(b.perSecond)}/s (p99 ${b.p99Ms} ms, ${b.failed} failed)`)
    }
    return [
      {
        scenario: `channel send, ${params.connections} conns, spread over ${params.projects} projects × ${params.peersPerProject} peers`,
        unit: "/s",
        broker: total(spread),
        baseline: total(one),
        baselineIs: "broker, one project",
        target: { kind: "min-ratio", value: 0.9 }
      }
    ]
  })
