import { createSignal, For, Show } from "solid-js"
import { isName, nameRule } from "../../../src/core/names.js"
import { BrokerRefused } from "../connection.js"
import { useDashboard } from "../dashboard/index.js"
import { peerLabel } from "../describe.js"
import { Badge } from "../ui/Badge.js"
import { Inline } from "../ui/Json.js"
import { Who } from "../ui/Who.js"

const other = "__other__"

type FormError = { readonly field: "target" | "action" | "params" | "form"; readonly text: string }

/**
 * Give an order: pick a role (any online peer of it may take the command) or one peer, name the
 * action, add JSON params. The command is sent as "human"; its status then follows the log live.
 */
export const CommandCenter = () => {
  const { files, commandCenter } = useDashboard()
  const [target, setTarget] = createSignal("")
  const [custom, setCustom] = createSignal("")
  const [action, setAction] = createSignal("")
  const [params, setParams] = createSignal("")
  const [error, setError] = createSignal<FormError | null>(null)
  const [busy, setBusy] = createSignal(false)
  const offline = () => files.showing() === "file"

  const known = () => {
    const t = commandCenter.targets()
    return new Set([...t.roles, ...t.peers.map((p) => p.id)])
  }
  /** The default target: the first role online, until the person picks one. */
  const chosen = () => {
    if (target() !== "") return target()
    return commandCenter.targets().roles[0] ?? ""
  }
  const errorFor = (field: FormError["field"]) => (error()?.field === field ? error()!.text : null)

  const submit = async (event: SubmitEvent) => {
    event.preventDefault()
    setError(null)
    const to = chosen() === other ? custom().trim() : chosen()
    if (to === "") return setError({ field: "target", text: "Choose a role or peer to send to." })
    if (!isName(to)) return setError({ field: "target", text: `A target is ${nameRule}.` })
    const name = action().trim()
    if (name === "") return setError({ field: "action", text: "Name the action, e.g. run_tests." })
    let value: unknown = null
    if (params().trim() !== "") {
      try {
        value = JSON.parse(params())
      } catch (problem) {
        const detail = problem instanceof Error ? problem.message : String(problem)
        return setError({ field: "params", text: `Params is not valid JSON: ${detail}` })
      }
    }
    setBusy(true)
    try {
      await commandCenter.send({ target: to, action: name, params: value })
    } catch (problem) {
      setError({ field: "form", text: problem instanceof BrokerRefused ? `The broker refused: ${problem.message}` : String(problem) })
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="command-center" aria-label="Command center" noValidate onSubmit={(event) => void submit(event)}>
      <fieldset disabled={offline() || busy()}>
        <legend class="visually-hidden">Send a command</legend>
        <div class="field field-target">
          <label for="cc-target">Target</label>
          <select
            id="cc-target"
            aria-invalid={errorFor("target") !== null}
            aria-describedby={errorFor("target") ? "cc-error" : undefined}
            onChange={(event) => setTarget(event.currentTarget.value)}
          >
            <Show when={commandCenter.targets().roles.length === 0 && chosen() !== other}>
              <option value="" selected={chosen() === ""}>
                No peers online
              </option>
            </Show>
            <Show when={commandCenter.targets().roles.length > 0}>
              <optgroup label="Roles (any peer of the role)">
                <For each={commandCenter.targets().roles}>
                  {(role) => (
                    <option value={role} selected={chosen() === role}>
                      {role}
                    </option>
                  )}
                </For>
              </optgroup>
              <optgroup label="Peers online">
                <For each={commandCenter.targets().peers}>
                  {(peer) => (
                    <option value={peer.id} selected={chosen() === peer.id}>
                      {peerLabel(peer)}
                    </option>
                  )}
                </For>
              </optgroup>
            </Show>
            <Show when={chosen() !== "" && chosen() !== other && !known().has(chosen())}>
              <option value={chosen()} selected>
                {chosen()} (not online)
              </option>
            </Show>
            <option value={other} selected={chosen() === other}>
              Other…
            </option>
          </select>
        </div>
        <Show when={chosen() === other}>
          <div class="field field-custom">
            <label for="cc-custom">Role or peer id</label>
            <input
              id="cc-custom"
              type="text"
              autocomplete="off"
              spellcheck={false}
              placeholder="e.g. backend"
              value={custom()}
              onInput={(event) => setCustom(event.currentTarget.value)}
            />
          </div>
        </Show>
        <div class="field field-action">
          <label for="cc-action">Action</label>
          <input
            id="cc-action"
            type="text"
            autocomplete="off"
            spellcheck={false}
            placeholder="e.g. run_tests"
            value={action()}
            aria-invalid={errorFor("action") !== null}
            aria-describedby={errorFor("action") ? "cc-error" : undefined}
            onInput={(event) => {
              setAction(event.currentTarget.value)
              if (error()?.field === "action") setError(null)
            }}
          />
        </div>
        <div class="field field-params">
          <label for="cc-params">
            Params <span class="muted small">(JSON, optional)</span>
          </label>
          <textarea
            id="cc-params"
            rows="2"
            spellcheck={false}
            placeholder='{"branch": "main"}'
            value={params()}
            aria-invalid={errorFor("params") !== null}
            aria-describedby={errorFor("params") ? "cc-error" : undefined}
            onInput={(event) => {
              setParams(event.currentTarget.value)
              if (error()?.field === "params") setError(null)
            }}
            onKeyDown={(event) => {
              if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) event.currentTarget.form?.requestSubmit()
            }}
          />
        </div>
        <div class="field field-send">
          <button type="submit" class="button primary">
            {busy() ? "Sending…" : "Send"}
          </button>
        </div>
      </fieldset>
      <Show when={error()}>
        {(problem) => (
          <p id="cc-error" class="form-error" role="alert">
            {problem().text}
          </p>
        )}
      </Show>
      <Show when={offline()}>
        <p class="muted small">Viewing an imported file: commands go to the live broker only. Close the file to send.</p>
      </Show>
      <Show when={commandCenter.sent().length > 0 && !offline()}>
        <ul class="sent" aria-label="Sent from here" aria-live="polite">
          <For each={commandCenter.sent()}>
            {(command) => (
              <li data-command-id={command.id}>
                <Badge status={command.now?.status ?? "pending"} />
                <code>{command.id}</code>
                <span>
                  “{command.action}” → <Who id={command.target} peer={commandCenter.peer(command.target)} />
                </span>
                <Show when={command.now?.deliveredTo}>
                  <span class="muted">
                    held by <Who id={command.now!.deliveredTo!} peer={commandCenter.peer(command.now!.deliveredTo)} />
                  </span>
                </Show>
                <Show when={command.now && command.now.status !== "pending" && command.now.status !== "delivered"}>
                  <Inline value={command.now!.result} max={60} empty="" />
                </Show>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </form>
  )
}
