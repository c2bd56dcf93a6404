/**
 * The JetStream log's default names, apart from its client: code that only names the stream (the
 * start-up banner, the checkpoint dir) must not load the NATS client into a broker on the file log.
 */
export const defaultStreamName = "CLAUDE_IPC_BROKER"
export const defaultSubject = (stream: string) => `${stream}.events`
