import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv"
import {
  CallToolRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type RequestId
} from "@modelcontextprotocol/sdk/types.js"
import { Cause, Context, Effect, Exit, FiberSet, Layer, Option, Runtime, Schedule } from "effect"
import { createHash, randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { Broker, type BrokerService } from "../broker/Broker.js"
import { BrokerConfig } from "../broker/Config.js"
import { peerStatus } from "../core/machines/peer.js"
import { version } from "../version.js"
import { makeStreamKeepAlive } from "./streamKeepAlive.js"
import { isInitializeRequest, requestIds, toWebRequest, writeJsonRpcError, writeWebResponse } from "./fetchAdapter.js"
import { McpConfig } from "./Config.js"
import { forgetPositions, inboxOf, isEmpty, newFollowing, type Inbox } from "./inbox.js"
import { inboxResource, inboxUri, knownResource, readInbox, serverCapabilities, withInbox } from "./inboxResource.js"
import { mcpPathOf, mcpProjects, type McpProject } from "./projects.js"
import type { PushTarget } from "./push.js"
import { refusalFor, type Principal } from "../core/principal.js"
import { principalOf } from "../input/principal.js"
import { projectOfRequest } from "../input/project.js"
import { toolAccess } from "./tools/rights.js"
import { makeTools, ToolFailure, type SessionState, type ToolContext, type ToolOutput } from "./tools/index.js"

/**
 * MCP sessions: one SDK `McpServer` per session, over Streamable HTTP (`/mcp`) or the legacy
 * HTTP+SSE transport (`/mcp/sse` + `/mcp/messages`). A session acts as one broker peer; every tool
 * is a call to the Broker service. This service owns the session map, the sweeper that closes idle
 * sessions and keeps the peers of live ones online, and the finalizer that ends them at shutdown.
 *
 * A session is of the project whose path it was opened on (`/p/<project>/mcp`; `/mcp` is project
 * `default`): its tools call that project's broker, and its inbox and pushes are that project's
 * (see projects.ts). Session ids are one map for every project, so that an id used under another
 * project's path is recognised and refused rather than taken for a session the broker lost.
 */
export interface McpSessionsService {
  /** `/mcp`: POST, GET (the standalone SSE stream) and DELETE. Writes the raw response itself. */
  readonly streamable: (req: IncomingMessage, res: ServerResponse, body: unknown) => Effect.Effect<void>
  /** `GET /mcp/sse`: opens a legacy session; completes when its stream ends. */
  readonly openSse: (req: IncomingMessage, res: ServerResponse) => Effect.Effect<void>
  /** `POST /mcp/messages?sessionId=`: a message for a legacy session (answered on its stream). */
  readonly postSse: (sessionId: string, req: IncomingMessage, res: ServerResponse, body: unknown) => Effect.Effect<void>
  /** Open sessions, by transport. */
  readonly count: Effect.Effect<{ readonly http: number; readonly sse: number }>
}

export class McpSessions extends Context.Tag("claude-ipc-broker/McpSessions")<McpSessions, McpSessionsService>() {}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

/**
 * The peer a session acts as: a one-way hash of its session id, so that the identity survives a
 * broker restart (the peer is in the log; the id is recomputed from the session id the client
 * still sends) while `GET /peers` reveals nothing that would let anyone take the session over.
 */
export const peerIdFor = (transport: "http" | "sse", sessionId: string): string => {
  const digest = createHash("sha256").update(`${transport}:${sessionId}`).digest()
  let out = "mcp-"
  for (let i = 0; i < 12; i++) out += alphabet[digest[i]! & 31]
  return out
}

/** Session ids the SDK mints are UUIDs; a resumed one must at least be visible ASCII of sane length. */
const plausibleSessionId = (id: string) => /^[\x21-\x7e]{8,128}$/.test(id)

interface Session {
  readonly id: string
  /** The project it was opened in: its broker, its pusher. */
  readonly project: McpProject
  readonly state: SessionState
  readonly server: McpServer
  readonly http: WebStandardStreamableHTTPServerTransport | undefined
  readonly sse: SSEServerTransport | undefined
  lastActivity: number
  /** Requests in flight and streams open: a session with any is not idle. */
  active: number
  /** It has held a standalone GET stream: a client that keeps one open while it lives. */
  streamed: boolean
  closed: boolean
  /** Tool calls in flight, so that a dropped POST can end the calls it carried. */
  readonly calls: Map<RequestId, AbortController>
  /** Calls whose POST dropped before their handler started. */
  readonly dropped: Set<RequestId>
  /** How pushes reach this session (see push.ts). */
  readonly push: PushTarget
  /** The client subscribed to broker://inbox. */
  inboxWatched: boolean
}

const secondsText = (s: number) => (s >= 10 ? `${Math.round(s)} s` : `${Math.round(s * 10) / 10} s`)

const textResult = (output: ToolOutput): CallToolResult => ({
  content: [{ type: "text", text: output.text }],
  structuredContent: output.structured
})

const errorResult = (code: string, message: string): CallToolResult => ({
  content: [{ type: "text", text: `${code}: ${message}` }],
  structuredContent: { error: { code, message } },
  isError: true
})

/**
 * A session is its opener's: a later request of it made with other credentials (another token, or
 * none where the opener had one) is refused, so that a session id is not a way around the rights.
 */
const samePrincipal = (a: Principal | undefined, b: Principal | undefined): boolean =>
  a?.kind === b?.kind && (a?.kind !== "scoped" || (b?.kind === "scoped" && a.token.hash === b.token.hash))

const refuseOtherPrincipal = (res: ServerResponse): Promise<void> => {
  writeJsonRpcError(res, 403, -32000, "this MCP session was opened with other credentials: use the token that opened it, or start a new session")
  return Promise.resolve()
}

/**
 * A session is of the project it was opened in: its id sent under another project's path is a
 * client's mistake (an entry pointing at the wrong `/p/<project>`), refused plainly — not a 404,
 * after which a client would start a new session and carry on in the wrong project unaware.
 */
const refuseOtherProject = (
  res: ServerResponse,
  owner: string,
  route: "/mcp" | "/mcp/messages",
  requested: string
): Promise<void> => {
  writeJsonRpcError(
    res,
    400,
    -32000,
    `this MCP session belongs to project ${owner}, not ${requested}: send its requests to ${mcpPathOf(owner, route)}, or start a new session on ${mcpPathOf(requested, route === "/mcp" ? "/mcp" : "/mcp/sse")}`,
    { code: "wrong_project", project: owner }
  )
  return Promise.resolve()
}

const newState = (transport: "http" | "sse", id: string, resumed: boolean, principal: Principal | undefined): SessionState => ({
  transport,
  principal,
  peerId: peerIdFor(transport, id),
  connected: false,
  resumed,
  lost: false,
  handedOut: new Set(),
  following: newFollowing(),
  waitingForCommand: 0
})

export const makeMcpSessions = Effect.gen(function* () {
  const broker: BrokerService = yield* Broker
  const brokerConfig = yield* BrokerConfig
  const config = yield* McpConfig
  const fibers = yield* FiberSet.make<void, never>()
  const runFork = yield* FiberSet.runtime(fibers)<never>()
  // The SDK calls back as promises: run those effects in this layer's runtime, so that they log
  // through the logger and level the process chose (--log-format, --log-level), not the defaults.
  const runtime = yield* Effect.runtime<never>()
  const runPromise = Runtime.runPromise(runtime)
  const runPromiseExit = Runtime.runPromiseExit(runtime)

  const maxWaitSeconds = Math.max(0, Math.min(config.maxWaitSeconds, brokerConfig.maxWaitMs / 1000))
  const defaultWaitSeconds = Math.min(config.defaultWaitSeconds, maxWaitSeconds)
  const tools = makeTools({ defaultWaitSeconds, maxWaitSeconds })
  const toolsByName = new Map(tools.map((tool) => [tool.name, tool]))
  const toolList = tools.map((tool) => tool.definition)
  /**
   * What tools/list shows a session: the tools its token may call, so that a viewer's model is not
   * offered orders it cannot give (a call of another answers the refusal all the same). Rights are
   * a project's: a scoped token has them in the session's project only, as for REST.
   */
  const toolListFor = (principal: Principal | undefined, project: string) =>
    principal === undefined
      ? toolList
      : toolList.filter((tool) => refusalFor(principal, toolAccess(tool.name), project) === undefined)
  const waitMs = (seconds: number | undefined) =>
    Math.round(Math.min(seconds ?? defaultWaitSeconds, maxWaitSeconds) * 1000)

  // One validator for every session: the SDK would build an Ajv instance per server otherwise (for
  // elicitation, which the broker never asks for), a good part of an idle session's memory and of
  // the garbage a thousand of them leave to collect.
  const jsonSchemaValidator = new AjvJsonSchemaValidator()

  const httpSessions = new Map<string, Session>()
  const sseSessions = new Map<string, Session>()

  const keepAlive = makeStreamKeepAlive(config.sseKeepAliveMs)
  yield* Effect.addFinalizer(() => Effect.sync(keepAlive.stop))

  // Pushes: each project's notices, routed to the sessions of that project they concern.
  const projects = mcpProjects(broker, config.pushCoalesceMs, (project) => {
    for (const session of [...httpSessions.values(), ...sseSessions.values()]) {
      if (session.project === project) forgetPositions(session.state.following)
    }
  })
  yield* Effect.addFinalizer(() => Effect.sync(projects.stop))

  const inboxFor = (session: Session): Inbox =>
    inboxOf(session.project.broker.projection, session.state.connected ? session.state.peerId : undefined, session.state.following)

  /** The push target of a session: Claude Code's channel notification, and the standard resource update. */
  const pushTarget = (session: () => Session, state: SessionState): PushTarget => ({
    peerId: state.peerId,
    connected: () => state.connected,
    following: state.following,
    waitingForCommand: () => state.waitingForCommand > 0,
    send: (push) => {
      const { server } = session().server
      // Clients ignore notifications they do not know; one whose stream is gone simply misses a hint.
      server.notification({ method: "notifications/claude/channel", params: { ...push } }).catch(() => undefined)
      if (session().inboxWatched) server.sendResourceUpdated({ uri: inboxUri }).catch(() => undefined)
    }
  })
  const resuming = new Map<string, Promise<Session>>()
  /** Aborted at shutdown: in-flight calls answer "the broker is restarting" instead of hanging. */
  const stopping = new AbortController()
  let callsInFlight = 0

  const full = () => httpSessions.size + sseSessions.size + resuming.size >= config.maxSessions

  const background = (effect: Effect.Effect<void>) => {
    runFork(effect)
  }

  // Closing ----------------------------------------------------------------------------------

  /**
   * A session ended (DELETE, its SSE stream dropped, idle, shutdown): its peer goes offline, so the
   * commands it held return to the queue. At shutdown, Streamable HTTP sessions keep their peers:
   * their clients will carry on with the same session id once the broker is back.
   */
  const onClosed = (session: Session) => {
    if (session.closed) return
    session.closed = true
    const map = session.http ? httpSessions : sseSessions
    if (map.get(session.id) === session) map.delete(session.id)
    for (const controller of session.calls.values()) controller.abort()
    session.project.pusher.remove(session.push)
    const keepPeer = stopping.signal.aborted && session.http !== undefined
    if (session.state.connected && !keepPeer) {
      background(
        session.project.broker.disconnect(session.state.peerId, "session_closed").pipe(
          Effect.asVoid,
          Effect.catchAll((error) =>
            error._tag === "NotFound" ? Effect.void : Effect.logWarning("could not mark an MCP peer offline", error)
          )
        )
      )
    }
  }

  const close = (session: Session) =>
    Effect.promise(() => session.server.close().catch(() => undefined)).pipe(Effect.zipRight(Effect.sync(() => onClosed(session))))

  // Tool calls -------------------------------------------------------------------------------

  const callTool = async (
    session: Session,
    name: string,
    args: unknown,
    extra: {
      readonly signal: AbortSignal
      readonly requestId: RequestId
      readonly _meta?: { readonly progressToken?: string | number } | undefined
      readonly sendNotification: (notification: {
        method: "notifications/progress"
        params: { progressToken: string | number; progress: number; total?: number; message?: string }
      }) => Promise<void>
    }
  ): Promise<CallToolResult> => {
    const tool = toolsByName.get(name)
    if (tool === undefined) return errorResult("unknown_tool", `there is no tool '${name}'; see tools/list`)
    // The session's token decides, as the guard does for REST: a viewer's session reads only.
    const principal = session.state.principal
    const refused = principal === undefined ? undefined : refusalFor(principal, toolAccess(name), session.project.name)
    if (refused !== undefined) return errorResult(refused.code, refused.message)
    if (stopping.signal.aborted) return errorResult("broker_restarting", restartingMessage(name))
    session.lastActivity = Date.now()
    const own = new AbortController()
    if (session.dropped.delete(extra.requestId)) own.abort()
    session.calls.set(extra.requestId, own)
    const signal = AbortSignal.any([extra.signal, own.signal, stopping.signal])
    const token = extra._meta?.progressToken
    const context: ToolContext = {
      broker: session.project.broker,
      session: session.state,
      waitMs,
      aborted: () => signal.aborted,
      withProgress: (label, totalMs) => (effect) =>
        token === undefined || config.progressIntervalMs <= 0
          ? effect
          : Effect.scoped(
              Effect.zipRight(
                Effect.forkScoped(progressTicker(label, totalMs, (progress, message) =>
                  extra.sendNotification({
                    method: "notifications/progress",
                    params: { progressToken: token, progress, total: totalMs / 1000, message }
                  })
                )),
                effect
              )
            )
    }
    callsInFlight++
    try {
      const exit = await runPromiseExit(tool.call(args, context), { signal })
      session.project.pusher.refresh(session.push)
      // Work waiting is told with every answer, so agents on harnesses without push learn of it too.
      const inbox = inboxFor(session)
      const told = (result: CallToolResult) => (isEmpty(inbox) ? result : withInbox(result, inbox))
      if (Exit.isSuccess(exit)) return told(textResult(exit.value))
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        const error: ToolFailure | { readonly code: string; readonly message: string } = failure.value
        return told(errorResult(error.code, error.message))
      }
      if (Cause.isInterruptedOnly(exit.cause)) {
        return stopping.signal.aborted
          ? errorResult("broker_restarting", restartingMessage(name))
          : errorResult("cancelled", "the call was cancelled; nothing was taken or changed by the wait")
      }
      await runPromise(Effect.logError(`MCP tool ${name} failed`, exit.cause))
      return errorResult("internal", "the broker hit an internal error; see its log")
    } finally {
      callsInFlight--
      session.calls.delete(extra.requestId)
      session.lastActivity = Date.now()
    }
  }

  const restartingMessage = (tool: string) =>
    `the broker is shutting down or restarting; nothing was taken. Call ${tool} again in a few seconds: this session and its role survive a restart.`

  /** Progress every interval while a wait runs: elapsed seconds of the total. */
  const progressTicker = (
    label: string,
    totalMs: number,
    send: (progress: number, message: string) => Promise<void>
  ): Effect.Effect<never> => {
    let elapsedMs = 0
    const tick = Effect.suspend(() => {
      elapsedMs += config.progressIntervalMs
      const progress = Math.min(elapsedMs, totalMs) / 1000
      return Effect.promise(() =>
        send(progress, `${label}: ${secondsText(progress)} of ${secondsText(totalMs / 1000)}`).catch(() => undefined)
      )
    })
    return Effect.forever(Effect.zipRight(Effect.sleep(config.progressIntervalMs), tick))
  }

  // Sessions ---------------------------------------------------------------------------------

  const newServer = (project: McpProject, session: () => Session) => {
    const mcp = new McpServer({ name: "claude-ipc-broker", version }, { instructions: project.instructions, jsonSchemaValidator })
    mcp.server.registerCapabilities(serverCapabilities)
    mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: toolListFor(session().state.principal, project.name) }))
    mcp.server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
      callTool(session(), request.params.name, request.params.arguments, extra)
    )
    mcp.server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: [inboxResource] }))
    mcp.server.setRequestHandler(ReadResourceRequestSchema, (request) => readInbox(request.params.uri, inboxFor(session())))
    mcp.server.setRequestHandler(SubscribeRequestSchema, (request) => {
      knownResource(request.params.uri)
      session().inboxWatched = true
      return {}
    })
    mcp.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
      knownResource(request.params.uri)
      session().inboxWatched = false
      return {}
    })
    mcp.server.onclose = () => onClosed(session())
    // Transport hiccups (a client that left, a malformed message) are answered on the wire already:
    // worth a line only when looking closely.
    mcp.server.onerror = (error) =>
      background(Effect.logDebug("MCP transport error", error).pipe(Effect.annotateLogs({ session: session().id })))
    return mcp
  }

  const newHttpSession = (project: McpProject, id: string, resumed: boolean, principal: Principal | undefined): Session => {
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      // A resumed session is registered once its identity is known, not at its implicit initialize.
      onsessioninitialized: () => {
        if (resumed) return
        httpSessions.set(id, session)
        project.pusher.add(session.push)
      },
      onsessionclosed: () => undefined,
      // Comment frames come from the broker's one timer for all streams (streamKeepAlive.ts).
      keepAliveMs: 0
    })
    const state = newState("http", id, resumed, principal)
    const session: Session = {
      id,
      project,
      state,
      server: newServer(project, () => session),
      http: transport,
      sse: undefined,
      lastActivity: Date.now(),
      active: 0,
      streamed: false,
      closed: false,
      calls: new Map(),
      dropped: new Set(),
      push: pushTarget(() => session, state),
      inboxWatched: false
    }
    return session
  }

  const syntheticPost = () =>
    new Request("http://broker.invalid/mcp", {
      method: "POST",
      headers: { accept: "application/json, text/event-stream", "content-type": "application/json" }
    })

  /**
   * A request for a session this broker does not know — it was started by a broker that has since
   * restarted. Several clients never re-initialize after a 404, so instead the session is created
   * again under the same id and initialized implicitly; the peer id is recomputed from the session
   * id, and if the log still knows that peer the session carries on as it.
   */
  const resume = (
    project: McpProject,
    id: string,
    protocolVersion: string | undefined,
    principal: Principal | undefined
  ): Promise<Session> => {
    const pending = resuming.get(id)
    if (pending) return pending
    const promise = (async () => {
      const session = newHttpSession(project, id, true, principal)
      await session.server.connect(session.http!)
      const version =
        protocolVersion !== undefined && SUPPORTED_PROTOCOL_VERSIONS.includes(protocolVersion)
          ? protocolVersion
          : LATEST_PROTOCOL_VERSION
      const initialize = {
        jsonrpc: "2.0",
        id: `resume-${id}`,
        method: "initialize",
        params: { protocolVersion: version, capabilities: {}, clientInfo: { name: "resumed-session", version: "0" } }
      }
      await (await session.http!.handleRequest(syntheticPost(), { parsedBody: initialize })).text()
      await (
        await session.http!.handleRequest(syntheticPost(), {
          parsedBody: { jsonrpc: "2.0", method: "notifications/initialized" }
        })
      ).text()
      const peer = await runPromise(Effect.option(project.broker.peer(session.state.peerId)))
      if (Option.isSome(peer)) session.state.connected = true
      else session.state.lost = true
      httpSessions.set(id, session)
      project.pusher.add(session.push)
      await runPromise(
        Effect.logInfo(
          Option.isSome(peer)
            ? `MCP session resumed after a restart as ${peer.value.role} (${peer.value.id})`
            : "MCP session resumed after a restart without a known peer"
        ).pipe(Effect.annotateLogs({ project: project.name }))
      )
      return session
    })().finally(() => resuming.delete(id))
    resuming.set(id, promise)
    return promise
  }

  /** Hand one HTTP exchange to a session's transport and stream its answer back. */
  const exchange = async (session: Session, req: IncomingMessage, res: ServerResponse, body: unknown) => {
    session.active++
    session.lastActivity = Date.now()
    if (req.method === "GET") session.streamed = true
    const ids = req.method === "POST" ? requestIds(body) : []
    const onClose = () => {
      if (res.writableFinished) return
      // The client dropped this POST: the calls it carried can no longer answer, so end them now
      // (a wait that has not claimed anything leaves the command in the queue).
      for (const id of ids) {
        const call = session.calls.get(id)
        if (call) call.abort()
        else if (session.dropped.size < 1_000) session.dropped.add(id)
      }
    }
    // First among the close listeners: the route's own one ends the response, after which a
    // dropped exchange could no longer be told from a finished one.
    res.prependOnceListener("close", onClose)
    try {
      const response = await session.http!.handleRequest(
        toWebRequest(req),
        req.method === "POST" ? { parsedBody: body } : undefined
      )
      await writeWebResponse(response, res, keepAlive.hold)
    } finally {
      session.active--
      session.lastActivity = Date.now()
      // Only ids that never reached a handler linger in `dropped`; forget them with the exchange.
      setTimeout(() => {
        for (const id of ids) session.dropped.delete(id)
      }, 1_000).unref()
    }
  }

  const streamable = (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    if (stopping.signal.aborted) {
      writeJsonRpcError(res, 503, -32000, "the broker is shutting down; try again in a few seconds")
      return Promise.resolve()
    }
    const header = req.headers["mcp-session-id"]
    const id = typeof header === "string" && header.length > 0 ? header : undefined
    const requested = projectOfRequest(req)
    const opening = id === undefined || !httpSessions.has(id)
    if (opening && req.method !== "DELETE" && full()) {
      writeJsonRpcError(res, 503, -32000, `too many MCP sessions (${config.maxSessions}); try again later`)
      return Promise.resolve()
    }
    if (req.method === "POST" && isInitializeRequest(body) && opening) {
      const session = newHttpSession(projects.of(requested), randomUUID(), false, principalOf(req))
      return session.server
        .connect(session.http!)
        .then(() => exchange(session, req, res, body))
        .finally(() => {
          // An initialize that failed (bad headers, a batch) leaves no session behind.
          if (!httpSessions.has(session.id)) void session.server.close().catch(() => undefined)
        })
    }
    if (id === undefined) {
      writeJsonRpcError(
        res,
        400,
        -32000,
        "Bad Request: Mcp-Session-Id header is required (start a session with an initialize request)"
      )
      return Promise.resolve()
    }
    // The credentials first: a session's project is told only to whoever may use the session.
    const known = httpSessions.get(id)
    if (known) {
      if (!samePrincipal(known.state.principal, principalOf(req))) return refuseOtherPrincipal(res)
      if (known.project.name !== requested) return refuseOtherProject(res, known.project.name, "/mcp", requested)
      return exchange(known, req, res, body)
    }
    const legacy = sseSessions.get(id)
    if (legacy) {
      const messages = mcpPathOf(legacy.project.name, "/mcp/messages")
      writeJsonRpcError(res, 400, -32000, `this session id belongs to a legacy SSE session; use ${messages}`)
      return Promise.resolve()
    }
    if (!plausibleSessionId(id)) {
      writeJsonRpcError(res, 404, -32001, "Session not found")
      return Promise.resolve()
    }
    // A session from before a restart: the log tells which project its peer is of, if it has one.
    const owner = projects.knowing(peerIdFor("http", id), requested)
    if (owner !== undefined && owner !== requested) return refuseOtherProject(res, owner, "/mcp", requested)
    const project = projects.of(requested)
    if (req.method === "DELETE") {
      // Ending a session from before a restart: nothing to resume, but its peer goes offline.
      return runPromise(
        project.broker.disconnect(peerIdFor("http", id), "session_closed").pipe(
          Effect.ignore,
          Effect.zipRight(
            Effect.sync(() => {
              res.writeHead(200).end()
            })
          )
        )
      )
    }
    const protocolVersion = req.headers["mcp-protocol-version"]
    return resume(project, id, typeof protocolVersion === "string" ? protocolVersion : undefined, principalOf(req)).then((session) =>
      !samePrincipal(session.state.principal, principalOf(req))
        ? refuseOtherPrincipal(res)
        : session.project.name !== requested
          ? refuseOtherProject(res, session.project.name, "/mcp", requested)
          : exchange(session, req, res, body)
    )
  }

  // Legacy HTTP+SSE --------------------------------------------------------------------------

  const openSse = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (stopping.signal.aborted) {
      writeJsonRpcError(res, 503, -32000, "the broker is shutting down; try again in a few seconds")
      return
    }
    if (full()) {
      writeJsonRpcError(res, 503, -32000, `too many MCP sessions (${config.maxSessions}); try again later`)
      return
    }
    const project = projects.of(projectOfRequest(req))
    // The endpoint the client posts to is under the project's path too (`/p/<project>/mcp/messages`).
    const transport = new SSEServerTransport(mcpPathOf(project.name, "/mcp/messages"), res)
    const id = transport.sessionId
    const state = newState("sse", id, false, principalOf(req))
    const session: Session = {
      id,
      project,
      state,
      server: newServer(project, () => session),
      http: undefined,
      sse: transport,
      lastActivity: Date.now(),
      active: 1,
      // The stream is the session here: when it drops, the session closes and its peer goes offline.
      streamed: false,
      closed: false,
      calls: new Map(),
      dropped: new Set(),
      push: pushTarget(() => session, state),
      inboxWatched: false
    }
    sseSessions.set(id, session)
    project.pusher.add(session.push)
    const ended = new Promise<void>((resolve) => {
      if (res.destroyed || res.writableEnded) resolve()
      else res.once("close", () => resolve())
    })
    try {
      await session.server.connect(transport)
      keepAlive.hold(res)
      await ended
    } finally {
      session.active--
      session.lastActivity = Date.now()
      // The stream is the session: once it is gone, so is the session (and its peer).
      if (!session.closed) await session.server.close().catch(() => undefined)
      onClosed(session)
    }
  }

  const postSse = async (sessionId: string, req: IncomingMessage, res: ServerResponse, body: unknown) => {
    const session = sseSessions.get(sessionId)
    const requested = projectOfRequest(req)
    if (session === undefined || session.closed) {
      writeJsonRpcError(
        res,
        404,
        -32001,
        `Session not found: open a new stream with GET ${mcpPathOf(requested, "/mcp/sse")} (legacy SSE sessions do not survive a broker restart; call connect(role) again)`
      )
      return
    }
    if (!samePrincipal(session.state.principal, principalOf(req))) return refuseOtherPrincipal(res)
    if (session.project.name !== requested) return refuseOtherProject(res, session.project.name, "/mcp/messages", requested)
    session.active++
    session.lastActivity = Date.now()
    try {
      await session.sse!.handlePostMessage(req, res, body)
    } catch (error) {
      await runPromise(Effect.logError("MCP SSE message could not be handled", error).pipe(Effect.annotateLogs({ session: sessionId })))
      writeJsonRpcError(res, 500, -32603, "the message could not be handled")
    } finally {
      session.active--
      session.lastActivity = Date.now()
    }
  }

  // Sweeping ---------------------------------------------------------------------------------

  /**
   * A live session's peer stays online. An online peer is only noted alive, in memory (see
   * src/broker/liveness.ts), with no Effect per session per sweep; a heartbeat is written only when
   * the log must have one (a stale peer coming back, or on a shared log without liveness gossip a
   * recorded sign of life grown old). An idle session on a healthy cluster thus adds no event. A peer that is gone (a reset) or offline is left alone: offline means someone took
   * it offline on purpose, and the session's next call revives or connects it.
   */
  const keepPeerOnline = (session: Session, now: number): Effect.Effect<void> | undefined => {
    if (wentAway(session, now)) return undefined
    const { broker } = session.project
    const peer = broker.projection.peers.get(session.state.peerId)
    if (peer === undefined || peerStatus(peer) === "offline" || !broker.liveness.note(peer, now)) return undefined
    return broker.heartbeat(session.state.peerId).pipe(
      Effect.asVoid,
      Effect.catchAll((error) =>
        error._tag === "NotFound"
          ? Effect.void
          : Effect.logWarning("could not keep an MCP session's peer online", error).pipe(
              Effect.annotateLogs({ peerId: session.state.peerId })
            )
      )
    )
  }

  /**
   * A client that held the session's stream open and has neither a stream nor a request now, nor
   * any for a staleness period, has gone (a killed process leaves no DELETE behind): its peer is no
   * longer kept online, so it goes stale and then offline like a silent REST peer, and the commands
   * it held return to the queue — in minutes, not at the session's idle timeout. Its next call, if
   * it comes back, revives it. A client that never opened a stream is idle between calls by design
   * and keeps its peer until the session itself is swept.
   */
  const wentAway = (session: Session, now: number) =>
    session.streamed && session.active === 0 && now - session.lastActivity >= brokerConfig.staleAfterMs

  const sweep = Effect.suspend(() => {
    const now = Date.now()
    const work: Array<Effect.Effect<void>> = []
    for (const session of [...httpSessions.values(), ...sseSessions.values()]) {
      if (session.closed) continue
      if (session.active === 0 && now - session.lastActivity >= config.sessionIdleMs) work.push(close(session))
      else if (session.state.connected) {
        const beat = keepPeerOnline(session, now)
        if (beat) work.push(beat)
      }
    }
    return work.length === 0 ? Effect.void : Effect.all(work, { discard: true })
  }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("MCP session sweep failed", cause)))

  yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(config.sweepIntervalMs)))

  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      stopping.abort()
      // Let interrupted waits answer "the broker is restarting" before their streams close.
      yield* Effect.sleep("10 millis").pipe(
        Effect.repeat({ until: () => callsInFlight === 0 }),
        Effect.timeout(config.shutdownGraceMs),
        Effect.ignore
      )
      const all = [...httpSessions.values(), ...sseSessions.values()]
      yield* Effect.forEach(all, close, { discard: true, concurrency: "unbounded" })
      // Closed transports end their streams; let the last frames reach the sockets.
      yield* Effect.sleep("10 millis").pipe(
        Effect.repeat({ until: () => all.every((session) => session.active === 0) }),
        Effect.timeout(config.shutdownGraceMs),
        Effect.ignore
      )
      yield* FiberSet.awaitEmpty(fibers).pipe(Effect.timeout(config.shutdownGraceMs), Effect.ignore)
    })
  )

  /** Run one exchange; a bug in it is logged and answered with a 500, never a hung socket. */
  const guarded = (what: string, res: ServerResponse, run: () => Promise<void>) =>
    Effect.promise(() =>
      run().catch(async (error: unknown) => {
        await runPromise(Effect.logError(`MCP ${what} failed`, error))
        writeJsonRpcError(res, 500, -32603, "the broker hit an internal error; see its log")
      })
    )

  return McpSessions.of({
    streamable: (req, res, body) => guarded("request", res, () => streamable(req, res, body)),
    openSse: (req, res) => guarded("SSE stream", res, () => openSse(req, res)),
    postSse: (sessionId, req, res, body) => guarded("SSE message", res, () => postSse(sessionId, req, res, body)),
    count: Effect.sync(() => ({ http: httpSessions.size, sse: sseSessions.size }))
  })
})

export const McpSessionsLive = Layer.scoped(McpSessions, makeMcpSessions)
