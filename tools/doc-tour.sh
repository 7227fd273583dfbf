#!/usr/bin/env bash
# Runs the documentation's runnable examples, as a new user would: in a fresh clone of HEAD,
# with `sweep` on PATH being the given binary.
#
# Usage: tools/doc-tour.sh <path-to-sweep-binary>
#
# From README.md and every docs/*.md of the clone, each fenced block whose info string is
# exactly `console runnable` is taken, and each of its lines starting with `$ ` is run (without
# the `$ `) by bash in the clone's root, in order, each command printed before it runs. A
# non-zero exit fails the script, naming the file, the block's line and the command. Other
# lines of such a block (output) are ignored. The environment passes through (SWEEP_DATA_DIR,
# SWEEP_OFFLINE, ...).
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: tools/doc-tour.sh <path-to-sweep-binary>" >&2
  exit 2
fi
bin=$1
if [ ! -x "$bin" ] || [ -d "$bin" ]; then
  echo "doc-tour: $bin is not an executable file" >&2
  exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# A relative SWEEP_DATA_DIR means relative to here, not to the clone.
if [ -n "${SWEEP_DATA_DIR:-}" ] && [ "${SWEEP_DATA_DIR#/}" = "$SWEEP_DATA_DIR" ] && [ -d "$SWEEP_DATA_DIR" ]; then
  SWEEP_DATA_DIR=$(cd "$SWEEP_DATA_DIR" && pwd)
  export SWEEP_DATA_DIR
fi

top=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/doc-tour.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

git clone -q "$top" "$tmp/clone"
mkdir "$tmp/bin"
ln -s "$bin" "$tmp/bin/sweep"
export PATH="$tmp/bin:$PATH"
clone=$tmp/clone

# extract FILE: prints one record per command, "LINE<TAB>COMMAND", LINE being the line of the
# block's opening fence. Fences are ``` or ~~~ (three or more); a block ends at a fence of the
# same character at least as long, with nothing after it.
extract() {
  awk '
    # The fence a line opens or closes with (up to 3 spaces, then 3 or more ` or ~), or "".
    # Written without regex intervals, which some awks lack.
    function fence_of(s,   i, c, n) {
      i = 1
      while (i <= 3 && substr(s, i, 1) == " ") i++
      c = substr(s, i, 1)
      if (c != "`" && c != "~") return ""
      n = 0
      while (substr(s, i + n, 1) == c) n++
      return n >= 3 ? substr(s, i, n) : ""
    }
    {
      line = $0
      sub(/\r$/, "", line)
      if (!inside) {
        f = fence_of(line)
        if (f != "") {
          inside = 1; mark = f
          info = substr(line, index(line, f) + length(f))
          gsub(/^[ \t]+|[ \t]+$/, "", info)
          runnable = (info == "console runnable")
          start = NR
        }
        next
      }
      f = fence_of(line)
      rest = substr(line, index(line, f) + length(f))
      if (f != "" && substr(f, 1, 1) == substr(mark, 1, 1) && length(f) >= length(mark) && rest ~ /^[ \t]*$/) {
        inside = 0; runnable = 0
        next
      }
      if (runnable && substr(line, 1, 2) == "$ ") {
        printf "%d\t%s\n", start, substr(line, 3)
      }
    }
    END {
      if (inside) {
        printf "doc-tour: %s: the block opened at line %d is never closed\n", FILENAME, start > "/dev/stderr"
        exit 3
      }
    }
  ' "$1"
}

commands=0
files=0
cd "$clone"
shopt -s nullglob
for doc in README.md docs/*.md; do
  [ -f "$doc" ] || continue
  if ! records=$(extract "$doc"); then
    exit 1
  fi
  [ -n "$records" ] || continue
  files=$((files + 1))
  while IFS=$'\t' read -r line cmd; do
    printf '\n$ %s    (%s, block at line %s)\n' "$cmd" "$doc" "$line"
    status=0
    (cd "$clone" && bash -c "$cmd") </dev/null || status=$?
    if [ "$status" -ne 0 ]; then
      echo "doc tour FAILED: $doc, block at line $line: \`$cmd\` exited $status" >&2
      exit 1
    fi
    commands=$((commands + 1))
  done <<<"$records"
done

echo
echo "doc tour: $commands commands from $files files passed"
