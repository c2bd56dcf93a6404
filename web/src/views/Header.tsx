import { For, Show } from "solid-js"
import { defaultProject } from "../../../src/core/projects.js"
import { useDashboard } from "../dashboard/index.js"
import { plural } from "../ui/format.js"

const linkLabels = { loading: "Connecting…", connecting: "Connecting…", live: "Connected", reconnecting: "Reconnecting…" } as const

/**
 * The project shown: a switcher to the others for those who may look across projects, else the
 * project's name (none on default's dashboard, as before projects).
 */
const ProjectSwitcher = () => {
  const { projects } = useDashboard()
  return (
    <Show
      when={projects.names()}
      fallback={
        <Show when={projects.current !== defaultProject}>
          <span class="project-name" title="The project this dashboard shows">
            <span class="muted">project</span> {projects.current}
          </span>
        </Show>
      }
    >
      {(names) => (
        <label class="project-switcher">
          <span class="muted" aria-hidden="true">Project</span>
          {/* Named apart from its label: a select inside a label would take its chosen option into its name. */}
          <select aria-label="Project" onFocus={() => projects.refresh()} onChange={(event) => projects.open(event.currentTarget.value)}>
            <For each={names()}>
              {(name) => (
                <option value={name} selected={name === projects.current}>
                  {name}
                </option>
              )}
            </For>
          </select>
        </label>
      )}
    </Show>
  )
}

/**
 * The top bar: the project, where the data comes from, who is looking when that token may only
 * read, how much data there is, and the log's import/export.
 */
export const Header = () => {
  const { files, live, frame, theme, access } = useDashboard()
  let fileInput!: HTMLInputElement
  const dark = theme.dark

  return (
    <header class="topbar">
      <div class="brand">
        <svg viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
          <rect width="32" height="32" rx="7" fill="var(--accent)" />
          <path d="M8 11h16M8 16h11M8 21h16" stroke="var(--on-accent)" stroke-width="3" stroke-linecap="round" />
        </svg>
        <h1>claude-ipc-broker</h1>
      </div>
      <ProjectSwitcher />
      <Show
        when={files.showing() === "file"}
        fallback={
          <span class="link" data-state={live.link()} role="status" aria-live="polite">
            <span class="dot" aria-hidden="true" />
            {linkLabels[live.link()]}
          </span>
        }
      >
        <span class="link" data-state="file" role="status">
          <span class="dot" aria-hidden="true" />
          Offline file: {files.imported()?.name}
        </span>
      </Show>
      <Show when={access.readOnlyAs()}>
        {(name) => (
          <span class="badge viewer-badge" data-tone="quiet" title="This token may only read: no orders, cancels or redeliveries">
            {name()} <span class="muted">(read-only)</span>
          </span>
        )}
      </Show>
      <span class="log-size muted">{plural(frame.total, "event")}</span>
      <Show when={files.loading()}>
        <span class="loading" role="status">
          <span class="spinner" aria-hidden="true" />
          {files.loading()}
        </span>
      </Show>
      <div class="topbar-actions">
        <button type="button" class="button" onClick={() => files.exportLog()} title="Download the log as NDJSON">
          Export
        </button>
        <button type="button" class="button" onClick={() => fileInput.click()} title="Open an NDJSON log exported from a broker">
          Import
        </button>
        <input
          ref={fileInput}
          type="file"
          class="visually-hidden"
          tabindex="-1"
          aria-hidden="true"
          accept=".ndjson,.jsonl,.json,.txt,application/x-ndjson,application/json,text/plain"
          onChange={(event) => {
            const file = event.currentTarget.files?.[0]
            event.currentTarget.value = ""
            if (file) void files.importFile(file)
          }}
        />
        <button
          type="button"
          class="button icon-button"
          aria-pressed={dark()}
          title={dark() ? "Dark theme (click for light)" : "Light theme (click for dark)"}
          onClick={() => theme.toggle()}
        >
          <span aria-hidden="true">{dark() ? "☾" : "☀"}</span>
          <span class="visually-hidden">Dark theme</span>
        </button>
      </div>
    </header>
  )
}
