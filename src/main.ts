import { processIo } from "./cli/io.js"
import { runCli } from "./cli/main.js"

/**
 * The process entry: the command-line tool on this process's arguments, streams and signals.
 * `claude-ipc-broker [serve flags]` runs the broker; see src/cli/main.ts for the subcommands.
 */
const code = await runCli(process.argv.slice(2), processIo())
// Exit now: a client's keep-alive sockets must not hold the process open after the answer.
process.exit(code)
