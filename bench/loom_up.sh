# Sourced by the bench scripts: `loom_up ARGS...` starts `$bin/loom ARGS... up` under the fresh
# $LOOM_HOME they made, waits until it is up, and stops it when the script exits (keeping the
# state on failure). Needs $bin and $LOOM_HOME; sets $up to its pid.
loom_up() {
  "$bin/loom" "$@" > "$LOOM_HOME/up.log" 2>&1 &
  up=$!
  trap 'rc=$?; kill -INT $up 2>/dev/null; wait $up 2>/dev/null || true
        if [ $rc -eq 0 ]; then rm -rf "$LOOM_HOME"; else echo "state kept in $LOOM_HOME" >&2; fi' EXIT
  for _ in $(seq 100); do
    grep -q "Loom is up" "$LOOM_HOME/up.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "Loom is up" "$LOOM_HOME/up.log" || { cat "$LOOM_HOME/up.log"; exit 1; }
}
