/** The parts of a Status (or a StateView) that are state: not when the broker started, nor its version or log. */
export const stateOf = (status: object) => {
  const s = status as Record<string, unknown>
  return {
    seq: s.seq,
    at: s.at,
    peers: s.peers,
    commands: s.commands,
    commandCounts: s.commandCounts,
    channels: s.channels,
    signals: s.signals
  }
}
