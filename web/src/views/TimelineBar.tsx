import { createEffect, Show } from "solid-js"
import { useDashboard } from "../dashboard/index.js"
import { formatCount, formatFullTime, formatTime } from "../ui/format.js"

/**
 * Time travel: a range input over the events of the log shown, 0 (nothing happened yet) to all of
 * them. Its scale is events, not seqs: a project's events are a part of the one log, and their seqs
 * leave gaps a drag would otherwise cross as dead ground. The label says the seq. Home is the start
 * of the log, End is the head, where the view follows new events live again.
 */
export const TimelineBar = () => {
  const { frame, files, timeTravel } = useDashboard()
  let slider!: HTMLInputElement
  const isFile = () => files.showing() === "file"

  // min, max and value in one place and in this order, so the browser never clamps the value to an old max.
  createEffect(() => {
    slider.min = "0"
    slider.max = String(frame.total)
    slider.value = String(frame.count)
    slider.setAttribute(
      "aria-valuetext",
      frame.count === 0
        ? "start of the log, before the first event"
        : `event ${frame.seq} of ${frame.lastSeq}${frame.following ? ", live" : ""}`
    )
  })

  return (
    <div class="timeline" classList={{ pinned: !frame.following }} role="group" aria-label="Time travel">
      <button type="button" class="button icon-button" aria-label="Previous event" title="Previous event (←)" onClick={() => timeTravel.step(-1)}>
        ‹
      </button>
      <label class="visually-hidden" for="replay">
        Replay position
      </label>
      <input
        ref={slider}
        id="replay"
        type="range"
        step="1"
        onInput={(event) => timeTravel.scrubToCount(Number(event.currentTarget.value))}
      />
      <button type="button" class="button icon-button" aria-label="Next event" title="Next event (→)" onClick={() => timeTravel.step(1)}>
        ›
      </button>
      <button
        type="button"
        class="button live-button"
        aria-pressed={frame.following}
        title={frame.following ? "Following the head of the log" : "Back to the head of the log (End)"}
        onClick={() => timeTravel.goLive()}
      >
        <span class="dot" aria-hidden="true" />
        {isFile() ? "End" : "Live"}
        <Show when={!frame.following && frame.behind > 0}>
          <span class="behind" aria-hidden="true">
            +{formatCount(frame.behind)}
          </span>
        </Show>
      </button>
      <div class="position" aria-live="off">
        <Show
          when={frame.count > 0}
          fallback={<span>Start of the log: nothing has happened yet</span>}
        >
          <span class="seq">
            #{formatCount(frame.seq)} <span class="muted">of {formatCount(frame.lastSeq)}</span>
          </span>
          <time datetime={frame.at ?? undefined} title={formatFullTime(frame.at)}>
            {formatTime(frame.at)}
          </time>
          <Show when={frame.current}>{(item) => <code class="type">{item().type}</code>}</Show>
        </Show>
        <Show when={!frame.following}>
          <span class="replaying">{isFile() ? "replaying" : `replaying · ${formatCount(frame.behind)} newer`}</span>
        </Show>
      </div>
    </div>
  )
}
