import { Data } from "effect"

/**
 * Why the tool stops short of success, each with the exit code scripts see:
 * 2 the arguments are wrong, 1 the broker could not be reached or said no, 3 a wait timed out.
 */

/** A mistake in the arguments that the parser cannot see (two flags that exclude each other, …). */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {
  readonly exitCode = 2
}

/** Nothing answers at the broker's address. */
export class BrokerUnreachable extends Data.TaggedError("BrokerUnreachable")<{
  readonly url: string
  readonly reason: string
}> {
  readonly exitCode = 1
  override get message() {
    return `cannot reach the broker at ${this.url} (${this.reason}); is it running? (--url or BROKER_URL)`
  }
}

/** The broker answered with its error envelope, `{"error":{code,message}}`. */
export class BrokerRefused extends Data.TaggedError("BrokerRefused")<{
  readonly status: number
  readonly code: string
  readonly detail: string
}> {
  readonly exitCode = 1
  override get message() {
    const hint = this.code === "unauthorized" ? " (pass --token or set BROKER_TOKEN)" : ""
    return `the broker refused: ${this.code}: ${this.detail}${hint}`
  }
}

/** A `--wait` or `wait-signal` ran out of time: distinct from failure, so scripts can poll again. */
export class WaitTimedOut extends Data.TaggedError("WaitTimedOut")<{ readonly message: string }> {
  readonly exitCode = 3
}

/** The work ran but ended badly: a command that failed or expired, a log file that is not a log. */
export class Failed extends Data.TaggedError("Failed")<{ readonly message: string }> {
  readonly exitCode = 1
}

export type CliError = UsageError | BrokerUnreachable | BrokerRefused | WaitTimedOut | Failed
