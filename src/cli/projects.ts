import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import type { ProjectSummary } from "../core/views.js"
import { request } from "./client.js"
import { CliIo } from "./io.js"
import { connection, connectionOptions, describe, jsonOption } from "./options.js"
import { paint, table, type Paint } from "./paint.js"

/**
 * `claude-ipc-broker projects`: every project of the broker with what it holds now (`GET /projects`,
 * the whole broker's route: the admin token, or loopback to a broker without one). No --project: it
 * looks across them all.
 */

const projectLines = (projects: ReadonlyArray<ProjectSummary>, p: Paint = paint(false)): Array<string> => {
  // Padded as plain text, the header dimmed as a whole: escape codes would count towards the widths.
  const [header = "", ...rows] = table([
    ["PROJECT", "PEERS", "PENDING", "DELIVERED", "HELD", "CHANNELS", "SIGNALS"],
    ...projects.map(({ name, peers, commands, channels, signals }) =>
      [name, peers, commands.pending, commands.delivered, commands.held, channels, signals].map(String)
    )
  ])
  return [p.dim(header), ...rows]
}

export const projects = Command.make("projects", { ...connectionOptions, json: jsonOption }, (args) =>
  Effect.gen(function* () {
    const broker = yield* connection(args)
    const io = yield* CliIo
    const { projects } = yield* request<{ projects: ReadonlyArray<ProjectSummary> }>(broker, "GET", "/projects")
    yield* Console.log(args.json ? JSON.stringify(projects, null, 2) : projectLines(projects, paint(io.color)).join("\n"))
  })
).pipe(
  Command.withDescription(
    describe(
      "Every project of the broker that holds anything, default first: its peers not offline, its open commands " +
        "(pending, delivered, held for approval), channels and signals.",
      [
        "claude-ipc-broker projects",
        "claude-ipc-broker projects --json | jq -r '.[].name'",
        "claude-ipc-broker status --project web      # then one project in detail"
      ],
      [
        "It needs the broker's admin token (a broker started without --token answers anyone on its own machine); " +
          "a project's token is refused here and sees its own project only (claude-ipc-broker status --project <its project>)."
      ]
    )
  )
)
