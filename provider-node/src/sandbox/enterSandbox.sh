#!/bin/sh
# Runs as the first process inside fresh mount, network and PID namespaces (see sandbox.ts),
# as root of a new user namespace when one can be created. It
#   1. keeps the work dir writable (a bind mount of it onto itself),
#   2. makes every read-only dir, then every other mount, read-only,
#   3. drops every capability (empty bounding set, no-new-privs), so nothing run afterwards can
#      remount, unmount or regain privileges, and runs the engine as its child.
# The engine is not exec'ed: PID 1 of a namespace ignores signals it has no handler for (SIGTERM,
# its own abort()), so it runs as PID 2 with ordinary signal semantics and this script exits with
# its status, 128 + n when signal n ended it (sandbox.ts turns that back into a signal name).
# Usage: sh enterSandbox.sh <workDir> <count> <readOnlyDir>... -- <command> [args...]
set -eu

work=$1
count=$2
shift 2

mount --bind "$work" "$work"

i=0
while [ "$i" -lt "$count" ]; do
  dir=$1
  shift
  i=$((i + 1))
  mount --bind "$dir" "$dir"
  mount -o remount,bind,ro "$dir"
done
[ "$1" = "--" ] && shift

# Mount points in /proc/self/mountinfo (5th field) escape space, tab, newline and backslash as
# \ooo octal; turn them back into bytes before remounting.
while read -r _ _ _ _ point _; do
  point=$(printf '%b' "$(printf '%s' "$point" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')")
  [ "$point" = "$work" ] && continue
  mount -o remount,bind,ro "$point" 2>/dev/null ||
    echo "tessellate-sandbox: could not make $point read-only" >&2
done </proc/self/mountinfo

status=0
setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@" || status=$?
exit "$status"
