import { For, Index, Show } from "solid-js"
import { useDashboard } from "../dashboard/index.js"
import { formatCount, plural } from "../ui/format.js"
import { Block, LongText } from "../ui/Json.js"
import { Who } from "../ui/Who.js"
import { Ago, Time } from "../ui/Time.js"
import { Empty, Panel } from "../ui/Panel.js"

/**
 * Channels and their message counts; pick one to read it. Messages are not in the projection: the
 * channel keeps the seqs of its messages, and the dashboard reads those events from the log it holds,
 * so reading works the same live, in the past, and in an imported file.
 */
export const ChannelsView = () => {
  const { frame, shown, selections } = useDashboard()
  const selected = () => selections.channel()
  return (
    <Panel id="channels" title="Channels" count={String(frame.state.channels.length)} class="channels">
      <Show when={frame.state.channels.length > 0} fallback={<Empty>No channels yet. A channel appears with its first message.</Empty>}>
        <ul class="channel-list" aria-label="Channels">
          <For each={frame.state.channels}>
            {(channel) => (
              <li>
                <button
                  type="button"
                  class="channel"
                  aria-pressed={selected() === channel.name}
                  onClick={() => selections.selectChannel(selected() === channel.name ? null : channel.name)}
                >
                  <span class="channel-name">#{channel.name}</span>
                  <span class="muted small">{plural(channel.count, "message")}</span>
                  <span class="spacer" />
                  <span class="muted small">
                    <Ago at={channel.lastAt} reference={shown.reference()} />
                  </span>
                </button>
              </li>
            )}
          </For>
        </ul>
      </Show>
      <Show when={frame.channel}>
        {(channel) => (
          <div class="messages">
            <div class="messages-head">
              <h3>#{channel().name}</h3>
              <span class="muted small">
                {channel().messages.length < channel().total
                  ? `latest ${formatCount(channel().messages.length)} of ${formatCount(channel().total)}`
                  : plural(channel().total, "message")}
                , newest first
              </span>
              <span class="spacer" />
              <button type="button" class="button small" onClick={() => selections.selectChannel(null)}>
                Close
              </button>
            </div>
            <Show when={channel().messages.length > 0} fallback={<Empty>No messages in #{channel().name} at this point.</Empty>}>
              <ol class="message-list" aria-label={`Messages in #${channel().name}`}>
                <Index each={channel().messages}>
                  {(message) => (
                    <li class="message">
                      <div class="message-meta">
                        <span class="muted small">#{message().id}</span>
                        <strong class="message-from">
                          <Show when={message().from} fallback="someone">
                            {(from) => <Who id={from()} peer={shown.peer(from())} />}
                          </Show>
                        </strong>
                        <span class="spacer" />
                        <span class="muted small">
                          <Time at={message().at} reference={shown.reference()} />
                        </span>
                      </div>
                      <Show when={typeof message().data === "string"} fallback={<Block value={message().data} />}>
                        <LongText class="message-text" text={message().data as string} />
                      </Show>
                    </li>
                  )}
                </Index>
              </ol>
            </Show>
          </div>
        )}
      </Show>
    </Panel>
  )
}
