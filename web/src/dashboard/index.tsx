import { createContext, useContext, type JSX } from "solid-js"
import { dashboardPath } from "../projectPath.js"
import { createAccess } from "./access.js"
import { createCommandCenter } from "./commandCenter.js"
import { createFrame } from "./frame.js"
import { createFrameLoop } from "./frameLoop.js"
import { createLiveLog } from "./liveLog.js"
import { createLogFiles } from "./logFiles.js"
import { createNotices } from "./notices.js"
import { createProjects } from "./projects.js"
import { createSelections } from "./selections.js"
import { createTheme } from "./theme.js"
import { createTimeTravel } from "./timeTravel.js"

/**
 * The dashboard's state: small stores, each about one thing, composed here once and handed to every
 * view through a context (`useDashboard()`), as solid-realworld composes its store. The order is
 * the order of their dependencies: the frame loop and the banners first, then the logs, then what
 * is computed from the log shown.
 */
const createDashboard = () => {
  const loop = createFrameLoop()
  const notices = createNotices()
  const live = createLiveLog(loop, notices)
  const selections = createSelections()
  // A file opened or closed shows another log: the channel open in the old one means nothing there.
  const files = createLogFiles(loop, notices, live, () => selections.selectChannel(null))
  const shown = createFrame(loop, files, selections)
  const access = createAccess()
  const projects = createProjects()
  return {
    /** Every panel's data at the position shown, and how to name peers and times in it. */
    shown,
    /** The frame itself, the part of `shown` almost every view reads. */
    frame: shown.frame,
    selections,
    timeTravel: createTimeTravel(loop, files.view),
    live,
    files,
    commandCenter: createCommandCenter(loop, live, notices),
    notices,
    /** Who the page is to the broker, and which of its controls it may use. */
    access,
    /** The project shown, and the switcher to the others for those who may look across projects. */
    projects,
    theme: createTheme(),
    /**
     * Who the page is first, then the log: a token of another project is sent to its own project's
     * dashboard before this one asks for a log it may not read. A broker slow to say who the page
     * is does not hold the log up for long.
     */
    start: () => {
      const asked = access.start()
      let started = false
      const follow = () => {
        if (started) return
        started = true
        live.start()
      }
      const wait = setTimeout(follow, whoAmIPatienceMs)
      void asked.then((me) => {
        clearTimeout(wait)
        const home = access.elsewhere()
        if (home !== null) return window.location.replace(dashboardPath(home))
        projects.start(me)
        follow()
      })
    }
  }
}

/** How long the log waits for `/whoami` before it starts anyway. */
const whoAmIPatienceMs = 3_000

export type Dashboard = ReturnType<typeof createDashboard>

const DashboardContext = createContext<Dashboard>()

/** Creates the dashboard's stores, starts following the broker, and gives them to everything inside. */
export const DashboardProvider = (props: { readonly children: JSX.Element }) => {
  const dashboard = createDashboard()
  dashboard.start()
  return <DashboardContext.Provider value={dashboard}>{props.children}</DashboardContext.Provider>
}

/** The dashboard's stores, for a view inside `DashboardProvider`. */
export const useDashboard = (): Dashboard => {
  const dashboard = useContext(DashboardContext)
  if (dashboard === undefined) throw new Error("useDashboard() needs a <DashboardProvider> around the view")
  return dashboard
}
