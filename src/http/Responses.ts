import { Schema } from "effect"
import { commandStatuses } from "../core/machines/command.js"
import type { ChannelView, CommandDetail as CommandDetailView, CommandView, MessageView, PeerView, SignalView } from "../core/views.js"
import type { MessagesPage, MintedToken as MintedTokenView, Status as StatusView } from "../broker/Broker.js"
import { tokenRoles, type TokenView } from "../core/tokens.js"
import type { WhoAmI as WhoAmIView } from "../core/principal.js"

/**
 * The response shapes of the REST API as schemas, for `/openapi.json` only: handlers render the
 * views of src/core/views.ts directly. The checks at the bottom fail to compile when a view and its
 * schema part ways.
 */

const Time = Schema.String.annotations({ description: "ISO-8601 UTC time, taken from the log", format: "date-time" })
const AnyJson = Schema.Unknown.annotations({ description: "any JSON value" })

export const Peer = Schema.Struct({
  id: Schema.String,
  role: Schema.String,
  capabilities: Schema.Array(Schema.String),
  name: Schema.NullOr(Schema.String),
  status: Schema.Literal("online", "stale", "offline"),
  connectedAt: Time,
  lastSeenAt: Time
}).annotations({ identifier: "Peer" })

export const Command = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  target: Schema.String,
  action: Schema.String,
  params: AnyJson,
  status: Schema.Literal(...commandStatuses),
  createdAt: Time,
  deliveredTo: Schema.NullOr(Schema.String),
  deliveredAt: Schema.NullOr(Time),
  leaseExpiresAt: Schema.NullOr(Time),
  expiresAt: Schema.NullOr(Time),
  deliveries: Schema.Number,
  result: AnyJson,
  ackedAt: Schema.NullOr(Time),
  deadReason: Schema.NullOr(Schema.Literal("lease_expired", "holder_offline")).annotations({
    description: "why it is dead: its lease lapsed, or its holder went offline, with --max-deliveries reached; null unless dead"
  }),
  heldReason: Schema.NullOr(Schema.Literal("approval", "loop_guard")).annotations({
    description: "why it was held for a person: its target is under --require-approval, or its sender passed --gate-after; kept once approved, null if never held"
  })
}).annotations({ identifier: "Command" })

export const SentCommand = Schema.Struct({
  ...Command.fields,
  duplicate: Schema.optional(Schema.Literal(true)).annotations({
    description: "present when this send repeated an earlier one (same sender and Idempotency-Key, within 24 h): the original command, nothing recorded"
  })
}).annotations({ identifier: "SentCommand" })

export const HistoryEntry = Schema.Struct({
  seq: Schema.Number,
  at: Time,
  type: Schema.String.annotations({ description: "the event's type (docs/events.md); peer.went_offline when its holder went away" }),
  by: Schema.NullOr(Schema.String).annotations({
    description: "the sender, claimant, acking or cancelling peer, or the holder that went offline; null for the broker's own decisions and anonymous callers"
  })
}).annotations({ identifier: "HistoryEntry" })

export const CommandDetail = Schema.Struct({
  ...Command.fields,
  attempts: Schema.Number.annotations({ description: "times delivered" }),
  maxDeliveries: Schema.Number.annotations({ description: "deliveries (since its last redelivery) after which it becomes dead: --max-deliveries" }),
  history: Schema.Array(HistoryEntry).annotations({ description: "every event that moved the command, in log order" })
}).annotations({ identifier: "CommandDetail" })

export const Message = Schema.Struct({
  id: Schema.Number,
  channel: Schema.String,
  from: Schema.NullOr(Schema.String),
  at: Time,
  data: AnyJson
}).annotations({ identifier: "Message" })

export const PostedMessage = Schema.Struct({
  ...Message.fields,
  duplicate: Schema.optional(Schema.Literal(true)).annotations({
    description: "present when this send repeated an earlier one (same channel, sender and Idempotency-Key, within 24 h): the original message, nothing recorded"
  })
}).annotations({ identifier: "PostedMessage" })

const FirstId = Schema.Number.annotations({
  description: "the oldest message id still held; retention dropped the ids below it (lastId + 1 when it holds none)"
})

export const Channel = Schema.Struct({
  name: Schema.String,
  count: Schema.Number.annotations({ description: "messages held: ids firstId to lastId" }),
  firstId: FirstId,
  lastId: Schema.Number,
  lastAt: Schema.NullOr(Time)
}).annotations({ identifier: "Channel" })

export const Signal = Schema.Struct({
  name: Schema.String,
  fired: Schema.Boolean,
  data: AnyJson,
  firedAt: Schema.NullOr(Time),
  firedBy: Schema.NullOr(Schema.String),
  count: Schema.Number
}).annotations({ identifier: "Signal" })

const CommandCounts = Schema.Struct(
  Object.fromEntries(commandStatuses.map((status) => [status, Schema.Number])) as Record<(typeof commandStatuses)[number], typeof Schema.Number>
)
export const Status = Schema.Struct({
  seq: Schema.Number,
  at: Schema.NullOr(Time),
  peers: Schema.Array(Peer),
  commands: Schema.Array(Command),
  commandCounts: CommandCounts,
  channels: Schema.Array(Channel),
  signals: Schema.Array(Signal),
  log: Schema.Struct({ head: Schema.Number, backend: Schema.String }),
  startedAt: Time,
  version: Schema.String
}).annotations({ identifier: "Status" })

export const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({
    code: Schema.String.annotations({ description: "stable; what clients branch on" }),
    message: Schema.String.annotations({ description: "for people; may change" })
  })
}).annotations({ identifier: "Error" })

export const Peers = Schema.Struct({ peers: Schema.Array(Peer) })
export const Discovery = Schema.Struct({ peers: Schema.Array(Peer), roles: Schema.Array(Schema.String) })
export const Commands = Schema.Struct({ commands: Schema.Array(Command) })
export const CommandWait = Schema.Struct({ command: Schema.NullOr(Command), timedOut: Schema.Boolean })
export const ResultWait = Schema.Struct({ command: Command, timedOut: Schema.Boolean })
export const Messages = Schema.Struct({
  channel: Schema.String,
  messages: Schema.Array(Message),
  firstId: FirstId.annotations({ description: "the oldest id still held (1 for an unknown channel); above since + 1, retention dropped messages not read yet" }),
  lastId: Schema.Number
})
export const Channels = Schema.Struct({ channels: Schema.Array(Channel) })
export const SignalWait = Schema.Struct({ signal: Signal, timedOut: Schema.Boolean })
export const Signals = Schema.Struct({ signals: Schema.Array(Signal) })
export const Health = Schema.Struct({
  ok: Schema.Literal(true),
  /** Only on a shared log, while this node's view is behind it or cannot reach it. */
  status: Schema.optional(Schema.Literal("degraded")),
  message: Schema.optional(Schema.String),
  head: Schema.optional(Schema.Number),
  behind: Schema.optional(Schema.Number)
})
export const Token = Schema.Struct({
  name: Schema.String,
  project: Schema.String,
  role: Schema.Literal(...tokenRoles),
  boundRole: Schema.NullOr(Schema.String),
  mintedAt: Time
}).annotations({ identifier: "Token" })
export const Tokens = Schema.Struct({ tokens: Schema.Array(Token) })
export const MintedToken = Schema.Struct({
  ...Token.fields,
  token: Schema.String.annotations({ description: "the secret: shown this once, never stored (the log keeps its sha-256)" })
}).annotations({ identifier: "MintedToken" })
export const WhoAmI = Schema.Struct({
  kind: Schema.Literal("global", "loopback", "scoped").annotations({
    description: "the broker's admin token, a broker without --token trusting loopback, or a scoped token"
  }),
  name: Schema.optional(Schema.String.annotations({ description: "the scoped token's name" })),
  project: Schema.String,
  role: Schema.optional(Schema.Literal(...tokenRoles)),
  boundRole: Schema.optional(Schema.NullOr(Schema.String)),
  may: Schema.Struct({ read: Schema.Boolean, write: Schema.Boolean, admin: Schema.Boolean, tokens: Schema.Boolean }).annotations({
    description: "what the rights table lets this request do (docs/security.md)"
  })
}).annotations({ identifier: "WhoAmI" })
export const Projects = Schema.Struct({
  projects: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      peers: Schema.Number.annotations({ description: "peers not offline" }),
      commands: CommandCounts,
      channels: Schema.Number,
      signals: Schema.Number
    }).annotations({ identifier: "ProjectSummary" })
  )
}).annotations({ identifier: "Projects" })
export const ResetDone = Schema.Struct({ ok: Schema.Literal(true), head: Schema.Number })

/** Mutual assignability, element types compared without readonly-ness. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const same = <A, B>(check: Same<A, B>) => check

same<typeof Peer.Type, PeerView>(true)
same<typeof Command.Type, CommandView>(true)
same<typeof CommandDetail.Type, CommandDetailView>(true)
same<typeof Message.Type, MessageView>(true)
same<typeof Channel.Type, ChannelView>(true)
same<typeof Signal.Type, SignalView>(true)
same<typeof Status.Type, StatusView>(true)
same<typeof Messages.Type, MessagesPage & { readonly channel: string }>(true)
same<typeof Token.Type, TokenView>(true)
same<typeof MintedToken.Type, MintedTokenView>(true)
same<typeof WhoAmI.Type, WhoAmIView>(true)
