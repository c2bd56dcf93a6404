import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  CallToolRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type Notification,
  type Tool
} from "@modelcontextprotocol/sdk/types.js"
import { defaultMcpConfig } from "../mcp/Config.js"
import { inboxLine, isEmpty, type Inbox } from "../mcp/inbox.js"
import { inboxResource, inboxUri, knownResource, serverCapabilities } from "../mcp/inboxResource.js"
import { instructionsIn, makeTools } from "../mcp/tools/index.js"
import { version } from "../version.js"
import { newRegistration, observe, renewal, type Registration, type SessionInfo } from "./registration.js"
import { LinkLost, reasonOf, Upstream } from "./Upstream.js"

/**
 * `claude-ipc-broker mcp`: an MCP server on stdio that acts for one peer on a broker. Harnesses
 * that only speak stdio (and Claude Code's channel pushes, which only stdio servers may send) get
 * the broker through it.
 *
 * It relays: tools/list, tools/call (with progress and cancellation), the inbox resource and the
 * broker's pushes go to and from the broker's own `/mcp` session (see Upstream), so the tools, their
 * texts and the pushes are the broker's, never a copy. What it adds is what a process can do that
 * a remote server cannot: register at start (`--role`, `--subscribe`), be itself again after a
 * broker restart, tell the model what waited while the broker was out of reach, and exit with its
 * parent.
 */

export interface BridgeOptions {
  readonly url: string
  /** The project to act in (`<url>/p/<project>/mcp`); none is `default` (the unprefixed `/mcp`). */
  readonly project?: string | undefined
  readonly token: string | undefined
  readonly role?: string | undefined
  readonly capabilities?: ReadonlyArray<string>
  readonly label?: string | undefined
  readonly subscribe?: ReadonlyArray<string>
  /** Diagnostics (stderr): stdout carries MCP frames only. */
  readonly log: (line: string) => void
  readonly retry?: { readonly initialMs: number; readonly maxMs: number }
}

export interface Bridge {
  /** Serve MCP on this transport (stdio in the CLI). */
  readonly connect: (transport: Transport) => Promise<void>
  /** End the broker session (its peer goes offline) and the server, within `withinMs`. */
  readonly close: (withinMs: number) => Promise<void>
}

/** How long a call made as the bridge starts waits for the first attempt to reach the broker. */
const firstLinkMs = 5_000

/** Waits last up to 110 s plus progress; the bridge's own limit must not cut one short. */
const callTimeoutMs = (defaultMcpConfig.maxWaitSeconds + 60) * 1000

const errorResult = (code: string, message: string): CallToolResult => ({
  content: [{ type: "text", text: `${code}: ${message}` }],
  structuredContent: { error: { code, message } },
  isError: true
})

/** The tool list served while the broker cannot be reached: the broker's own definitions. */
const offlineTools = (): Array<Tool> =>
  makeTools(defaultMcpConfig).map((tool) => tool.definition as Tool)

/** The broker's own instructions for the project (they name one other than default), and the role given at start. */
const instructionsFor = (project: string | undefined, role: string | undefined): string =>
  role === undefined
    ? instructionsIn(project)
    : `${instructionsIn(project)}\nThis session is registered as ${role} by its configuration: no need to call connect(role) unless you are told to switch role.`

export const makeBridge = (options: BridgeOptions): Bridge => {
  const registration: Registration = newRegistration(options)
  const { log } = options
  const server = new Server(
    { name: "claude-ipc-broker", version },
    {
      capabilities: { ...serverCapabilities, tools: { listChanged: true } },
      instructions: instructionsFor(options.project, options.role)
    }
  )
  let inboxWatched = false
  let servedOfflineTools = false
  let closing = false

  // Broker → client ------------------------------------------------------------------------------

  const notify = (notification: Notification) => {
    if (closing) return
    server.notification(notification).catch((error: unknown) => log(`could not pass a notification on: ${reasonOf(error)}`))
  }

  const onNotification = (notification: Notification) => {
    if (notification.method === "notifications/resources/updated" && !inboxWatched) return
    notify(notification)
  }

  const upstream = new Upstream({
    url: options.url,
    project: options.project,
    token: options.token,
    onNotification,
    onLinked: (first) => void renew(first),
    log,
    ...(options.retry === undefined ? {} : { retry: options.retry })
  })

  // Being itself again --------------------------------------------------------------------------

  let renewing: Promise<void> | undefined
  let renewAgain = false

  /** Make the broker's session what this bridge remembers, then tell the model what waits. */
  const renew = (first: boolean): Promise<void> => {
    if (renewing) {
      renewAgain = true
      return renewing
    }
    renewing = (async () => {
      try {
        do {
          renewAgain = false
          await renewOnce(first)
        } while (renewAgain && !closing)
      } catch (error) {
        log(`could not renew the session on the broker: ${reasonOf(error)}`)
      } finally {
        renewing = undefined
      }
    })()
    return renewing
  }

  const renewOnce = async (first: boolean) => {
    const info = (await upstream.callTool({ name: "my_info", arguments: {} }, { timeout: 10_000 })).structuredContent as
      | SessionInfo
      | undefined
    if (info === undefined) return
    for (const call of renewal(registration, info)) {
      const result = await upstream.callTool(call, { timeout: 10_000 })
      const text = result.content.map((part) => (part.type === "text" ? part.text : "")).join(" ")
      log(`${call.name} ${JSON.stringify(call.arguments)}: ${result.isError ? "failed: " : ""}${text.split("\n")[0]}`)
    }
    if (first && servedOfflineTools) {
      servedOfflineTools = false
      notify({ method: "notifications/tools/list_changed" })
    }
    if (inboxWatched) await upstream.subscribeResource(inboxUri)
    const inbox = await readInbox()
    if (inbox !== undefined && !isEmpty(inbox)) {
      notify({
        method: "notifications/claude/channel",
        params: {
          content: `${first ? "Work is waiting" : "The broker is back; work is waiting"}. ${inboxLine(inbox)}`,
          meta: inboxMeta(inbox)
        }
      })
    }
  }

  const readInbox = async (): Promise<Inbox | undefined> => {
    const read = await upstream.readResource(inboxUri)
    const content = read.contents[0]
    return content && "text" in content ? (JSON.parse(content.text) as Inbox) : undefined
  }

  // Client → broker ------------------------------------------------------------------------------

  const unreachableMessage = () => {
    const reason = upstream.lastError ?? "no answer"
    // A project's token used in another project: the token is right, the project is not.
    if (/^403 forbidden_project:/.test(reason)) {
      return `the broker at ${upstream.endpoint} refused this bridge (${reason}); give it the token's project with --project or BROKER_PROJECT in the server's env.`
    }
    return /^40[13] /.test(reason)
      ? `the broker at ${upstream.endpoint} refused this bridge (${reason}); give it the broker's token with --token or BROKER_TOKEN in the server's env.`
      : `the broker at ${upstream.endpoint} cannot be reached (${reason}). This bridge keeps trying on its own; call the tool again in a few seconds.`
  }
  const unreachable = () =>
    errorResult(/^40[13] /.test(upstream.lastError ?? "") ? "broker_refused" : "broker_unreachable", unreachableMessage())

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    if (!upstream.linked) await upstream.settled(firstLinkMs)
    if (upstream.linked) {
      try {
        return await upstream.listTools()
      } catch {
        // Fall through to the definitions this package has.
      }
    }
    servedOfflineTools = true
    return { tools: offlineTools() }
  })

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    if (!upstream.linked) await upstream.settled(firstLinkMs)
    if (!upstream.linked) return unreachable()
    // A call made while the bridge registers (at start, after a restart) finds it registered.
    if (renewing) await renewing
    const call = { name: request.params.name, arguments: request.params.arguments ?? {} }
    const token = request.params._meta?.progressToken
    try {
      const result = await upstream.callTool(call, {
        signal: extra.signal,
        timeout: callTimeoutMs,
        resetTimeoutOnProgress: true,
        onprogress: (progress) => {
          if (token === undefined) return
          extra
            .sendNotification({ method: "notifications/progress", params: { ...progress, progressToken: token } })
            .catch(() => undefined)
        }
      })
      observe(registration, call, result)
      // The broker restarted without this peer (a memory log): be it again, then the model may retry.
      const error = (result.structuredContent as { error?: { code?: string; message?: string } } | undefined)?.error
      if (error?.code === "not_connected" && registration.role !== undefined && /restart/.test(error.message ?? "")) {
        await renew(false)
      }
      return result
    } catch (error) {
      if (extra.signal.aborted) return errorResult("cancelled", "the call was cancelled")
      if (error instanceof LinkLost) {
        return errorResult(
          "broker_unreachable",
          `the broker stopped answering while ${call.name} was in flight: ${error.message.replace(/^MCP error -?\d+: /, "")}. This bridge keeps trying on its own; call ${call.name} again in a few seconds (a command a wait had taken and not handed over returns to the queue when its lease lapses).`
        )
      }
      if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
        return errorResult("timeout", `the broker did not answer ${call.name} in time; call it again`)
      }
      if (error instanceof McpError) return errorResult("bridge_error", error.message)
      upstream.lastError = reasonOf(error)
      return unreachable()
    }
  })

  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: [inboxResource] }))

  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    if (!upstream.linked) throw new McpError(ErrorCode.InternalError, unreachableMessage())
    return upstream.readResource(request.params.uri)
  })

  // Remembered here too, so that a broker that restarted is asked again (see renewOnce).
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    knownResource(request.params.uri)
    inboxWatched = true
    if (upstream.linked) await upstream.subscribeResource(inboxUri).catch(() => undefined)
    return {}
  })

  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    knownResource(request.params.uri)
    inboxWatched = false
    if (upstream.linked) await upstream.unsubscribeResource(inboxUri).catch(() => undefined)
    return {}
  })

  return {
    connect: async (transport) => {
      await server.connect(transport)
      upstream.start()
    },
    close: async (withinMs) => {
      closing = true
      await upstream.close(withinMs)
      await server.close().catch(() => undefined)
    }
  }
}

/** The inbox in a push's meta: string values, keys in [A-Za-z0-9_]. */
const inboxMeta = (inbox: Inbox): Record<string, string> => ({
  kind: "inbox",
  ...(inbox.commands.waiting > 0
    ? { count: String(inbox.commands.waiting), command_id: inbox.commands.ids[0]!, command_ids: inbox.commands.ids.slice(0, 50).join(",") }
    : {}),
  ...(inbox.channels.length > 0 ? { channel: inbox.channels[0]!.channel, message_id: String(inbox.channels[0]!.lastId) } : {}),
  ...(inbox.signals.length > 0 ? { signal: inbox.signals[0]!.name } : {})
})
