import { defaultProject, isProjectName, projectRule } from "../core/projects.js"
import { preview } from "./problems.js"

/**
 * The project a request is in, from its path: `/p/<project>/<route>` is `<route>` of `<project>`,
 * any other path is of project `default` (so every client from before projects keeps working).
 */
export type ProjectTarget =
  | { readonly ok: true; readonly project: string; readonly path: string; readonly prefix: string }
  | { readonly ok: false; readonly message: string }

const unprefixed = (path: string): ProjectTarget => ({ ok: true, project: defaultProject, path, prefix: "" })

export const projectTarget = (path: string): ProjectTarget => {
  if (path !== "/p" && !path.startsWith("/p/")) return unprefixed(path)
  const slash = path.indexOf("/", 3)
  const name = slash < 0 ? path.slice(3) : path.slice(3, slash)
  if (!isProjectName(name)) {
    const given = name === "" ? "no project name" : `project ${preview(name)}`
    return { ok: false, message: `${given} in ${preview(path)}: a project name has ${projectRule}, as in /p/<project>/status` }
  }
  return { ok: true, project: name, path: slash < 0 ? "/" : path.slice(slash), prefix: `/p/${name}` }
}

/**
 * The project the guard placed a request in, kept beside it for the routes after the guard (event
 * streams, MCP sessions, the dashboard). A WeakMap, like the principal: nothing a client sends sets it.
 */
const projects = new WeakMap<object, string>()

export const attachProject = (request: object, project: string): void => {
  if (project !== defaultProject) projects.set(request, project)
}

export const projectOfRequest = (request: object): string => projects.get(request) ?? defaultProject
