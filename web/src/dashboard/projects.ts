import { createSignal } from "solid-js"
import { defaultProject } from "../../../src/core/projects.js"
import type { WhoAmI } from "../../../src/core/principal.js"
import { listProjects, pageProject } from "../connection.js"
import { dashboardPath } from "../projectPath.js"

/**
 * The project the page shows (its address says which), and the others a person may switch to.
 * `GET /projects` lists them only for those who may look across projects (the admin token, trusted
 * loopback); a scoped token is of one project and would be refused (403), so it is not asked and
 * gets no switcher. Choosing a project opens its dashboard: a page is of one project, from its
 * address to every request it makes.
 */
export const createProjects = () => {
  /** null: no switcher (not asked, refused, or not answered). */
  const [names, setNames] = createSignal<ReadonlyArray<string> | null>(null)
  if (pageProject !== defaultProject) document.title = `claude-ipc-broker · ${pageProject} · dashboard`

  const refresh = () =>
    void listProjects().then((list) => {
      // The page's own project is listed even before it holds anything (GET /projects lists those that do).
      if (list !== null) setNames(list.includes(pageProject) ? list : [...list, pageProject])
      else setNames(null)
    })

  return {
    /** The project this page shows. */
    current: pageProject,
    names,
    /** Ask again (the switcher does when it gets focus: projects come and go). */
    refresh,
    open(name: string) {
      if (name !== pageProject) window.location.assign(dashboardPath(name))
    },
    /** Once `/whoami` has answered (null: it could not say). */
    start(me: WhoAmI | null) {
      if (me?.kind !== "scoped") refresh()
    }
  }
}

export type Projects = ReturnType<typeof createProjects>
