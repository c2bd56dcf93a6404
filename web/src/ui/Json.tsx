import { Show } from "solid-js"
import { summarize } from "../describe.js"
import { pretty } from "./format.js"

/** A payload on one line, cut short, with the whole of it on hover. */
export const Inline = (props: { readonly value: unknown; readonly max?: number; readonly empty?: string }) => {
  const text = () => summarize(props.value, props.max ?? 80)
  return (
    <Show when={text() !== ""} fallback={<span class="muted">{props.empty ?? "—"}</span>}>
      <code class="inline-json" title={pretty(props.value)}>
        {text()}
      </code>
    </Show>
  )
}

/** A payload laid out in full. */
export const Block = (props: { readonly value: unknown }) => <pre class="json">{pretty(props.value)}</pre>
