import { defaultProject } from "./tokens.js"

export { defaultProject }

/**
 * Projects: brokers inside the broker. One log and one projection hold every project; an entity's
 * key in the projection is its name (or id) in its project, prefixed with the project's name and a
 * slash unless the project is `default`. Names never contain a slash (core/names.ts), so a key says
 * which project it is of, and the keys of `default` are its names as they were before projects
 * existed: logs, checkpoints and clients of that time load and work unchanged.
 */

/** Lower case, like token names: `/p/<project>/…` in a URL, a label on metrics. */
export const projectPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/
export const projectRule = "1–64 characters: lower-case letters, digits, '_' or '-', starting with a letter or digit"

export const isProjectName = (value: string): boolean => projectPattern.test(value)

/** An entity's key in the projection. */
export const scoped = (project: string, name: string): string => (project === defaultProject ? name : `${project}/${name}`)

/** The project a key belongs to. */
export const projectOfKey = (key: string): string => {
  const slash = key.indexOf("/")
  return slash < 0 ? defaultProject : key.slice(0, slash)
}

/** Whether `key` is of `project`, without building a string. */
export const isKeyOf = (key: string, project: string): boolean =>
  project === defaultProject
    ? key.indexOf("/") < 0
    : key.length > project.length && key.charCodeAt(project.length) === 47 /* "/" */ && key.startsWith(project)

/** The name (or id) a key stands for in its project. */
export const nameOfKey = (key: string): string => {
  const slash = key.indexOf("/")
  return slash < 0 ? key : key.slice(slash + 1)
}

/** The project an event is of: its `project` field, `default` when it has none. */
export const projectOf = (event: { readonly project?: string | undefined }): string => event.project ?? defaultProject

/** A draft stamped with its project; events of `default` carry none, as they did before projects. */
export const inProject = <D extends { readonly project?: string | undefined }>(project: string, draft: D): D =>
  project === defaultProject ? draft : { ...draft, project }
