import { For, Show } from "solid-js"
import { createDashboard, describeProblems, describeSkipped } from "./reactive.js"
import { formatCount } from "./ui/format.js"
import { ActivityView } from "./views/ActivityView.js"
import { ChannelsView } from "./views/ChannelsView.js"
import { CommandsView } from "./views/CommandsView.js"
import { Header } from "./views/Header.js"
import { PeersView } from "./views/PeersView.js"
import { SignalsView } from "./views/SignalsView.js"
import { TimelineBar } from "./views/TimelineBar.js"

/** The dashboard: a top bar, the time-travel bar, and five panels in three columns. */
export const App = () => {
  const dash = createDashboard()
  dash.start()
  return (
    <div class="app" classList={{ offline: dash.showing() === "file" }}>
      <Header dash={dash} />
      <TimelineBar dash={dash} />
      <Show when={dash.imported()}>
        {(file) => (
          <div class="banner" data-tone="file" role="status">
            <p>
              Viewing <strong>{file().name}</strong> offline: {formatCount(file().view.timeline.length)} events
              {file().view.timeline.length > 0 ? ` (seq ${file().view.timeline.startSeq + 1}–${file().view.timeline.lastSeq})` : ""}, replayed
              in your browser.
              <Show when={file().problems.length > 0}> {describeProblems(file().problems)}.</Show>
            </p>
            <Show when={file().problems.length > 3}>
              <details>
                <summary>All {file().problems.length} bad lines</summary>
                <ul class="problems">
                  <For each={file().problems.slice(0, 500)}>
                    {(problem) => (
                      <li>
                        line {problem.line}: {problem.reason}
                      </li>
                    )}
                  </For>
                </ul>
              </details>
            </Show>
            <button type="button" class="button" onClick={() => dash.actions.closeFile()}>
              Close file
            </button>
          </div>
        )}
      </Show>
      <Show when={dash.skipped()}>
        {(skipped) => (
          <div class="banner" data-tone="error" role="alert" data-banner="skipped">
            <p>{describeSkipped(skipped())}</p>
            <button type="button" class="button" onClick={() => dash.actions.dismissSkipped()}>
              Dismiss
            </button>
          </div>
        )}
      </Show>
      <Show when={dash.notice()}>
        {(notice) => (
          <div class="banner" data-tone={notice().tone} role={notice().tone === "error" ? "alert" : "status"}>
            <p>{notice().text}</p>
            <button type="button" class="button" onClick={() => dash.actions.dismissNotice()}>
              Dismiss
            </button>
          </div>
        )}
      </Show>
      <main class="grid">
        <div class="column column-left">
          <PeersView dash={dash} />
          <ChannelsView dash={dash} />
          <SignalsView dash={dash} />
        </div>
        <div class="column column-middle">
          <CommandsView dash={dash} />
        </div>
        <div class="column column-right">
          <ActivityView dash={dash} />
        </div>
      </main>
    </div>
  )
}
