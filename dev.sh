#!/usr/bin/env bash
# Sets up a Debian 12 machine for obsgate, builds it, and runs it or its tests.
#   ./dev.sh demo [--follow]             install what is missing, build, watch a bad release
#                                        get rolled back (about 70 seconds, nothing outside needed)
#   ./dev.sh run [obsgate run args...]   install what is missing, build, start the gateway
#   ./dev.sh test [ctest args...]        install what is missing, build, run the whole test suite
#   ./dev.sh build                       install what is missing and build
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  g++ make cmake pkg-config ccache git curl ca-certificates openssl
  libboost-dev libssl-dev zlib1g-dev
  libsimdjson-dev librdkafka-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libyaml-cpp-dev
  libre2-dev libprotobuf-dev protobuf-compiler libsnappy-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus prometheus-alertmanager prometheus-node-exporter kcat
  python3 chromium chromium-driver bc
)
BUILD_DIR=${BUILD_DIR:-build}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

build() {  # [--target NAME]: only that target
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  cmake --build "$BUILD_DIR" -j"${JOBS:-2}" "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    install_packages
    build --target obsgate
    exec "$BUILD_DIR/app/obsgate" demo "$@"
    ;;
  run)
    install_packages
    build
    exec "$BUILD_DIR/app/obsgate" run "$@"
    ;;
  test)
    install_packages
    build
    cd "$BUILD_DIR"
    exec ctest --output-on-failure -j"${JOBS:-2}" "$@"
    ;;
  build)
    install_packages
    build
    ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
