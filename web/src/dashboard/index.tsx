import { createContext, useContext, type JSX } from "solid-js"
import { createAccess } from "./access.js"
import { createCommandCenter } from "./commandCenter.js"
import { createFrame } from "./frame.js"
import { createFrameLoop } from "./frameLoop.js"
import { createLiveLog } from "./liveLog.js"
import { createLogFiles } from "./logFiles.js"
import { createNotices } from "./notices.js"
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
    theme: createTheme(),
    start: () => {
      access.start()
      live.start()
    }
  }
}

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
