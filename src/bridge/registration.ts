/**
 * What the stdio bridge remembers of its peer, so that it can be itself again after a broker
 * restart: the role, capabilities and label it registered with (from its flags, or from the
 * model's own connect call), and the channels and signals it follows. The broker keeps following
 * in the MCP session, which a restart loses; a memory log loses the peer too.
 */
export interface Registration {
  role: string | undefined
  capabilities: ReadonlyArray<string>
  label: string | undefined
  readonly channels: Set<string>
  readonly signals: Set<string>
}

export const newRegistration = (from: {
  readonly role?: string | undefined
  readonly capabilities?: ReadonlyArray<string>
  readonly label?: string | undefined
  readonly subscribe?: ReadonlyArray<string>
}): Registration => ({
  role: from.role,
  capabilities: from.capabilities ?? [],
  label: from.label,
  channels: new Set(from.subscribe ?? []),
  signals: new Set()
})

export interface ToolCall {
  readonly name: string
  readonly arguments: Record<string, unknown>
}

interface Result {
  readonly isError?: boolean | undefined
  readonly structuredContent?: Record<string, unknown> | undefined
}

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

/** Learn from a tool call the model made through the bridge and its answer. */
export const observe = (registration: Registration, call: ToolCall, result: Result): void => {
  if (result.isError) return
  const args = call.arguments
  switch (call.name) {
    case "connect": {
      const you = result.structuredContent?.you as { role?: unknown; capabilities?: unknown; name?: unknown } | undefined
      if (text(args.role) === undefined || you === undefined || typeof you.role !== "string") return
      registration.role = you.role
      registration.capabilities = Array.isArray(you.capabilities) ? you.capabilities.filter((c) => typeof c === "string") : []
      registration.label = text(you.name) ?? undefined
      return
    }
    case "disconnect":
    case "reset_broker":
      registration.role = undefined
      return
    case "subscribe":
    case "unsubscribe": {
      const add = call.name === "subscribe"
      const channel = text(args.channel)
      const signal = text(args.signal)
      if (channel !== undefined) add ? registration.channels.add(channel) : registration.channels.delete(channel)
      if (signal !== undefined) add ? registration.signals.add(signal) : registration.signals.delete(signal)
      return
    }
  }
}

/** What my_info says of the session as the broker sees it now. */
export interface SessionInfo {
  readonly connected: boolean
  readonly following?: { readonly channels?: ReadonlyArray<{ readonly channel: string }>; readonly signals?: ReadonlyArray<string> }
}

/** The calls that make the broker's session what the bridge remembers (none when it already is). */
export const renewal = (registration: Registration, info: SessionInfo): ReadonlyArray<ToolCall> => {
  const calls: Array<ToolCall> = []
  if (!info.connected && registration.role !== undefined) {
    calls.push({
      name: "connect",
      arguments: {
        role: registration.role,
        capabilities: [...registration.capabilities],
        ...(registration.label === undefined ? {} : { name: registration.label })
      }
    })
  }
  const channels = new Set((info.following?.channels ?? []).map((c) => c.channel))
  const signals = new Set(info.following?.signals ?? [])
  for (const channel of registration.channels) if (!channels.has(channel)) calls.push({ name: "subscribe", arguments: { channel } })
  for (const signal of registration.signals) if (!signals.has(signal)) calls.push({ name: "subscribe", arguments: { signal } })
  return calls
}
