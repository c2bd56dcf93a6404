import { createSignal, For, Index, Show } from "solid-js"
import { commandStatuses, isRedeliverable, type CommandStatus } from "../../../src/core/machines/command.js"
import type { CommandView } from "../../../src/core/views.js"
import { useDashboard } from "../dashboard/index.js"
import { Badge } from "../ui/Badge.js"
import { formatCount } from "../ui/format.js"
import { Block, Inline } from "../ui/Json.js"
import { Ago, Time } from "../ui/Time.js"
import { Empty, Panel } from "../ui/Panel.js"
import { Who } from "../ui/Who.js"
import { CommandCenter } from "./CommandCenter.js"

const settled = (status: CommandStatus) => status !== "pending" && status !== "delivered" && status !== "held"

/** The command center, and every command with its status, who holds it and what came back. */
export const CommandsView = () => {
  const { frame, shown, files, selections, commandCenter, access } = useDashboard()
  const [open, setOpen] = createSignal<ReadonlySet<string>>(new Set())
  const toggle = (id: string) =>
    setOpen((ids) => {
      const next = new Set(ids)
      if (!next.delete(id)) next.add(id)
      return next
    })
  const total = () => commandStatuses.reduce((sum, status) => sum + frame.state.commandCounts[status], 0)
  /** A sender or holder by role (and label) first, its id second. */
  const who = (peerId: string | null) => (peerId === null ? null : <Who id={peerId} peer={shown.peer(peerId)} />)
  const live = () => files.showing() === "live" && frame.following
  // A dead letter waits for a person: redelivered, or cancelled for good. A viewer does neither, and
  // a redelivery is a project admin's decision (docs/security.md); so are approving and rejecting.
  const canCancel = (command: CommandView) => live() && access.mayWrite() && (!settled(command.status) || command.status === "dead")
  const canRedeliver = (command: CommandView) => live() && access.mayAdmin() && isRedeliverable(command.status)
  const canDecide = (command: CommandView) => live() && access.mayAdmin() && command.status === "held"
  const heldCount = () => frame.state.commandCounts.held

  return (
    <Panel id="commands" title="Commands" count={`${formatCount(total())} total`} class="commands">
      <Show when={access.mayWrite()}>
        <CommandCenter />
      </Show>
      <Show when={heldCount() > 0}>
        <p class="banner" role="status" data-tone="held">
          {formatCount(heldCount())} {heldCount() === 1 ? "command waits" : "commands wait"} for your approval.{" "}
          <button type="button" class="button small" onClick={() => selections.setCommandStatus("held")}>
            Show held
          </button>
        </p>
      </Show>
      <div class="filters" role="group" aria-label="Show commands by status">
        <button type="button" class="filter" aria-pressed={selections.commandStatus() === null} onClick={() => selections.setCommandStatus(null)}>
          all <span class="n">{formatCount(total())}</span>
        </button>
        <For each={commandStatuses}>
          {(status) => (
            <button
              type="button"
              class="filter"
              data-tone={status}
              aria-pressed={selections.commandStatus() === status}
              onClick={() => selections.setCommandStatus(selections.commandStatus() === status ? null : status)}
            >
              {status} <span class="n">{formatCount(frame.state.commandCounts[status])}</span>
            </button>
          )}
        </For>
      </div>
      <Show
        when={frame.state.commands.length > 0}
        fallback={
          <Empty>
            {selections.commandStatus() !== null
              ? `No ${selections.commandStatus()} commands.`
              : access.mayWrite()
                ? "No commands yet. Send one above."
                : "No commands yet."}
          </Empty>
        }
      >
        <div class="table-wrap">
          <table class="table commands-table">
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Command</th>
                <th scope="col">Target · held by</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <Index each={frame.state.commands}>
              {(command) => (
                <tbody class="command" data-command-id={command().id} data-status={command().status} classList={{ mine: commandCenter.sentHere(command().id) }}>
                  <tr>
                    <td>
                      <Badge status={command().status} />
                    </td>
                    <td>
                      <button
                        type="button"
                        class="link-button"
                        aria-expanded={open().has(command().id)}
                        title="Show params, result and timing"
                        onClick={() => toggle(command().id)}
                      >
                        <strong>{command().action}</strong>
                      </button>
                      <div class="muted small meta">
                        <code>{command().id}</code> · <span class="sent-by">{who(command().from)}</span> · <Ago at={command().createdAt} reference={shown.reference()} />
                      </div>
                    </td>
                    <td>
                      <Show when={shown.peer(command().target)} fallback={<code>{command().target}</code>}>
                        {who(command().target)}
                      </Show>
                      <Show when={command().deliveredTo}>
                        <div class="holder" title="the peer holding it">
                          → {who(command().deliveredTo)}
                        </div>
                      </Show>
                    </td>
                    <td class="wrap result" data-tone={command().status}>
                      <Show when={settled(command().status)} fallback={<span class="muted">waiting</span>}>
                        <Inline value={command().result} max={70} empty={command().status === "acked" ? "ok" : "—"} />
                      </Show>
                      <Show when={command().deadReason}>
                        <div class="muted small" title="why it stopped being delivered">
                          dead after {command().deliveries} deliveries: {command().deadReason === "lease_expired" ? "lease ran out" : "holder went offline"}
                        </div>
                      </Show>
                      <Show when={command().status === "held"}>
                        <div class="muted small" title="why it waits for a person">
                          held: {command().heldReason === "loop_guard" ? "its sender passed the loop guard" : "its target needs approval"}
                        </div>
                      </Show>
                      <Show when={canDecide(command())}>
                        <button
                          type="button"
                          class="button small"
                          aria-label={`Approve ${command().id}`}
                          onClick={() => void commandCenter.decide(command().id, "approve")}
                        >
                          Approve
                        </button>{" "}
                        <button
                          type="button"
                          class="button small ghost"
                          aria-label={`Reject ${command().id}`}
                          onClick={() => void commandCenter.decide(command().id, "reject")}
                        >
                          Reject
                        </button>
                      </Show>
                      <Show when={canRedeliver(command())}>
                        {" "}
                        <button
                          type="button"
                          class="button small"
                          aria-label={`Redeliver ${command().id}`}
                          onClick={() => void commandCenter.redeliver(command().id)}
                        >
                          Redeliver
                        </button>
                      </Show>
                      <Show when={canCancel(command())}>
                        {" "}
                        <button
                          type="button"
                          class="button small ghost"
                          aria-label={`Cancel ${command().id}`}
                          onClick={() => void commandCenter.cancel(command().id, command().from)}
                        >
                          Cancel
                        </button>
                      </Show>
                    </td>
                  </tr>
                  <Show when={open().has(command().id)}>
                    <tr class="details">
                      <td colspan="4">
                        <dl class="facts">
                          <dt>Sent</dt>
                          <dd>
                            <Time at={command().createdAt} /> by {who(command().from)}
                          </dd>
                          <Show when={command().deliveredAt}>
                            <dt>Delivered</dt>
                            <dd>
                              <Time at={command().deliveredAt} /> to {who(command().deliveredTo)} (delivery {command().deliveries})
                            </dd>
                          </Show>
                          <Show when={command().leaseExpiresAt}>
                            <dt>Lease ends</dt>
                            <dd>
                              <Time at={command().leaseExpiresAt} />
                            </dd>
                          </Show>
                          <Show when={command().expiresAt}>
                            <dt>Expires</dt>
                            <dd>
                              <Time at={command().expiresAt} />
                            </dd>
                          </Show>
                          <Show when={command().ackedAt}>
                            <dt>Acked</dt>
                            <dd>
                              <Time at={command().ackedAt} />
                            </dd>
                          </Show>
                        </dl>
                        <div class="payloads">
                          <div>
                            <h4>Params</h4>
                            <Block value={command().params} />
                          </div>
                          <Show when={settled(command().status)}>
                            <div>
                              <h4>Result</h4>
                              <Block value={command().result} />
                            </div>
                          </Show>
                        </div>
                      </td>
                    </tr>
                  </Show>
                </tbody>
              )}
            </Index>
          </table>
        </div>
        <Show when={frame.state.commands.length >= selections.commandLimit()}>
          <p class="more muted small">
            The {selections.commandLimit()} most recent{selections.commandStatus() ? ` ${selections.commandStatus()}` : ""} commands.{" "}
            <Show when={selections.commandLimit() < selections.maxRows}>
              <button type="button" class="button small" onClick={() => selections.moreCommands()}>
                Show more
              </button>
            </Show>
          </p>
        </Show>
      </Show>
    </Panel>
  )
}
