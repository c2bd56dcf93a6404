import { Data, Effect, ParseResult, Schema } from "effect"
import type { BrokerService } from "../broker/Broker.js"
import type { BrokerError } from "../core/errors.js"
import { namePattern, nameRule } from "../core/names.js"
import type { CommandView, MessageView, PeerView, SignalView } from "../core/views.js"
import { markRead, markSignalSeen, firingOf, type Following } from "./inbox.js"

/**
 * The broker as MCP tools: each tool decodes its arguments, calls the Broker service, and renders
 * the answer twice — `structuredContent` for programs and a short text for the model. No tool
 * decides anything the Broker does not: identity is the only state a session keeps.
 */

// ---------------------------------------------------------------------------------------------
// Sessions as the tools see them
// ---------------------------------------------------------------------------------------------

/** What one MCP session knows about itself. The peer id is derived from the session id. */
export interface SessionState {
  readonly transport: "http" | "sse"
  /** The peer this session acts as once connected: a one-way hash of the session id. */
  readonly peerId: string
  /** True after connect(role) (or after a resumed session found its peer in the log). */
  connected: boolean
  /** Created implicitly for a session id the broker did not know (a broker restart). */
  resumed: boolean
  /** Resumed, but the broker knows no peer for it (memory log, or it never connected). */
  lost: boolean
  /** Commands wait_for_command handed to the model in this session; others it holds are handed again. */
  readonly handedOut: Set<string>
  /** Channels and signals this session subscribed to, and how far it has seen them. */
  readonly following: Following
  /** wait_for_command calls in flight (a session inside one is not pushed its commands). */
  waitingForCommand: number
}

export interface ToolContext {
  readonly broker: BrokerService
  readonly session: SessionState
  /** A wait's timeout in ms: the default when absent, clamped to the maximum. */
  readonly waitMs: (seconds: number | undefined) => number
  /** Report progress while `effect` runs, when the client asked for progress. */
  readonly withProgress: (label: string, totalMs: number) => <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** The call was cancelled or its connection dropped: what it returns will not reach the model. */
  readonly aborted: () => boolean
}

/** The wait bounds the descriptions announce, in seconds. */
export interface WaitLimits {
  readonly defaultWaitSeconds: number
  readonly maxWaitSeconds: number
}

export interface ToolOutput {
  readonly structured: Record<string, unknown>
  readonly text: string
}

/** A failure the model should read: a stable code and a sentence saying what to do. */
export class ToolFailure extends Data.TaggedError("ToolFailure")<{ readonly code: string; readonly message: string }> {}

const fail = (code: string, message: string) => Effect.fail(new ToolFailure({ code, message }))

type Failure = ToolFailure | BrokerError

// ---------------------------------------------------------------------------------------------
// Arguments: one Effect Schema and one compact JSON Schema per field, declared together
// ---------------------------------------------------------------------------------------------

type JsonSchema = Record<string, unknown>

interface Field<S extends Schema.Schema.All | Schema.PropertySignature.All> {
  readonly schema: S
  readonly json: JsonSchema
  readonly required: boolean
}

const required = <A, I>(schema: Schema.Schema<A, I>, json: JsonSchema): Field<Schema.Schema<A, I>> => ({
  schema,
  json,
  required: true
})

/** Optional; a null counts as absent (see `withoutNulls`). */
const optional = <A, I>(schema: Schema.Schema<A, I>, json: JsonSchema) => ({
  schema: Schema.optionalWith(schema, { exact: true }),
  json,
  required: false
})

const NameArg = Schema.String.pipe(Schema.pattern(namePattern, { message: () => `must be ${nameRule}` }))

/** Models sometimes send numbers (and booleans) as strings; both are accepted. */
const NumberArg = Schema.Union(Schema.Number, Schema.NumberFromString).annotations({
  message: () => ({ message: "must be a number", override: true })
})

const SecondsArg = NumberArg.pipe(
  Schema.filter((n) => (Number.isFinite(n) && n >= 0) || "must be a number of seconds, 0 or more")
)

const CountArg = NumberArg.pipe(
  Schema.filter((n) => (Number.isInteger(n) && n >= 0) || "must be a whole number, 0 or more")
)

const BooleanArg = Schema.Union(Schema.Boolean, Schema.BooleanFromString).annotations({
  message: () => ({ message: "must be true or false", override: true })
})

const ActionArg = Schema.String.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(200),
  Schema.pattern(/^[^\u0000-\u001f]*$/, { message: () => "must not contain control characters" })
)

const arg = {
  name: (description: string) => ({ type: "string", description }),
  string: (description: string) => ({ type: "string", description }),
  seconds: (description: string, maximum?: number) => ({ type: "number", ...(maximum === undefined ? {} : { maximum }), description }),
  count: (description: string) => ({ type: "integer", description }),
  boolean: (description: string) => ({ type: "boolean", description }),
  json: (description: string) => ({ description }),
  names: (description: string) => ({ type: "array", items: { type: "string" }, description })
}

type Fields = Record<string, Field<Schema.Schema.All | Schema.PropertySignature.All>>
type Args<F extends Fields> = Schema.Struct.Type<{ [K in keyof F]: F[K]["schema"] }>

/** A tool with its arguments erased: what the session server lists and calls. */
export interface Tool {
  readonly name: string
  /** As listed by tools/list. */
  readonly definition: {
    readonly name: string
    readonly description: string
    readonly inputSchema: JsonSchema
    readonly annotations?: Record<string, unknown>
  }
  readonly call: (args: unknown, context: ToolContext) => Effect.Effect<ToolOutput, Failure>
}

const describeParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ")

/** Models often send `null` for an argument they mean to leave out. */
const withoutNulls = (input: unknown): unknown =>
  typeof input === "object" && input !== null && !Array.isArray(input)
    ? Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null))
    : (input ?? {})

const defineTool = <F extends Fields>(spec: {
  readonly name: string
  readonly description: string
  readonly fields: F
  readonly annotations?: Record<string, unknown>
  readonly run: (args: Args<F>, context: ToolContext) => Effect.Effect<ToolOutput, Failure>
}): Tool => {
  const schemas = Object.fromEntries(Object.entries(spec.fields).map(([key, field]) => [key, field.schema]))
  const struct = Schema.Struct(schemas) as unknown as Schema.Schema<Args<F>, unknown>
  const decode = Schema.decodeUnknown(struct, { onExcessProperty: "ignore", errors: "all" })
  const requiredKeys = Object.entries(spec.fields)
    .filter(([, field]) => field.required)
    .map(([key]) => key)
  const inputSchema: JsonSchema = {
    type: "object",
    properties: Object.fromEntries(Object.entries(spec.fields).map(([key, field]) => [key, field.json])),
    ...(requiredKeys.length > 0 ? { required: requiredKeys } : {})
  }
  return {
    name: spec.name,
    definition: {
      name: spec.name,
      description: spec.description,
      inputSchema,
      ...(spec.annotations ? { annotations: spec.annotations } : {})
    },
    call: (input, context) =>
      decode(withoutNulls(input)).pipe(
        Effect.mapError(
          (error) => new ToolFailure({ code: "bad_request", message: `invalid arguments: ${describeParseError(error)}` })
        ),
        Effect.flatMap((args) => spec.run(args, context))
      )
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const json = (value: unknown): string => {
  const text = JSON.stringify(value)
  return text === undefined ? "null" : text
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`

interface PeerBrief {
  readonly id: string
  readonly role: string
  readonly name: string | null
  readonly status: PeerView["status"]
}

const brief = (peer: PeerView): PeerBrief => ({ id: peer.id, role: peer.role, name: peer.name, status: peer.status })

const peerLine = (peer: PeerBrief) =>
  `${peer.role} (${peer.id}${peer.name ? `, "${peer.name}"` : ""}${peer.status === "online" ? "" : `, ${peer.status}`})`

/** "mcp-abc (backend)" when the sender is a known peer, else the raw value. */
const who = (id: string | null, roles: ReadonlyMap<string, string>) =>
  id === null ? "someone" : roles.has(id) ? `${id} (${roles.get(id)})` : id

const roleIndex = (peers: ReadonlyArray<PeerView>) => new Map(peers.map((peer) => [peer.id, peer.role]))

const commandLine = (command: CommandView, roles: ReadonlyMap<string, string>) =>
  `${command.id} from ${who(command.from, roles)}: action ${json(command.action)}, params ${json(command.params)}`

const outcomeLine = (command: CommandView, roles: ReadonlyMap<string, string>) => {
  switch (command.status) {
    case "acked":
      return `${command.id} done by ${who(command.deliveredTo, roles)}; result ${json(command.result)}`
    case "failed":
      return `${command.id} FAILED at ${who(command.deliveredTo, roles)}; result ${json(command.result)}`
    case "expired":
      return `${command.id} expired before anyone acked it`
    case "cancelled":
      return `${command.id} was cancelled`
    case "delivered":
      return `${command.id} is being worked on by ${who(command.deliveredTo, roles)}`
    case "pending":
      return `${command.id} is pending: nobody of target ${json(command.target)} has taken it yet`
  }
}

const messageLine = (message: MessageView, roles: ReadonlyMap<string, string>) =>
  `#${message.id} ${who(message.from, roles)}: ${json(message.data)}`

const signalLine = (signal: SignalView) =>
  signal.fired
    ? `signal ${json(signal.name)} is SET${signal.data === null ? "" : ` with data ${json(signal.data)}`}`
    : `signal ${json(signal.name)} is not set`

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

const notConnected = (session: SessionState) =>
  session.lost
    ? fail(
        "not_connected",
        "This session was resumed after a broker restart, and the broker knows no peer for it (it kept no log, or the session never connected). Call connect(role) again."
      )
    : fail("not_connected", "Not connected: call connect() to see the free roles, then connect(role).")

/**
 * The peer this session acts as. The call is a sign of life: noted by the broker, and the peer
 * brought back online if the sweeper or someone marked it stale or offline. Fails with a tool error
 * when the session has no peer.
 */
const me = ({ broker, session }: ToolContext): Effect.Effect<PeerView, Failure> =>
  Effect.gen(function* () {
    if (!session.connected) return yield* notConnected(session)
    return yield* broker.heartbeat(session.peerId).pipe(
      Effect.catchTag("NotFound", () => {
        session.connected = false
        session.handedOut.clear()
        return fail(
          "not_connected",
          "This session's peer no longer exists (the broker was reset). Call connect(role) again."
        )
      })
    )
  })

// ---------------------------------------------------------------------------------------------
// The tools
// ---------------------------------------------------------------------------------------------

/** The tools, with the wait bounds of this broker in their descriptions. */
export const makeTools = (limits: WaitLimits): ReadonlyArray<Tool> => {
  const { defaultWaitSeconds: byDefault, maxWaitSeconds: max } = limits
  const timeoutField = () => optional(SecondsArg, arg.seconds(`seconds to wait (default ${byDefault})`, max))

  const connect = defineTool({
    name: "connect",
    description:
      "Join the broker. Without role: shows who is online and which roles are free or taken; then ask the user which role this session should play. With role: registers this session as that role; later tools act as it.",
    fields: {
      role: optional(NameArg, arg.name("role to play, e.g. backend")),
      capabilities: optional(Schema.Array(NameArg).pipe(Schema.maxItems(64)), arg.names("what you can do")),
      name: optional(Schema.String.pipe(Schema.maxLength(128)), arg.string("label shown to others"))
    },
    run: ({ role, capabilities, name }, context) =>
      Effect.gen(function* () {
        const { broker, session } = context
        if (role === undefined) {
          const peers = yield* broker.peers
          const present = peers.filter((peer) => peer.status !== "offline")
          const taken = [...new Set(present.map((peer) => peer.role))].sort()
          const known = new Set(peers.map((peer) => peer.id))
          const waiting: Record<string, number> = {}
          for (const command of yield* broker.commands({ status: "pending", limit: 1000 })) {
            if (!known.has(command.target)) waiting[command.target] = (waiting[command.target] ?? 0) + 1
          }
          const free = [...new Set([...peers.map((peer) => peer.role), ...Object.keys(waiting)])]
            .filter((r) => !taken.includes(r))
            .sort()
          const you = session.connected ? yield* Effect.option(broker.peer(session.peerId)) : undefined
          const youView = you && you._tag === "Some" ? brief(you.value) : null
          const next = youView
            ? `You are already connected as ${youView.role}; connect(role) switches role.`
            : "Ask the user which role this session should play (a free one or a new name), then call connect(role)."
          const structured = { connected: youView !== null, you: youView, online: present.map(brief), roles: { taken, free }, waiting, next }
          const lines = [
            present.length === 0 ? "Nobody is online." : `Online: ${present.map(peerLine).join("; ")}.`,
            `Roles taken: ${taken.join(", ") || "none"}. Free roles: ${free.join(", ") || "none known (any name works)"}.`,
            ...(Object.keys(waiting).length > 0
              ? [`Commands waiting for a role: ${Object.entries(waiting).map(([r, n]) => `${r} ${n}`).join(", ")}.`]
              : []),
            next
          ]
          return { structured, text: lines.join("\n") }
        }
        const peer = yield* broker.connect({ id: session.peerId, role, capabilities: capabilities ?? [], name: name ?? null })
        session.connected = true
        session.lost = false
        const waiting = (yield* broker.commandsFor(peer.id)).filter((command) => command.status === "pending").length
        const sameRole = (yield* broker.peers).filter(
          (other) => other.role === role && other.id !== peer.id && other.status !== "offline"
        )
        const next =
          "Worker: loop wait_for_command → do it → ack_command. To delegate: send_command(target role) → wait_for_result."
        const structured = { you: peer, waiting, sameRole: sameRole.map(brief), next }
        const lines = [
          `Connected as ${role} (peer ${peer.id}).`,
          ...(waiting > 0 ? [`${waiting} command(s) are waiting for you: call wait_for_command.`] : []),
          ...(sameRole.length > 0 ? [`Also in this role: ${sameRole.map(peerLine).join("; ")}.`] : []),
          next
        ]
        return { structured, text: lines.join("\n") }
      })
  })

  const myInfo = defineTool({
    name: "my_info",
    description: "This session's identity: peer id, role, status, commands held.",
    fields: {},
    run: (_, context) =>
      Effect.gen(function* () {
        const { broker, session } = context
        if (!session.connected) {
          const structured = {
            connected: false,
            you: null,
            transport: session.transport,
            resumed: session.resumed,
            following: followed(session.following)
          }
          const text = session.lost
            ? "Not connected: the broker restarted and knows no peer for this session. Call connect(role) again."
            : "Not connected. Call connect() to see the free roles, then connect(role)."
          return { structured, text }
        }
        const peer = yield* me(context)
        const commands = yield* broker.commandsFor(peer.id)
        const holding = commands.filter((c) => c.status === "delivered").map((c) => ({ id: c.id, action: c.action, from: c.from }))
        const waiting = commands.filter((c) => c.status === "pending").length
        const structured = {
          connected: true,
          you: peer,
          transport: session.transport,
          resumed: session.resumed,
          holding,
          waiting,
          following: followed(session.following)
        }
        const lines = [
          `You are ${peerLine(brief(peer))}, over ${session.transport}${session.resumed ? " (session resumed after a broker restart)" : ""}.`,
          holding.length > 0
            ? `Holding (not yet acked): ${holding.map((c) => `${c.id} ${json(c.action)}`).join(", ")}.`
            : "Holding no commands.",
          `${waiting} command(s) waiting for you.`
        ]
        return { structured, text: lines.join("\n") }
      })
  })

  const listPeers = defineTool({
    name: "list_peers",
    description: "Peers online or stale, with their roles.",
    fields: {},
    run: (_, { broker }) =>
      Effect.map(broker.peers, (peers) => {
        const present = peers.filter((peer) => peer.status !== "offline")
        const offline = peers.length - present.length
        const structured = {
          peers: present.map((peer) => ({ ...brief(peer), capabilities: peer.capabilities, lastSeenAt: peer.lastSeenAt })),
          offline
        }
        const text =
          (present.length === 0 ? "Nobody is online." : present.map(peerLine).join("\n")) +
          (offline > 0 ? `\n(${offline} offline)` : "")
        return { structured, text }
      })
  })

  const sendCommand = defineTool({
    name: "send_command",
    description:
      "Queue a command for a role (any peer of it may take it) or a peer id. Returns its id; then wait_for_result(id).",
    fields: {
      target: required(NameArg, arg.name("role or peer id")),
      action: required(ActionArg, arg.string("what to do, short")),
      params: optional(Schema.Unknown, arg.json("details, any JSON")),
      ttl: optional(SecondsArg, arg.seconds("seconds until it expires if nobody acks it (default never)"))
    },
    run: ({ target, action, params, ttl }, context) =>
      Effect.gen(function* () {
        const peer = yield* me(context)
        const ttlMs = ttl === undefined ? null : Math.max(1, Math.round(ttl * 1000))
        const command = yield* context.broker.sendCommand({ from: peer.id, target, action, params: params ?? null, ttlMs })
        const takers = (yield* context.broker.peers).filter(
          (other) => other.status !== "offline" && (other.id === target || other.role === target)
        )
        const note =
          takers.length === 0 ? `Nobody online is ${json(target)} yet; the command waits until one connects.` : null
        const structured = { command, takers: takers.map(brief), note }
        const text = [`Sent ${command.id} to ${json(target)}: ${json(action)}. Next: wait_for_result(${json(command.id)}).`, ...(note ? [note] : [])].join("\n")
        return { structured, text }
      })
  })

  const waitForCommand = defineTool({
    name: "wait_for_command",
    description:
      "Wait for the next command for your role or id and take it (held for you until you ack; if you vanish it goes back to the queue). Always ack_command it. On timeout just call again.",
    fields: { timeout: timeoutField() },
    run: ({ timeout }, context) =>
      Effect.gen(function* () {
        const { broker, session } = context
        const peer = yield* me(context)
        const roles = roleIndex(yield* broker.peers)
        // A command this peer holds but the model never saw (a cancelled call, a dropped connection,
        // a broker restart) is handed again before any new one: delivery is at least once.
        const held = (yield* broker.commandsFor(peer.id)).filter((c) => c.status === "delivered" && c.deliveredTo === peer.id)
        const heldIds = new Set(held.map((c) => c.id))
        for (const id of session.handedOut) if (!heldIds.has(id)) session.handedOut.delete(id)
        const again = held.find((c) => !session.handedOut.has(c.id))
        const ms = context.waitMs(timeout)
        const found = again
          ? { value: again, timedOut: false }
          : yield* Effect.acquireUseRelease(
              Effect.sync(() => session.waitingForCommand++),
              () => context.withProgress(`waiting for a command for ${peer.role}`, ms)(broker.waitForCommand(peer.id, ms)),
              () => Effect.sync(() => session.waitingForCommand--)
            )
        if (found.value === null) {
          const structured = { command: null, timedOut: true, waitedSeconds: ms / 1000 }
          return { structured, text: `No command within ${seconds(ms)}. Call wait_for_command again.` }
        }
        const command = found.value
        if (!context.aborted()) session.handedOut.add(command.id)
        const structured = { command, timedOut: false, redelivered: again !== undefined }
        const text = [
          `${again ? "Still yours (handed again, not acked yet)" : "New command"}: ${commandLine(command, roles)}.`,
          `Do it, then ack_command(${json(command.id)}, result) (ok=false if it failed).`
        ].join("\n")
        return { structured, text }
      })
  })

  const ackCommand = defineTool({
    name: "ack_command",
    description: "Finish a command: result (any JSON) goes back to the sender; ok=false reports failure.",
    fields: {
      id: required(NameArg, arg.name("command id")),
      result: optional(Schema.Unknown, arg.json("outcome, any JSON")),
      ok: optional(BooleanArg, arg.boolean("false if it failed (default true)"))
    },
    run: ({ id, result, ok }, context) =>
      Effect.gen(function* () {
        const peer = yield* me(context)
        const command = yield* context.broker.ack(id, { ok: ok ?? true, result: result ?? null, by: peer.id })
        context.session.handedOut.delete(id)
        return {
          structured: { command },
          text: `${command.id} ${command.status}. Call wait_for_command for the next one.`
        }
      })
  })

  const waitForResult = defineTool({
    name: "wait_for_result",
    description: "Wait until a command is done (acked, failed, expired or cancelled); returns its result.",
    fields: { command_id: required(NameArg, arg.name("id from send_command")), timeout: timeoutField() },
    run: ({ command_id, timeout }, context) =>
      Effect.gen(function* () {
        const { broker } = context
        const ms = context.waitMs(timeout)
        const { value, timedOut } = yield* context.withProgress(`waiting for the result of ${command_id}`, ms)(
          broker.waitForResult(command_id, ms)
        )
        const roles = roleIndex(yield* broker.peers)
        const command = value!
        const structured = { command, timedOut }
        const text = timedOut
          ? `After ${seconds(ms)}: ${outcomeLine(command, roles)}. Call wait_for_result again to keep waiting.`
          : `${outcomeLine(command, roles)}.`
        return { structured, text }
      })
  })

  const cancelCommand = defineTool({
    name: "cancel_command",
    description: "Cancel a command that is not done yet.",
    fields: { id: required(NameArg, arg.name("command id")) },
    run: ({ id }, context) =>
      Effect.gen(function* () {
        const peer = yield* me(context)
        const command = yield* context.broker.cancel(id, peer.id)
        return { structured: { command }, text: `${command.id} cancelled.` }
      })
  })

  const sendMessage = defineTool({
    name: "send_message",
    description: "Post a message (any JSON) to a channel; everyone can read it.",
    fields: {
      channel: required(NameArg, arg.name("channel name, e.g. results")),
      message: required(Schema.Unknown, arg.json("the message, any JSON"))
    },
    run: ({ channel, message }, context) =>
      Effect.gen(function* () {
        if (message === undefined) return yield* fail("bad_request", "invalid arguments: message is required")
        const peer = yield* me(context)
        const posted = yield* context.broker.publish(channel, peer.id, message)
        // One's own message is no news: a follower caught up to just before it stays caught up.
        if (context.session.following.channels.get(channel) === posted.id - 1) markRead(context.session.following, channel, posted.id)
        return { structured: { message: posted }, text: `Posted #${posted.id} to ${json(channel)}.` }
      })
  })

  const readMessages = defineTool({
    name: "read_messages",
    description:
      "Messages of a channel after since_id (0 = from the start). With wait > 0, waits that long for a new one. Pass the returned lastId as the next since_id. firstId is the oldest message the broker still holds: if it is above since_id + 1, older messages were dropped by retention.",
    fields: {
      channel: required(NameArg, arg.name("channel name")),
      since_id: optional(CountArg, arg.count("last id already read (default 0)")),
      limit: optional(CountArg.pipe(Schema.filter((n) => (n >= 1 && n <= 1000) || "must be 1 to 1000")), arg.count("max messages (default 50)")),
      wait: optional(SecondsArg, arg.seconds("seconds to wait for a new message if none (default 0)", max))
    },
    run: ({ channel, since_id, limit, wait }, context) =>
      Effect.gen(function* () {
        const { broker } = context
        const since = since_id ?? 0
        const timeoutMs = wait === undefined || wait === 0 ? 0 : context.waitMs(wait)
        const read = broker.readMessages(channel, { since, limit: limit ?? 50, timeoutMs })
        const { messages, firstId, lastId } = yield* timeoutMs > 0
          ? context.withProgress(`waiting for a message on ${channel}`, timeoutMs)(read)
          : read
        if (messages.length > 0) markRead(context.session.following, channel, messages[messages.length - 1]!.id)
        const roles = roleIndex(yield* broker.peers)
        const structured = { channel, messages, firstId, lastId }
        const more = messages.length > 0 && messages[messages.length - 1]!.id < lastId
        const gone = firstId - 1 === since + 1 ? `Message #${firstId - 1} was` : `Messages #${since + 1} to #${firstId - 1} were`
        const missed = firstId > since + 1 ? [`${gone} dropped by retention before you read it.`] : []
        const text =
          messages.length === 0
            ? [...missed, `No messages on ${json(channel)} after #${since}${timeoutMs > 0 ? ` within ${seconds(timeoutMs)}` : ""} (lastId ${lastId}).`].join("\n")
            : [
                ...missed,
                ...messages.map((message) => messageLine(message, roles)),
                more
                  ? `More to read: call again with since_id ${messages[messages.length - 1]!.id}.`
                  : `lastId ${lastId}: pass it as since_id next time.`
              ].join("\n")
        return { structured, text }
      })
  })

  const signal = defineTool({
    name: "signal",
    description: "Set a named signal (optionally with data); wakes everyone in wait_for_signal.",
    fields: { name: required(NameArg, arg.name("signal name, e.g. ready-for-e2e")), data: optional(Schema.Unknown, arg.json("any JSON")) },
    run: ({ name, data }, context) =>
      Effect.gen(function* () {
        const peer = yield* me(context)
        const fired = yield* context.broker.fire(name, data ?? null, peer.id)
        return { structured: { signal: fired }, text: `${signalLine(fired)}.` }
      })
  })

  const waitForSignal = defineTool({
    name: "wait_for_signal",
    description: "Wait until a signal is set (returns at once if it already is).",
    fields: { name: required(NameArg, arg.name("signal name")), timeout: timeoutField() },
    run: ({ name, timeout }, context) =>
      Effect.gen(function* () {
        const ms = context.waitMs(timeout)
        const { value, timedOut } = yield* context.withProgress(`waiting for signal ${name}`, ms)(
          context.broker.waitForSignal(name, ms)
        )
        if (!timedOut) markSignalSeen(context.session.following, name, context.broker.projection.signals.get(name))
        const structured = { signal: value, timedOut }
        const text = timedOut
          ? `Signal ${json(name)} not set within ${seconds(ms)}. Call wait_for_signal again to keep waiting.`
          : `${signalLine(value!)}${value!.firedBy ? ` (by ${value!.firedBy})` : ""}.`
        return { structured, text }
      })
  })

  const clearSignal = defineTool({
    name: "clear_signal",
    description: "Unset a signal so it can be waited for again.",
    fields: { name: required(NameArg, arg.name("signal name")) },
    run: ({ name }, { broker, session }) =>
      Effect.map(broker.clearSignal(name), (cleared) => {
        markSignalSeen(session.following, name, broker.projection.signals.get(name))
        return { structured: { signal: cleared }, text: `${signalLine(cleared)}.` }
      })
  })

  const followed = (following: Following) => ({
    channels: [...following.channels].map(([channel, lastSeenId]) => ({ channel, lastSeenId })),
    signals: [...following.signals.keys()]
  })

  const followFields = {
    channel: optional(NameArg, arg.name("channel name")),
    signal: optional(NameArg, arg.name("signal name"))
  }

  const needsOne = (channel: string | undefined, signal: string | undefined) =>
    channel === undefined && signal === undefined ? fail("bad_request", "invalid arguments: name a channel or a signal") : Effect.void

  const subscribe = defineTool({
    name: "subscribe",
    description:
      "Follow a channel (new messages) or a signal (firing): you are told at once and in every result's inbox.",
    fields: followFields,
    run: ({ channel, signal }, { broker, session }) =>
      Effect.gen(function* () {
        yield* needsOne(channel, signal)
        const { projection } = broker
        const lines: Array<string> = []
        if (channel !== undefined) {
          const lastId = projection.channels.get(channel)?.context.count ?? 0
          if (!session.following.channels.has(channel)) session.following.channels.set(channel, lastId)
          lines.push(`Following ${json(channel)} from message #${session.following.channels.get(channel)! + 1} on (lastId now ${lastId}).`)
        }
        if (signal !== undefined) {
          const snapshot = projection.signals.get(signal)
          if (!session.following.signals.has(signal)) session.following.signals.set(signal, firingOf(snapshot))
          lines.push(`Watching signal ${json(signal)}; it is ${snapshot?.value === "fired" ? "SET now" : "not set now"}.`)
        }
        lines.push("News is pushed to this session and listed in the inbox of every result.")
        return { structured: { following: followed(session.following) }, text: lines.join("\n") }
      })
  })

  const unsubscribe = defineTool({
    name: "unsubscribe",
    description: "Stop following a channel or a signal.",
    fields: followFields,
    run: ({ channel, signal }, { session }) =>
      Effect.gen(function* () {
        yield* needsOne(channel, signal)
        if (channel !== undefined) session.following.channels.delete(channel)
        if (signal !== undefined) session.following.signals.delete(signal)
        const now = followed(session.following)
        const names = [...now.channels.map((c) => json(c.channel)), ...now.signals.map((name) => `signal ${json(name)}`)]
        return {
          structured: { following: now },
          text: `No longer following ${[channel && json(channel), signal && `signal ${json(signal)}`].filter(Boolean).join(" or ")}. Following: ${names.join(", ") || "nothing"}.`
        }
      })
  })

  const brokerStatus = defineTool({
    name: "broker_status",
    description: "Overview: peers, command counts, recent commands, channels, signals.",
    fields: {},
    run: (_, { broker }) =>
      Effect.map(broker.status, (status) => {
        const present = status.peers.filter((peer) => peer.status !== "offline")
        const roles = roleIndex(status.peers)
        const recent = status.commands.slice(0, 10).map((c) => ({
          id: c.id,
          from: c.from,
          target: c.target,
          action: c.action,
          status: c.status
        }))
        const structured = {
          seq: status.seq,
          log: status.log,
          version: status.version,
          startedAt: status.startedAt,
          peers: present.map(brief),
          commandCounts: status.commandCounts,
          recentCommands: recent,
          channels: status.channels,
          signals: status.signals.map((s) => ({ name: s.name, fired: s.fired, count: s.count }))
        }
        const counts = Object.entries(status.commandCounts)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${s} ${n}`)
          .join(", ")
        const text = [
          `Broker ${status.version}, log ${status.log.backend} at seq ${status.log.head}.`,
          `Peers: ${present.length === 0 ? "none online" : present.map(peerLine).join("; ")}.`,
          `Commands: ${counts || "none"}.`,
          ...recent.map((c) => `  ${c.id} ${who(c.from, roles)} → ${c.target} ${json(c.action)} ${c.status}`),
          `Channels: ${status.channels.map((c) => `${c.name} (lastId ${c.lastId})`).join(", ") || "none"}.`,
          `Signals: ${status.signals.map((s) => `${s.name}${s.fired ? " SET" : ""}`).join(", ") || "none"}.`
        ]
        return { structured, text: text.join("\n") }
      })
  })

  const resetBroker = defineTool({
    name: "reset_broker",
    description: "Erase ALL broker state: peers, commands, channels, signals. Only when the user asks.",
    fields: {},
    annotations: { destructiveHint: true },
    run: (_, { broker, session }) =>
      Effect.gen(function* () {
        yield* broker.reset(session.connected ? session.peerId : null)
        session.connected = false
        session.handedOut.clear()
        const head = yield* broker.head
        return {
          structured: { ok: true, head },
          text: "The broker was reset: every peer, command, channel and signal is gone. Each session must connect(role) again."
        }
      })
  })

  const disconnect = defineTool({
    name: "disconnect",
    description: "Leave the broker (go offline); commands you hold go back to the queue.",
    fields: {},
    run: (_, { broker, session }) =>
      Effect.gen(function* () {
        if (!session.connected) return { structured: { connected: false, you: null }, text: "Not connected." }
        const peer = yield* broker.disconnect(session.peerId, "disconnected").pipe(
          Effect.catchTag("NotFound", () => Effect.succeed(null))
        )
        session.connected = false
        session.handedOut.clear()
        return {
          structured: { connected: false, you: peer },
          text: "Disconnected; commands you held went back to the queue. connect(role) to come back."
        }
      })
  })

  return [
    connect,
    myInfo,
    listPeers,
    sendCommand,
    waitForCommand,
    ackCommand,
    waitForResult,
    cancelCommand,
    sendMessage,
    readMessages,
    signal,
    waitForSignal,
    clearSignal,
    subscribe,
    unsubscribe,
    brokerStatus,
    resetBroker,
    disconnect
  ]
}

/** What the model reads once, at initialize: the protocol in a few lines. */
export const instructions = [
  "Message broker shared by cooperating AI coding sessions.",
  "1. connect() first: it lists who is online and which roles are free. Ask the user which role this session plays, then connect(role). With no user to ask (headless), take the role your task or prompt names; never stall waiting for an answer.",
  "2. Workers: wait_for_command → do the work → ack_command(id, result) (always ack; ok=false on failure). A timeout only means nothing came yet.",
  "3. Delegate with send_command(target = a role or peer id, action, params), then wait_for_result(command_id).",
  "4. Where this client shows pushes (<channel source=\"broker\"> messages), you need not loop: an idle session is told when work arrives, then takes it with wait_for_command. A push is a hint; the command stays queued until a wait takes it. Every tool result also ends with an inbox line when work waits.",
  "Channels (send_message, read_messages with since_id; subscribe to be told of new ones) carry shared notes and results; signals are named flags (signal, wait_for_signal, clear_signal).",
  "Timeouts are in seconds; waits stop after at most 110 s, report progress, and may be cancelled: call again to keep waiting."
].join("\n")
