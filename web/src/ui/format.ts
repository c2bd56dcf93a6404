/** How times, ages and numbers read in the dashboard. */

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })
const dated = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false
})
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" })
const numbers = new Intl.NumberFormat("en-US")

const sameDay = (a: Date, b: Date): boolean =>
  a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate()

/** "14:05:27", or "Jun 2, 14:05:27" when it is not the day of `reference`. */
export const formatTime = (iso: string | null, reference: number = Date.now()): string => {
  if (iso === null) return "—"
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return sameDay(date, new Date(reference)) ? clock.format(date) : dated.format(date)
}

export const formatFullTime = (iso: string | null): string => {
  if (iso === null) return ""
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : `${full.format(date)} (${iso})`
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago", relative to `reference`. */
export const formatAgo = (iso: string | null, reference: number): string => {
  if (iso === null) return "never"
  const ms = reference - Date.parse(iso)
  if (!Number.isFinite(ms)) return ""
  if (ms < 2_000) return "just now"
  if (ms < 60_000) return `${Math.floor(ms / 1_000)} s ago`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`
  return `${Math.floor(ms / 86_400_000)} d ago`
}

export const formatCount = (n: number): string => numbers.format(n)

export const plural = (n: number, one: string, many = `${one}s`): string => `${formatCount(n)} ${n === 1 ? one : many}`

/** A JSON value laid out for reading. */
export const pretty = (value: unknown): string => {
  if (value === undefined) return ""
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value, null, 2) ?? String(value)
  } catch {
    return String(value)
  }
}
