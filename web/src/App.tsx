import { DashboardProvider, useDashboard } from "./dashboard/index.js"
import { ActivityView } from "./views/ActivityView.js"
import { Banners } from "./views/Banners.js"
import { ChannelsView } from "./views/ChannelsView.js"
import { CommandsView } from "./views/CommandsView.js"
import { Header } from "./views/Header.js"
import { PeersView } from "./views/PeersView.js"
import { SignalsView } from "./views/SignalsView.js"
import { TimelineBar } from "./views/TimelineBar.js"

/** The dashboard: its stores around a top bar, the time-travel bar, banners and five panels. */
export const App = () => (
  <DashboardProvider>
    <Layout />
  </DashboardProvider>
)

/** Three columns on a wide window, two on a narrower one, one on a phone (styles.css). */
const Layout = () => {
  const { files } = useDashboard()
  return (
    <div class="app" classList={{ offline: files.showing() === "file" }}>
      <Header />
      <TimelineBar />
      <Banners />
      <main class="grid">
        <div class="column column-left">
          <PeersView />
          <ChannelsView />
          <SignalsView />
        </div>
        <div class="column column-middle">
          <CommandsView />
        </div>
        <div class="column column-right">
          <ActivityView />
        </div>
      </main>
    </div>
  )
}
