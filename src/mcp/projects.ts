import type { BrokerService } from "../broker/Broker.js"
import { defaultProject } from "../core/projects.js"
import { Pusher } from "./push.js"
import { instructionsIn } from "./tools/index.js"

/**
 * The MCP sessions' part of each project (issue 16: a project is a broker inside the broker). A
 * session opened on `/p/<project>/mcp` (or `/p/<project>/mcp/sse`) acts in that project only: its
 * tools call the project's broker, its inbox and pushes come from the project's state and notices.
 *
 * One per project, made when the first session of the project opens, not one per session: the
 * sessions of a project share one subscription to its notices and one pusher, as all sessions did
 * before projects. A project no session has opened costs nothing here.
 */
export interface McpProject {
  readonly name: string
  readonly broker: BrokerService
  /** Pushes into this project's sessions, from this project's notices. */
  readonly pusher: Pusher
  /** What a session of this project reads at initialize. */
  readonly instructions: string
}

export interface McpProjects {
  /** The project's part, made on first use. */
  readonly of: (name: string) => McpProject
  /**
   * After a restart, the project whose state knows `peerId` (a session's peer): `requested` when it
   * does, else another project's name, else undefined. Tells a session id reused in another
   * project from one that simply has no peer yet.
   */
  readonly knowing: (peerId: string, requested: string) => string | undefined
  /** Stop hearing every project's notices (at shutdown). */
  readonly stop: () => void
}

export const mcpProjects = (
  root: BrokerService,
  coalesceMs: number,
  /** A project was reset: its sessions forget how far they had read. */
  onReset: (project: McpProject) => void
): McpProjects => {
  const made = new Map<string, { readonly project: McpProject; readonly stopHearing: () => void }>()

  const of = (name: string): McpProject => {
    const known = made.get(name)
    if (known !== undefined) return known.project
    const broker = root.project(name)
    const pusher = new Pusher(broker.projection, coalesceMs)
    const project: McpProject = { name, broker, pusher, instructions: instructionsIn(name) }
    const stopHearing = broker.onNotice((notice) => {
      if (notice.kind === "reset") onReset(project)
      pusher.hear(notice)
    })
    made.set(name, { project, stopHearing })
    return project
  }

  const knowing = (peerId: string, requested: string): string | undefined => {
    if (root.project(requested).projection.peers.has(peerId)) return requested
    return root.projects().find((name) => name !== requested && root.project(name).projection.peers.has(peerId))
  }

  return {
    of,
    knowing,
    stop: () => {
      for (const { stopHearing } of made.values()) stopHearing()
      made.clear()
    }
  }
}

/** Where a project's MCP endpoints are: `/mcp` for `default`, `/p/<project>/mcp` for another. */
export const mcpPathOf = (project: string, route: "/mcp" | "/mcp/sse" | "/mcp/messages"): string =>
  project === defaultProject ? route : `/p/${project}${route}`
