import { createMemo, For, Show } from "solid-js"
import type { PeerView } from "../../../src/core/views.js"
import { useDashboard } from "../dashboard/index.js"
import { Badge } from "../ui/Badge.js"
import { plural } from "../ui/format.js"
import { Ago } from "../ui/Time.js"
import { Empty, Panel } from "../ui/Panel.js"

const order = { online: 0, stale: 1, offline: 2 } as const

/** Who is connected: role, id, capabilities, presence and when each was last heard from. */
export const PeersView = () => {
  const { frame, shown } = useDashboard()
  const peers = createMemo(() =>
    [...frame.state.peers].sort(
      (a: PeerView, b: PeerView) => order[a.status] - order[b.status] || a.role.localeCompare(b.role) || a.id.localeCompare(b.id)
    )
  )
  const online = () => frame.state.peers.filter((peer) => peer.status === "online").length
  return (
    <Panel id="peers" title="Peers" count={
        <span title="Peers online now, of all the peers the broker knows (stale and offline ones included)">
          {online()} online of {plural(frame.state.peers.length, "peer")}
        </span>
      } class="peers">
      <Show when={peers().length > 0} fallback={<Empty>No peers yet. Sessions appear here when they connect.</Empty>}>
        <ul class="rows" aria-label="Peers">
          <For each={peers()}>
            {(peer) => (
              <li class="peer" data-status={peer.status} data-peer-id={peer.id}>
                <div class="row-main">
                  <Badge status={peer.status} />
                  <strong class="role">{peer.role}</strong>
                  <Show when={peer.name}>
                    <span class="muted">“{peer.name}”</span>
                  </Show>
                  <span class="spacer" />
                  <span class="muted small" title="last seen">
                    <Ago at={peer.lastSeenAt} reference={shown.reference()} />
                  </span>
                </div>
                <div class="row-sub">
                  <code class="id">{peer.id}</code>
                  <For each={peer.capabilities}>{(capability) => <span class="chip">{capability}</span>}</For>
                </div>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </Panel>
  )
}
