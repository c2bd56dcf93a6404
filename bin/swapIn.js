// Plain JavaScript: bin/dist.js runs it before anything is compiled, web/build.ts through tsx.
import { renameSync, rmSync } from "node:fs"

/**
 * Puts the finished build in `building` at `target`. The old build is renamed aside first, so a
 * running broker never sees half a build; if another build finished first and took the place
 * (`targetIsComplete()` says the place holds a whole build), theirs is as good as ours and stays.
 * The caller removes `building` afterwards, whatever happened.
 */
export const swapIn = (building, target, targetIsComplete) => {
  const old = `${building}-old`
  try {
    renameSync(target, old)
  } catch {
    // No build yet, or another build just moved it.
  }
  try {
    renameSync(building, target)
  } catch (error) {
    if (!targetIsComplete()) throw error
  }
  rmSync(old, { recursive: true, force: true })
}
