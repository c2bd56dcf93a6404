/**
 * The JetStream log's default names, apart from the client: what only names the stream must not
 * load the NATS client (~12 MB of RSS) into a broker that runs on the file log.
 */
export const defaultStreamName = "CLAUDE_IPC_BROKER"
export const defaultSubject = (stream: string) => `${stream}.events`
