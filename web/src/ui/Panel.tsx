import { Show, type JSX } from "solid-js"

/** A dashboard panel: a `section` named by its heading, with an optional count and actions. */
export const Panel = (props: {
  readonly id: string
  readonly title: string
  readonly count?: JSX.Element
  readonly actions?: JSX.Element
  readonly class?: string
  readonly children: JSX.Element
}) => (
  <section class={`panel ${props.class ?? ""}`} id={props.id} aria-labelledby={`${props.id}-title`}>
    <header class="panel-head">
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      <Show when={props.count !== undefined}>
        <span class="panel-count">{props.count}</span>
      </Show>
      <div class="panel-actions">{props.actions}</div>
    </header>
    <div class="panel-body">{props.children}</div>
  </section>
)

/** What a panel says when it has nothing to show. */
export const Empty = (props: { readonly children: JSX.Element }) => <p class="empty">{props.children}</p>
