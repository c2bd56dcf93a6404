import { Show } from "solid-js"

/** What the dashboard knows of a peer to name it: its role and the label it gave itself. */
export interface Known {
  readonly role: string
  readonly name: string | null
}

/**
 * A sender, holder or target as people know it: role (and label) first, the id second, e.g.
 * "planner “lead” (mcp-r2mrx25t2a68)". An id that is not a known peer ("human", a role, a peer
 * long gone) shows as it is.
 */
export const Who = (props: { readonly id: string; readonly peer: Known | undefined }) => (
  <Show when={props.peer} fallback={<span class="who">{props.id}</span>}>
    {(peer) => (
      <span class="who">
        <span class="who-role">{peer().role}</span>
        <Show when={peer().name}> “{peer().name}”</Show> <span class="who-id">({props.id})</span>
      </span>
    )}
  </Show>
)
