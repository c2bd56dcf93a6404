import { Effect, Schema } from "effect"
import { ActionArg, arg, BooleanArg, IdempotencyKeyArg, NameArg, SecondsArg, timeoutArg } from "./args.js"
import { defineTool, optional, required, type WaitLimits } from "./define.js"
import { me } from "./identity.js"
import { commandLine, json, outcomeLine, presentPeers, rolesIn, seconds, who } from "./render.js"

/** Commands: send_command, wait_for_command, ack_command, wait_for_result, cancel_command, command_status. */
export const commandTools = (limits: WaitLimits) => {
  const timeoutField = () => timeoutArg(limits)

  const sendCommand = defineTool({
    name: "send_command",
    description:
      "Queue a command for a role (any peer of it may take it) or a peer id. Returns its id; then wait_for_result(id).",
    fields: {
      target: required(NameArg, arg.name("role or peer id")),
      action: required(ActionArg, arg.string("what to do, short")),
      params: optional(Schema.Unknown, arg.json("details, any JSON")),
      ttl: optional(SecondsArg, arg.seconds("seconds until it expires if nobody acks it (default never)")),
      idempotency_key: optional(IdempotencyKeyArg, arg.string("a retry with the same key sends nothing new"))
    },
    run: ({ target, action, params, ttl, idempotency_key }, context) =>
      Effect.gen(function* () {
        const peer = yield* me(context)
        const ttlMs = ttl === undefined ? null : Math.max(1, Math.round(ttl * 1000))
        const command = yield* context.broker.sendCommand({
          from: peer.id,
          target,
          action,
          params: params ?? null,
          ttlMs,
          ...(idempotency_key === undefined ? {} : { idempotencyKey: idempotency_key })
        })
        const takers = presentPeers(context.broker.projection, (id, role) => id === target || role === target)
        const note =
          command.status === "held"
            ? `It is HELD for a person's approval (${command.heldReason === "loop_guard" ? "too many commands to this target in a minute" : "its target needs approval"}): delivered only once a person approves it; wait_for_result reports 'rejected' if they refuse.`
            : takers.length === 0
              ? `Nobody online is ${json(target)} yet; the command waits until one connects.`
              : null
        const structured = { command, takers, note }
        const sentLine = command.duplicate
          ? `Already sent as ${command.id} (same idempotency_key): nothing new sent. Next: wait_for_result(${json(command.id)}).`
          : `Sent ${command.id} to ${json(target)}: ${json(action)}. Next: wait_for_result(${json(command.id)}).`
        const text = [sentLine, ...(note ? [note] : [])].join("\n")
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
        const roles = rolesIn(broker.projection)
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
    description: "Wait until a command is done (acked, failed, expired, cancelled or dead); returns its result.",
    fields: { command_id: required(NameArg, arg.name("id from send_command")), timeout: timeoutField() },
    run: ({ command_id, timeout }, context) =>
      Effect.gen(function* () {
        const { broker } = context
        const ms = context.waitMs(timeout)
        const { value, timedOut } = yield* context.withProgress(`waiting for the result of ${command_id}`, ms)(
          broker.waitForResult(command_id, ms)
        )
        const roles = rolesIn(broker.projection)
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

  const commandStatus = defineTool({
    name: "command_status",
    description: "A command with its attempts and history: every event, by whom.",
    fields: { id: required(NameArg, arg.name("command id")) },
    run: ({ id }, context) =>
      Effect.gen(function* () {
        const command = yield* context.broker.commandDetail(id)
        const roles = rolesIn(context.broker.projection)
        const text = [
          `${outcomeLine(command, roles)}; delivered ${command.attempts} time(s).`,
          ...command.history.map((entry) => `#${entry.seq} ${entry.type}${entry.by === null ? "" : ` by ${who(entry.by, roles)}`}`)
        ].join("\n")
        return { structured: { command }, text }
      })
  })

  return { sendCommand, waitForCommand, ackCommand, waitForResult, cancelCommand, commandStatus }
}
