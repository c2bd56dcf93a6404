import { For, Show } from "solid-js"
import { defaultProject } from "../../../src/core/projects.js"
import { useDashboard } from "../dashboard/index.js"
import { describeProblems, describeSkipped } from "../dashboard/notices.js"
import { formatCount } from "../ui/format.js"

/** The banners under the time-travel bar: the file being viewed, lines skipped, the latest notice. */
export const Banners = () => {
  const { files, notices } = useDashboard()
  return (
    <>
      <Show when={files.imported()}>
        {(file) => (
          <div class="banner" data-tone="file" role="status">
            <p>
              Viewing <strong>{file().name}</strong> offline: {formatCount(file().view.timeline.length)} events
              <Show when={file().project !== defaultProject || file().projects.length > 1}>
                {" "}of project <strong>{file().project}</strong>
              </Show>
              {file().view.timeline.length > 0 ? ` (seq ${file().view.timeline.startSeq + 1}–${file().view.timeline.lastSeq})` : ""}, replayed
              in your browser.
              <Show when={file().problems.length > 0}> {describeProblems(file().problems)}.</Show>
            </p>
            <Show when={file().projects.length > 1}>
              <label class="file-project">
                <span>The file holds {file().projects.length} projects; show</span>
                <select aria-label="Project in the file" onChange={(event) => void files.showProject(event.currentTarget.value)}>
                  <For each={file().projects}>
                    {(project) => (
                      <option value={project.name} selected={project.name === file().project}>
                        {project.name} ({formatCount(project.events)} events)
                      </option>
                    )}
                  </For>
                </select>
              </label>
            </Show>
            <Show when={file().problems.length > 3}>
              <details>
                <summary>All {file().problems.length} bad lines</summary>
                <ul class="problems">
                  <For each={file().problems.slice(0, 500)}>
                    {(problem) => (
                      <li>
                        line {problem.line}: {problem.reason}
                      </li>
                    )}
                  </For>
                </ul>
              </details>
            </Show>
            <button type="button" class="button" onClick={() => files.closeFile()}>
              Close file
            </button>
          </div>
        )}
      </Show>
      <Show when={notices.skipped()}>
        {(skipped) => (
          <div class="banner" data-tone="error" role="alert" data-banner="skipped">
            <p>{describeSkipped(skipped())}</p>
            <button type="button" class="button" onClick={() => notices.dismissSkipped()}>
              Dismiss
            </button>
          </div>
        )}
      </Show>
      <Show when={notices.notice()}>
        {(notice) => (
          <div class="banner" data-tone={notice().tone} role={notice().tone === "error" ? "alert" : "status"}>
            <p>{notice().text}</p>
            <button type="button" class="button" onClick={() => notices.dismissNotice()}>
              Dismiss
            </button>
          </div>
        )}
      </Show>
    </>
  )
}
