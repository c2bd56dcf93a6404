import { createSignal } from "solid-js"
import type { CommandStatus } from "../../../src/core/machines/command.js"
import type { Category } from "../describe.js"

/**
 * Rows the panels render at first: more than a screenful, few enough that a step of the slider
 * repaints quickly. "Show more" raises them.
 */
export const initialRows = 60
const maxRows = 1_000
const moreRows = 100

/** What the person chose to see in the panels: the channel open, the filters, how many rows. */
export const createSelections = () => {
  const [channel, setChannel] = createSignal<string | null>(null)
  const [feedCategory, setFeedCategory] = createSignal<Category | null>(null)
  /**
   * Routine heartbeats (of a peer already online: a shared log records one now and then, logs
   * written before heartbeats left the log hold one every few seconds per peer) are noise, hidden
   * unless asked for. A heartbeat that brings a peer back online is a fact and always shows.
   */
  const [showHeartbeats, setShowHeartbeats] = createSignal(false)
  const [commandStatus, setCommandStatus] = createSignal<CommandStatus | null>(null)
  const [commandLimit, setCommandLimit] = createSignal(initialRows)
  const [feedLimit, setFeedLimit] = createSignal(initialRows)
  return {
    channel,
    selectChannel: (name: string | null) => setChannel(name),
    feedCategory,
    setFeedCategory,
    showHeartbeats,
    setShowHeartbeats,
    commandStatus,
    setCommandStatus,
    commandLimit,
    moreCommands: () => setCommandLimit((n) => Math.min(maxRows, n + moreRows)),
    feedLimit,
    moreEvents: () => setFeedLimit((n) => Math.min(maxRows, n + moreRows)),
    maxRows
  }
}

export type Selections = ReturnType<typeof createSelections>
