#!/usr/bin/env bash
# The test command (README): installs what a fresh machine lacks (gcc, make, tmux, gdb, redis-server, musl-tools, busybox-static, node/npm with
# apt-get; the pinned npm packages with npm ci), builds everything (gcc builds the userland and the
# test programs as part of the build) and runs every xunit project.
set -euo pipefail
cd "$(dirname "$0")"

# Tests compare programs' signal behaviour with the host's and send Ctrl-C through tmux. A run started
# under nohup, or in the background of a non-interactive shell, inherits SIGHUP or SIGINT/SIGQUIT
# ignored (kept across exec) and the host-side programs would show it: start from the defaults.
if [ -z "${LAB_TEST_SIGNALS_DEFAULT:-}" ] && env --default-signal=HUP true 2>/dev/null; then
  export LAB_TEST_SIGNALS_DEFAULT=1
  exec env --default-signal=HUP,INT,QUIT "$0" "$@"
fi

need_apt=()
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)      # the TUI is tested under tmux, as a person uses it
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)  # the official JS SignalR client (interop test)
command -v gdb >/dev/null 2>&1 || need_apt+=(gdb)         # real gdb attaches to the kernel stub (tui run --kernel --gdb)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)  # the cluster tests start a real Redis and three nodes
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)  # static musl builds of the Linux programs the POSIX profile runs
# Debian's busybox-static (a static ELF: the plain busybox package is dynamic, which the POSIX profile cannot load)
static_busybox() { for b in /usr/bin/busybox /bin/busybox; do [ -x "$b" ] && ! readelf -l "$b" 2>/dev/null | grep -q interpreter && return 0; done; return 1; }
static_busybox || need_apt+=(busybox-static)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
command -v dotnet >/dev/null 2>&1 || { echo "test.sh: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }

# npm packages pinned by package-lock.json: the official SignalR client with its MessagePack protocol
# (interop test).
for js in tests/Server.Tests/js; do
  [ -d "$js/node_modules" ] || (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
done

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Lab.sln -c Release -nologo -v q
dotnet test Lab.sln -c Release --no-build -nologo -v q --logger "console;verbosity=minimal" "$@"
# The Machine tests again on each tier: the interpreter alone, and the JIT compiling every block on its
# first run (the default threshold leaves most short tests interpreted), its quick code replaced by
# optimised code once it has retired its own length (whenever the compile worker is done: both agree).
LAB_TIER=interp dotnet test tests/Machine.Tests -c Release --no-build -nologo -v q --logger "console;verbosity=minimal" "$@"
LAB_TIER=jit LAB_JIT_THRESHOLD=1 LAB_JIT_PROMOTE=1 dotnet test tests/Machine.Tests -c Release --no-build -nologo -v q --logger "console;verbosity=minimal" "$@"
