import { createEffect, createSignal, onCleanup } from "solid-js"

export type ThemeChoice = "system" | "light" | "dark"

const themeKey = "claude-ipc-broker:theme"
const darkQuery = "(prefers-color-scheme: dark)"

/**
 * Light or dark: the system's, until the person picks one with the toggle, which is remembered
 * (public/theme.js applies it before the first paint).
 */
export const createTheme = () => {
  const [choice, setChoice] = createSignal<ThemeChoice>(readChoice())
  const media = window.matchMedia?.(darkQuery)
  const [systemDark, setSystemDark] = createSignal(media?.matches ?? false)
  const onMedia = (event: MediaQueryListEvent) => setSystemDark(event.matches)
  media?.addEventListener("change", onMedia)
  onCleanup(() => media?.removeEventListener("change", onMedia))

  createEffect(() => {
    const chosen = choice()
    const root = document.documentElement
    if (chosen === "system") delete root.dataset.theme
    else root.dataset.theme = chosen
    try {
      if (chosen === "system") localStorage.removeItem(themeKey)
      else localStorage.setItem(themeKey, chosen)
    } catch {
      // Private mode: the choice lasts for this page only.
    }
  })

  const dark = () => choice() === "dark" || (choice() === "system" && systemDark())
  return {
    choice,
    /** Whether the page is dark now, chosen or by the system. */
    dark,
    /** The other theme than the one shown. */
    toggle: () => setChoice(dark() ? "light" : "dark")
  }
}

export type Theme = ReturnType<typeof createTheme>

function readChoice(): ThemeChoice {
  try {
    const stored = localStorage.getItem(themeKey)
    return stored === "light" || stored === "dark" ? stored : "system"
  } catch {
    return "system"
  }
}
