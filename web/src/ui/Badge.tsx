import type { Tone } from "../describe.js"

export type BadgeTone = Tone | "accent"

const tones: Record<string, BadgeTone> = {
  online: "good",
  stale: "warn",
  offline: "quiet",
  pending: "info",
  delivered: "accent",
  acked: "good",
  failed: "bad",
  expired: "warn",
  cancelled: "quiet",
  dead: "bad",
  held: "warn",
  rejected: "bad",
  fired: "good",
  armed: "quiet"
}

/** A status as a word in a coloured pill (the word carries the meaning; the colour only helps). */
export const Badge = (props: { readonly status: string; readonly tone?: BadgeTone; readonly label?: string }) => (
  <span class="badge" data-tone={props.tone ?? tones[props.status] ?? "quiet"}>
    {props.label ?? props.status}
  </span>
)
