import { Effect } from "effect"
import { defineTool, type WaitLimits } from "./define.js"
import { brief, json, peerLine, roleIndex, who } from "./render.js"

/** The broker as a whole: broker_status, reset_broker. */
export const systemTools = (_limits: WaitLimits) => {
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

  return { brokerStatus, resetBroker }
}
