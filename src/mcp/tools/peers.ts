import { mayConnect } from "../../core/binding.js"
import { boundRoleOf } from "../../core/principal.js"
import { Effect } from "effect"
import { LabelArg, NameArg, NamesArg, arg } from "./args.js"
import { defineTool, optional, type WaitLimits } from "./define.js"
import { me } from "./identity.js"
import { brief, followed, json, peerLine, presentPeers } from "./render.js"

/** Joining and leaving the broker, and who is there: connect, my_info, list_peers, disconnect. */
export const peerTools = (_limits: WaitLimits) => {
  const connect = defineTool({
    name: "connect",
    description:
      "Join the broker. Without role: shows who is online and which roles are free or taken; then ask the user which role this session should play. With role: registers this session as that role; later tools act as it.",
    fields: {
      role: optional(NameArg, arg.name("role to play, e.g. backend")),
      capabilities: optional(NamesArg, arg.names("what you can do")),
      name: optional(LabelArg, arg.string("label shown to others"))
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
        yield* mayConnect(boundRoleOf(session.principal), broker.projection.peers, { id: session.peerId, role })
        const peer = yield* broker.connect({ id: session.peerId, role, capabilities: capabilities ?? [], name: name ?? null })
        session.connected = true
        session.lost = false
        const waiting = (yield* broker.commandsFor(peer.id)).filter((command) => command.status === "pending").length
        const sameRole = presentPeers(broker.projection, (id, other) => other === role && id !== peer.id)
        const next =
          "Worker: loop wait_for_command → do it → ack_command. To delegate: send_command(target role) → wait_for_result."
        const structured = { you: peer, waiting, sameRole, next }
        const lines = [
          `Connected as ${role} (peer ${peer.id}).`,
          ...(waiting > 0 ? [`${waiting === 1 ? "1 command is" : `${waiting} commands are`} waiting for you: call wait_for_command.`] : []),
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
          `${waiting === 1 ? "1 command" : `${waiting} commands`} waiting for you.`
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

  return { connect, myInfo, listPeers, disconnect }
}
