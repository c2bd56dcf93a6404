"""A parent that reaps its child late, as a busy one does (npm, a shell, an overloaded supervisor).

    python3 chaos/lazy-parent.py <reap-delay-ms> <command> [args...]

Runs the command as its child and prints `lazy-parent: child pid N` on stdout. When the child dies,
it stays a zombie for <reap-delay-ms> before this process reaps it: meanwhile its pid still exists
for kill(pid, 0), so a restart in that window meets the dead broker's pid as if it were alive.
SIGTERM, SIGINT and SIGHUP are passed to the child; this process then exits as the child did.

The chaos harness starts every broker through it (when python3 is there), with a random delay.
Node cannot be that parent: libuv reaps a child as soon as SIGCHLD arrives.
"""
import os
import signal
import sys
import time

delay = int(sys.argv[1]) / 1000.0
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])

sys.stdout.write(f"lazy-parent: child pid {pid}\n")
sys.stdout.flush()


def forward(signum, _frame):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


for forwarded in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(forwarded, forward)


def state():
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            stat = stat_file.read()
        return stat[stat.rindex(")") + 2]
    except OSError:
        return None


# Poll without reaping: waitpid would remove the zombie.
while state() not in (None, "Z", "X"):
    time.sleep(0.005)
time.sleep(delay)
_, status = os.waitpid(pid, 0)
if os.WIFSIGNALED(status):
    if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.WEXITSTATUS(status))
