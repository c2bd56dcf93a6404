import { formatAgo, formatFullTime, formatTime } from "./format.js"

/** A clock time, with the full date on hover. */
export const Time = (props: { readonly at: string | null; readonly reference?: number }) => (
  <time datetime={props.at ?? undefined} title={formatFullTime(props.at)}>
    {formatTime(props.at, props.reference)}
  </time>
)

/** "12 s ago", relative to `reference` (now when live, the chosen event's time when replaying). */
export const Ago = (props: { readonly at: string | null; readonly reference: number }) => (
  <time datetime={props.at ?? undefined} title={formatFullTime(props.at)}>
    {formatAgo(props.at, props.reference)}
  </time>
)
