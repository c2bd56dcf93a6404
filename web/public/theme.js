// The theme chosen with the dashboard's toggle, applied before the first paint so a dark dashboard
// never flashes white. A file rather than an inline script, so a strict Content-Security-Policy
// (script-src 'self') allows it.
try {
  var theme = localStorage.getItem("claude-ipc-broker:theme")
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme
} catch (e) {}
