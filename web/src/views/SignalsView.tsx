import { For, Show } from "solid-js"
import { useDashboard } from "../dashboard/index.js"
import { Badge } from "../ui/Badge.js"
import { formatCount, plural } from "../ui/format.js"
import { Inline } from "../ui/Json.js"
import { Who } from "../ui/Who.js"
import { Ago } from "../ui/Time.js"
import { Empty, Panel } from "../ui/Panel.js"

/** Named events sessions wait on: fired (with their data, by whom, how often) or armed. */
export const SignalsView = () => {
  const { frame, shown } = useDashboard()
  const fired = () => frame.state.signals.filter((signal) => signal.fired).length
  return (
    <Panel id="signals" title="Signals" count={
        <span title="Signals fired now, of all the signals known (armed ones included)">
          {fired()} fired of {plural(frame.state.signals.length, "signal")}
        </span>
      } class="signals">
      <Show when={frame.state.signals.length > 0} fallback={<Empty>No signals yet.</Empty>}>
        <ul class="rows" aria-label="Signals">
          <For each={frame.state.signals}>
            {(signal) => (
              <li class="signal" data-signal={signal.name} data-state={signal.fired ? "fired" : "armed"}>
                <div class="row-main">
                  <Badge status={signal.fired ? "fired" : "armed"} />
                  <strong>
                    <code>{signal.name}</code>
                  </strong>
                  <span class="muted small" title="times fired since it was last cleared">
                    ×{formatCount(signal.count)}
                  </span>
                  <span class="spacer" />
                  <Show when={signal.fired}>
                    <span class="muted small">
                      <Ago at={signal.firedAt} reference={shown.reference()} />
                      <Show when={signal.firedBy}>{(by) => <> by <Who id={by()} peer={shown.peer(by())} /></>}</Show>
                    </span>
                  </Show>
                </div>
                <Show when={signal.fired}>
                  <div class="row-sub">
                    <Inline value={signal.data} max={90} empty="no data" />
                  </div>
                </Show>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </Panel>
  )
}
