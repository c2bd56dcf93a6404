import { defaultProject } from "../../core/projects.js"
import { channelTools } from "./channels.js"
import { commandTools } from "./commands.js"
import type { Tool, WaitLimits } from "./define.js"
import { peerTools } from "./peers.js"
import { signalTools } from "./signals.js"
import { subscriptionTools } from "./subscriptions.js"
import { systemTools } from "./system.js"

/**
 * The broker as MCP tools, in the order tools/list shows them, and the instructions a session
 * reads at initialize. The stdio bridge (src/bridge) lists these very definitions.
 */

export { ToolFailure, type SessionState, type Tool, type ToolContext, type ToolOutput, type WaitLimits } from "./define.js"

/** The tools, with the wait bounds of this broker in their descriptions. */
export const makeTools = (limits: WaitLimits): ReadonlyArray<Tool> => {
  const { connect, myInfo, listPeers, disconnect } = peerTools(limits)
  const { sendCommand, waitForCommand, ackCommand, waitForResult, cancelCommand, commandStatus } = commandTools(limits)
  const { sendMessage, readMessages } = channelTools(limits)
  const { signal, waitForSignal, clearSignal } = signalTools(limits)
  const { subscribe, unsubscribe } = subscriptionTools(limits)
  const { brokerStatus, resetBroker } = systemTools(limits)
  return [
    connect,
    myInfo,
    listPeers,
    sendCommand,
    waitForCommand,
    ackCommand,
    waitForResult,
    cancelCommand,
    commandStatus,
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

/**
 * The instructions of a session in `project`: a session of another project than `default` is told
 * which one it is in, so that a model that finds no peers does not go looking for the others'.
 */
export const instructionsIn = (project: string = defaultProject): string =>
  project === defaultProject
    ? instructions
    : `${instructions}\nThis session works in project ${JSON.stringify(project)} of the broker: the peers, roles, commands, channels and signals it sees are that project's alone, and sessions of other projects can neither see nor reach it.`
