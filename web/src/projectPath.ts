import { defaultProject, isProjectName } from "../../src/core/projects.js"

/**
 * Which project a dashboard address is of, and the addresses of a project: the broker serves every
 * route of project `x` under `/p/x/…` and project default's unprefixed, the dashboard included
 * (`/p/x/dashboard`, `/dashboard`). Pure, for the Node tests; connection.ts reads the page's once.
 */

/** `/p/<project>/dashboard…` is that project's dashboard; any other address (`/dashboard`) is default's. */
export const projectOfPath = (pathname: string): string => {
  const match = /^\/p\/([^/]+)\/dashboard(?:\/|$)/.exec(pathname)
  return match !== null && isProjectName(match[1]!) ? match[1]! : defaultProject
}

/** What a project's routes start with: `/p/<project>`, or nothing for default. */
export const routePrefix = (project: string): string => (project === defaultProject ? "" : `/p/${project}`)

/** Where a project's dashboard is. */
export const dashboardPath = (project: string): string => `${routePrefix(project)}/dashboard`
