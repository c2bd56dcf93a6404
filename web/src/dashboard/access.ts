import { createSignal } from "solid-js"
import type { WhoAmI } from "../../../src/core/principal.js"
import { pageProject, whoAmI } from "../connection.js"

/**
 * Who the page is to the broker (`GET /whoami`) and so which controls it shows: a principal that may
 * not write (a viewer token) gets no command center and no Cancel, one that may not administer no
 * Redeliver. Hiding is for the person; the broker refuses such writes (403) whatever a page sends.
 */
export const createAccess = () => {
  /** undefined: not asked yet; null: the broker could not say. */
  const [me, setMe] = createSignal<WhoAmI | null | undefined>(undefined)
  /**
   * Until the answer arrives nothing that writes is shown, so a viewer never sees a button flash.
   * A broker that cannot say (one older than /whoami) gets every control, as before it existed.
   */
  const may = (right: keyof WhoAmI["may"]): boolean => {
    const known = me()
    return known === null || (known !== undefined && known.may[right])
  }
  return {
    /** Who the page is, once known. */
    me: () => me() ?? null,
    mayWrite: () => may("write"),
    mayAdmin: () => may("admin"),
    /** The name a read-only page is shown under ("viewer · alice"), or null when it may write or is not known yet. */
    readOnlyAs: (): string | null => {
      const known = me()
      if (known === undefined || known === null || known.may.write) return null
      return `${known.role ?? "viewer"}${known.name === undefined ? "" : ` · ${known.name}`}`
    },
    /**
     * The project this page should show instead, if any: a scoped token's own, when it may not read
     * the page's (a token of project x opening `/dashboard`, default's). Null otherwise.
     */
    elsewhere: (): string | null => {
      const known = me()
      return known != null && !known.may.read && known.project !== pageProject ? known.project : null
    },
    /** Ask the broker once, as the page loads; resolves with the answer (null: it could not say). */
    start(): Promise<WhoAmI | null> {
      return whoAmI().then((answer) => {
        setMe(answer)
        return answer
      })
    }
  }
}

export type Access = ReturnType<typeof createAccess>
