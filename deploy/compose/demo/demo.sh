#!/bin/sh
# A small web service's access log: LINES_PER_SECOND JSON lines a second, ERROR_PERCENT of them
# 503s, appended to ${LOG_DIR:-/var/log/demo}/$APP-$VERSION.log and renamed to .1 every 100000
# lines, as logrotate would.
set -eu
exec awk -v app="$APP" -v version="$VERSION" -v pct="${ERROR_PERCENT:-1}" \
  -v rate="${LINES_PER_SECOND:-20}" -v file="${LOG_DIR:-/var/log/demo}/${APP}-${VERSION}.log" '
BEGIN {
  srand()
  split("/ /cart /login /search /checkout", paths, " ")
  while (1) {
    for (i = 0; i < rate; i++) {
      status = (rand() * 100 < pct) ? 503 : 200
      level = (status >= 500) ? "error" : "info"
      printf("{\"level\":\"%s\",\"namespace\":\"demo\",\"app\":\"%s\",\"version\":\"%s\",\"method\":\"GET\",\"path\":\"%s\",\"status\":%d,\"duration_ms\":%d}\n",
             level, app, version, paths[int(rand() * 5) + 1], status, int(rand() * 80) + 2) >> file
      if (++lines >= 100000) { close(file); system("mv " file " " file ".1"); lines = 0 }
    }
    fflush(file)
    system("sleep 1")
  }
}'
