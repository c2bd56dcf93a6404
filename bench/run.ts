/**
 * `npm run bench` — the broker against a bare node:http baseline, scenario by scenario.
 *
 *   npm run bench                      every scenario (several minutes); rewrites docs/benchmarks.md
 *   npm run bench -- --quick           a short smoke run of every scenario (not written to the doc)
 *   npm run bench -- --only send,sse   some scenarios (not written to the doc unless --write)
 *   npm run bench -- --profile send    also profile the brokers of a scenario (node --cpu-prof)
 *
 * Options: --quick, --only <names>, --profile <name>, --write / --no-write, --keep (data dirs).
 */
import { loadavg, tmpdir } from "node:os"
import { parseArgs } from "node:util"
import { describeScenario, runBench, scenarioNames, type ScenarioName } from "./harness.js"
import { formatSummary } from "./profile.js"
import { describeMachine, formatTable, machineText, probeFsync, verdictOf, writeDoc } from "./report.js"

const usage = `npm run bench -- [--quick] [--only <name>[,<name>…]] [--profile <name>] [--write|--no-write] [--keep]

Scenarios:
${scenarioNames.map((name) => `  ${name.padEnd(10)} ${describeScenario[name].trim()}`).join("\n")}
`

const fail = (message: string): never => {
  console.error(`bench: ${message}\n\n${usage}`)
  process.exit(2)
}

const { values } = (() => {
  try {
    return parseArgs({
      strict: true,
      options: {
        quick: { type: "boolean" },
        only: { type: "string", multiple: true },
        profile: { type: "string" },
        write: { type: "boolean" },
        "no-write": { type: "boolean" },
        keep: { type: "boolean" },
        help: { type: "boolean", short: "h" }
      }
    })
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error))
  }
})()

if (values.help) {
  console.log(usage)
  process.exit(0)
}

const isName = (name: string): name is ScenarioName => (scenarioNames as ReadonlyArray<string>).includes(name)
const only = (values.only ?? []).flatMap((item) => item.split(",")).map((name) => name.trim()).filter((name) => name.length > 0)
for (const name of only) if (!isName(name)) fail(`unknown scenario '${name}'`)
if (values.profile !== undefined && !isName(values.profile)) fail(`unknown scenario '${values.profile}'`)
const profile = values.profile as ScenarioName | undefined
const quick = values.quick ?? false

const machine = { ...describeMachine(), fsync: await probeFsync(tmpdir()) }
console.log(`claude-ipc-broker benchmarks${quick ? " (quick)" : ""}: ${machine.cpus} × ${machine.cpu}, node ${machine.node}`)
console.log(machineText(machine))
const result = await runBench({
  quick,
  only: only as Array<ScenarioName>,
  profile: profile && (only.length === 0 || only.includes(profile)) ? profile : profile && fail(`--profile ${profile} is not among --only`),
  keep: values.keep ?? false,
  log: (message) => console.log(message)
})
const finished = { ...machine, loadAfter: loadavg() }
const table = formatTable(result.rows)
console.log(`\n${table}\n`)
const failing = result.rows.filter((row) => verdictOf(row) === "FAIL").length
console.log(`${result.rows.length} rows, ${failing} failing their target; ${result.seconds.toFixed(0)} s in all.`)

// The results table is written only by a complete run (or with --write); a profile, whenever one was taken.
const complete = only.length === 0 && !quick
const writeResults = values["no-write"] ? false : (values.write ?? complete)
const writeProfile = !values["no-write"] && result.profile !== undefined
const results = [
  `Last run: \`npm run bench${quick ? " -- --quick" : ""}${only.length > 0 ? ` -- --only ${only.join(",")}` : ""}\`, ${result.seconds.toFixed(0)} s.`,
  "",
  machineText(finished),
  "",
  table,
  "",
  `${failing} of ${result.rows.filter((row) => row.target !== null).length} targets failing.`
].join("\n")
const profileText =
  result.profile === undefined
    ? undefined
    : `Scenario \`${result.profile.scenario}\`${quick ? " (quick)" : ""}, the busiest broker process under \`node --cpu-prof\`, ${finished.date}; ` +
      `load average before/after ${finished.loadBefore[0]!.toFixed(1)}/${finished.loadAfter[0]!.toFixed(1)}.\n\n${formatSummary(result.profile.summary)}`
if (writeResults || writeProfile) {
  await writeDoc(writeResults ? results : undefined, writeProfile ? profileText : undefined)
  console.log(`Written to docs/benchmarks.md: ${[writeResults ? "results" : "", writeProfile ? "profile" : ""].filter(Boolean).join(" and ")}.`)
}
if (!writeResults) console.log("Results not written to docs/benchmarks.md (quick or partial run; pass --write to force).")
