import * as Command from "@effect/cli/Command"
import { Console, Effect, Option } from "effect"
import type { Status } from "../broker/Broker.js"
import type { PeerView } from "../core/views.js"
import { defaultProject } from "../core/projects.js"
import { request, type Connection } from "./client.js"
import { CliIo } from "./io.js"
import { clientOptions, connection, describe, jsonOption, seqOption } from "./options.js"
import { counted, paint, shortTime, table, type Paint } from "./paint.js"
import { who } from "./peerNames.js"

const count = <A>(items: ReadonlyArray<A>, key: (item: A) => string) => {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return counts
}

/** At most `limit` items, and how many more there are. */
const some = (items: ReadonlyArray<string>, limit = 6) =>
  items.length === 0 ? "none" : items.slice(0, limit).join(", ") + (items.length > limit ? `, … ${items.length - limit} more` : "")

/** `/status` as a person reads it: one line per kind of thing. */
const statusLines = (status: Status, broker: Connection, p: Paint = paint(false)): Array<string> => {
  const peers = count(status.peers, (peer) => peer.status)
  const counts = status.commandCounts as Record<string, number>
  const open = status.commands.filter((command) => command.status === "pending" || command.status === "delivered")
  const atHead = status.seq === status.log.head
  // Peers by role (and label) first, the id second, as `tail` and `read` name them.
  const labels = new Map(status.peers.map((peer) => [peer.id, peer]))
  const named = (id: string) => who(id, labels.get(id), p)
  return [
    // The project named, unless default: the counts below are that project's, the log line the broker's.
    `${p.bold(`claude-ipc-broker ${status.version}`)} at ${broker.url}` +
      `${broker.project === undefined || broker.project === defaultProject ? "" : `, project ${p.bold(broker.project)}`}` +
      `, up since ${shortTime(status.startedAt)}`,
    `${p.dim("log")}       ${status.log.backend}, ${counted(status.log.head, "event")}` +
      (atHead ? "" : `; ${p.yellow(`showing the state at seq ${status.seq} (${shortTime(status.at)})`)}`),
    `${p.dim("peers")}     ${status.peers.length}: ${["online", "stale", "offline"].map((s) => `${peers.get(s) ?? 0} ${s}`).join(", ")}` +
      (status.peers.length === 0 ? "" : ` (${some(status.peers.map((peer) => `${named(peer.id)} ${peer.status}`))})`),
    `${p.dim("commands")}  ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ")}`,
    ...(open.length === 0
      ? []
      : [`${p.dim("open")}      ${some(open.map((c) => `${c.id} ${c.action} → ${named(c.deliveredTo ?? c.target)} ${c.status}`))}`]),
    `${p.dim("channels")}  ${some(status.channels.map((channel) => `${channel.name} (${channel.count})`))}`,
    `${p.dim("signals")}   ${some(status.signals.map((signal) => `${signal.name} ${signal.fired ? `fired ×${signal.count}` : "armed"}`))}`
  ]
}

export const status = Command.make(
  "status",
  {
    ...clientOptions,
    json: jsonOption,
    at: seqOption("at", "the state right after this event instead of now")
  },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection(args)
      const io = yield* CliIo
      const state = yield* request<Status>(broker, "GET", "/status", { query: { at: Option.getOrUndefined(args.at) } })
      yield* Console.log(args.json ? JSON.stringify(state, null, 2) : statusLines(state, broker, paint(io.color)).join("\n"))
    })
).pipe(
  Command.withDescription(
    describe("A readable summary of a running broker: its log, peers, commands, channels and signals.", [
      "claude-ipc-broker status",
      "claude-ipc-broker status --at 120          # the state right after event 120",
      "claude-ipc-broker status --project web     # project web's state (/p/web/status)",
      "claude-ipc-broker status --json --url http://broker.lan:9100 --token \"$BROKER_TOKEN\""
    ])
  )
)

const statusColour = (p: Paint, status: PeerView["status"]) =>
  status === "online" ? p.green(status) : status === "stale" ? p.yellow(status) : p.dim(status)

const peerLines = (peers: ReadonlyArray<PeerView>, p: Paint = paint(false)): Array<string> =>
  peers.length === 0
    ? ["no peers"]
    : table([
        ["ID", "ROLE", "STATUS", "LAST SEEN", "NAME", "CAPABILITIES"].map(p.dim),
        ...peers.map((peer) => [
          peer.id,
          peer.role,
          // Pad before colouring: escape codes would count towards the width.
          statusColour(p, peer.status as PeerView["status"]) + " ".repeat(7 - peer.status.length),
          shortTime(peer.lastSeenAt),
          peer.name ?? "-",
          peer.capabilities.join(",") || "-"
        ])
      ])

export const peers = Command.make("peers", { ...clientOptions, json: jsonOption }, (args) =>
  Effect.gen(function* () {
    const broker = yield* connection(args)
    const io = yield* CliIo
    const { peers } = yield* request<{ peers: ReadonlyArray<PeerView> }>(broker, "GET", "/peers")
    yield* Console.log(args.json ? JSON.stringify(peers, null, 2) : peerLines(peers, paint(io.color)).join("\n"))
  })
).pipe(
  Command.withDescription(
    describe("Every peer the broker knows, offline ones included, with role, status and when it was last seen.", [
      "claude-ipc-broker peers",
      "claude-ipc-broker peers --json | jq -r '.[] | select(.status == \"online\") | .id'"
    ])
  )
)
