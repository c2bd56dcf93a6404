/**
 * `at` for a new batch: the wall clock, but never earlier than the previous event, so that the log's
 * timestamps are ordered like its sequence numbers even when the clock steps back.
 */
export const nextTimestamp = (previous: string): string => {
  const now = new Date().toISOString()
  return now > previous ? now : previous
}
