import { createMemo, createSignal, Show, type Accessor, type JSX } from "solid-js"
import { summarize } from "../describe.js"
import { formatCount, pretty } from "./format.js"

/**
 * Characters of a payload shown before "Show all": enough to read any ordinary message, little
 * enough that a 1 MB one does not turn a panel into a megabyte of text to lay out and scroll.
 */
export const clipAt = 2_000

/** A payload on one line, cut short, with (the start of) the whole of it on hover. */
export const Inline = (props: { readonly value: unknown; readonly max?: number; readonly empty?: string }) => {
  const text = () => summarize(props.value, props.max ?? 80)
  const title = () => {
    const whole = pretty(props.value)
    return whole.length > clipAt ? `${whole.slice(0, clipAt)}… (${formatCount(whole.length)} characters)` : whole
  }
  return (
    <Show when={text() !== ""} fallback={<span class="muted">{props.empty ?? "—"}</span>}>
      <code class="inline-json" title={title()}>
        {text()}
      </code>
    </Show>
  )
}

/** A payload laid out in full, or its first `clipAt` characters with a button for the rest. */
export const Block = (props: { readonly value: unknown }) => {
  const text = createMemo(() => pretty(props.value))
  return <Clipped text={text}>{(shown) => <pre class="json">{shown()}</pre>}</Clipped>
}

/** A message's text, cut like a `Block` when long. */
export const LongText = (props: { readonly text: string; readonly class?: string }) => (
  <Clipped text={() => props.text}>{(shown) => <p class={props.class}>{shown()}</p>}</Clipped>
)

/**
 * Long text cut to its first `clipAt` characters, with a button that shows all of it (and one that
 * cuts it again). `children` lays out the part shown.
 */
const Clipped = (props: { readonly text: Accessor<string>; readonly children: (shown: Accessor<string>) => JSX.Element }) => {
  const [all, setAll] = createSignal(false)
  const long = () => props.text().length > clipAt
  const shown = () => (long() && !all() ? `${props.text().slice(0, clipAt)}…` : props.text())
  return (
    <>
      {props.children(shown)}
      <Show when={long()}>
        <p class="clip muted small">
          <Show when={!all()} fallback={<>All {formatCount(props.text().length)} characters. </>}>
            The first {formatCount(clipAt)} of {formatCount(props.text().length)} characters.{" "}
          </Show>
          <button type="button" class="link-button clip-toggle" aria-expanded={all()} onClick={() => setAll((on) => !on)}>
            {all() ? "Show less" : "Show all"}
          </button>
        </p>
      </Show>
    </>
  )
}
