import { createSignal, For, Index, Show } from "solid-js"
import type { Category } from "../describe.js"
import { useDashboard } from "../dashboard/index.js"
import { Block } from "../ui/Json.js"
import { Time } from "../ui/Time.js"
import { Empty, Panel } from "../ui/Panel.js"

const categories: ReadonlyArray<{ readonly value: Category | null; readonly label: string }> = [
  { value: null, label: "all" },
  { value: "peer", label: "peers" },
  { value: "command", label: "commands" },
  { value: "channel", label: "messages" },
  { value: "signal", label: "signals" }
]

/**
 * The log as it happens, newest first, each event as a sentence. The newest line is the event the
 * panels show; "go to" on any line travels back to right after it.
 */
export const ActivityView = () => {
  const { frame, shown, files, selections, timeTravel } = useDashboard()
  const [open, setOpen] = createSignal<ReadonlySet<number>>(new Set())
  const toggle = (seq: number) =>
    setOpen((seqs) => {
      const next = new Set(seqs)
      if (!next.delete(seq)) next.add(seq)
      return next
    })

  return (
    <Panel
      id="activity"
      title="Activity"
      class="activity"
      count={frame.following ? (files.showing() === "live" ? "live" : "end of file") : `up to #${frame.seq}`}
      actions={
        <label
          class="check small"
          title="Also show routine heartbeats of peers already online. A heartbeat that brings a peer back online always shows."
        >
          <input type="checkbox" checked={selections.showHeartbeats()} onChange={(event) => selections.setShowHeartbeats(event.currentTarget.checked)} />
          heartbeats
        </label>
      }
    >
      <div class="filters" role="group" aria-label="Show activity of">
        <For each={categories}>
          {(category) => (
            <button
              type="button"
              class="filter"
              aria-pressed={selections.feedCategory() === category.value}
              onClick={() => selections.setFeedCategory(category.value)}
            >
              {category.label}
            </button>
          )}
        </For>
      </div>
      <Show when={frame.feed.length > 0} fallback={<Empty>{frame.total === 0 ? "Nothing has happened yet." : "No events of this kind up to here."}</Empty>}>
        <ol class="feed" aria-label="Events, newest first">
          <Index each={frame.feed}>
            {(item) => (
              <li class="event" data-category={item().category} data-tone={item().tone} data-seq={item().seq} classList={{ current: item().seq === frame.seq }}>
                <div class="event-line">
                  <span class="event-time muted small">
                    <Time at={item().at} reference={shown.reference()} />
                  </span>
                  <p class="event-text">{item().text}</p>
                </div>
                <div class="event-meta">
                  <button
                    type="button"
                    class="link-button small"
                    aria-expanded={open().has(item().seq)}
                    aria-label={`Event #${item().seq} ${item().type}: show its JSON`}
                    onClick={() => toggle(item().seq)}
                  >
                    #{item().seq} <code>{item().type}</code>
                  </button>
                  <Show when={item().seq !== frame.seq || !frame.following}>
                    <button
                      type="button"
                      class="link-button small go"
                      title="Show every panel as it was right after this event"
                      aria-label={`Travel to right after event #${item().seq}`}
                      onClick={() => timeTravel.scrubTo(item().seq)}
                    >
                      go to
                    </button>
                  </Show>
                </div>
                <Show when={open().has(item().seq)}>
                  <Block value={item().event} />
                </Show>
              </li>
            )}
          </Index>
        </ol>
        <Show when={frame.feed.length >= selections.feedLimit() && selections.feedLimit() < selections.maxRows}>
          <p class="more">
            <button type="button" class="button small" onClick={() => selections.moreEvents()}>
              Show older events
            </button>
          </p>
        </Show>
      </Show>
    </Panel>
  )
}
