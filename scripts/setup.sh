#!/usr/bin/env bash
# Installs everything the local stack needs; `make setup` calls it.
#
# Idempotent: each step leaves a stamp (a hash of its inputs) under .cache/stamps and is skipped
# while the stamp matches and its output is still there. Every download lands under .cache/
# (pip, Maven and Go caches included) so a second run needs no network at all.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
STAMPS="$CACHE/stamps"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
mkdir -p "$STAMPS"

APT_PACKAGES=(
  # Qt (PySide6) offscreen: GL/EGL, fonts, keyboard maps, D-Bus, GLib.
  libgl1 libegl1 libxkbcommon0 libfontconfig1 fonts-dejavu-core libdbus-1-3 libglib2.0-0
  # Qt's xcb platform (a real window under Xvfb for screenshots).
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1
)
MIN_JAVA=17
MIN_GO_MINOR=24 # go/ferretdb/go.mod says go 1.24

log() { printf '%s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# run_step NAME FUNCTION: runs FUNCTION and reports how long it took.
run_step() {
  local name="$1" fn="$2" start end
  log "==> $name"
  start=$(date +%s.%N)
  "$fn"
  end=$(date +%s.%N)
  log "    $name done in $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')s"
}

inputs_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
write_stamp() { printf '%s' "$2" >"$STAMPS/$1"; }

# --- toolchains: fail early with one clear line ---------------------------------------------
find_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java || true
  fi
}

check_toolchains() {
  local java version major go_minor
  java="$(find_java)"
  [[ -n "$java" ]] || die "java not found: install a JDK >= $MIN_JAVA (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"
  version="$("$java" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  major="${version%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge $MIN_JAVA ]] ||
    die "java $version at $java is too old: Kafka 4 needs Java >= $MIN_JAVA"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  command -v go >/dev/null || die "go not found: install Go >= 1.$MIN_GO_MINOR (needed to build FerretDB)"
  go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
  [[ "$go_minor" =~ ^[0-9]+$ && "$go_minor" -ge $MIN_GO_MINOR ]] ||
    die "$(go env GOVERSION) is too old: FerretDB needs Go >= 1.$MIN_GO_MINOR"
  command -v python3 >/dev/null || die "python3 not found: install Python >= 3.11"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$(python3 --version) is too old: BlueTrack needs Python >= 3.11"
  log "    java $version, $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'), $(go env GOVERSION), $(python3 --version)"
}

# --- Debian libraries for headless Qt -------------------------------------------------------
missing_apt_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_apt_packages() {
  local missing
  mapfile -t missing < <(missing_apt_packages)
  log "    installing ${missing[*]}"
  [[ $EUID -eq 0 ]] || die "need root to install ${missing[*]}: sudo apt-get install -y ${missing[*]}"
  local out="$CACHE/apt.log"
  # Quiet unless it fails: apt's progress and debconf chatter only go to .cache/apt.log.
  { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    >"$out" 2>&1 || { tail -20 "$out" >&2; die "apt-get install ${missing[*]} failed (log: $out)"; }
}

# --- Python venv ------------------------------------------------------------------------------
python_deps_hash() { inputs_hash "$ROOT/requirements.lock.txt"; }
project_hash() { inputs_hash "$ROOT/pyproject.toml"; }

install_python_deps() {
  [[ -x "$PY" ]] || python3 -m venv "$VENV"
  PIP_CACHE_DIR="$CACHE/pip" "$PY" -m pip install --disable-pip-version-check -q \
    -r "$ROOT/requirements.lock.txt"
  write_stamp venv "$(python_deps_hash)"
}

install_project() {
  PIP_CACHE_DIR="$CACHE/pip" "$PY" -m pip install --disable-pip-version-check -q --no-deps -e "$ROOT"
  write_stamp project "$(project_hash)"
}

# --- Kafka broker jars (Maven Central) ---------------------------------------------------------
# Maven 3.8 prints bare ANSI resets even with -q -B; strip them (pipefail keeps mvn's status).
mvn_quiet() {
  mvn -B -q -Dstyle.color=never "-Dmaven.repo.local=$CACHE/m2" "$@" 2>&1 |
    sed -E 's/\x1b\[[0-9;]*m//g' | { grep -v '^[[:space:]]*$' || true; }
}
kafka_hash() { inputs_hash "$ROOT/scripts/maven/kafka/pom.xml"; }

install_kafka_jars() {
  rm -rf "$CACHE/kafka/libs"
  mvn_quiet -f "$ROOT/scripts/maven/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime "-DoutputDirectory=$CACHE/kafka/libs"
  write_stamp kafka "$(kafka_hash)"
  log "    $(find "$CACHE/kafka/libs" -name '*.jar' | wc -l) jars in .cache/kafka/libs"
}

# --- Spark's Kafka source: only the jars pyspark doesn't ship ----------------------------------
pyspark_jars_dir() { "$PY" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))'; }
spark_jars_hash() { { cat "$ROOT/scripts/maven/spark-kafka/pom.xml"; pyspark_jars_dir; ls "$(pyspark_jars_dir)"; } | sha256sum | cut -d' ' -f1; }

# artifact_name FILE.jar -> the name without its version (zstd-jni-1.5.6-10.jar -> zstd-jni).
artifact_name() { sed -E 's/-[0-9]+(\.[0-9A-Za-z]+)+([-.][0-9A-Za-z]+)*\.jar$//' <<<"$1"; }

install_spark_jars() {
  local staging="$CACHE/spark-jars.all" shipped jar name
  rm -rf "$staging" "$CACHE/spark-jars"
  mkdir -p "$CACHE/spark-jars"
  # includeScope=runtime leaves out Spark's "provided" deps (spark-sql, spark-core, ...).
  mvn_quiet -f "$ROOT/scripts/maven/spark-kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime "-DoutputDirectory=$staging"
  shipped="$(for jar in "$(pyspark_jars_dir)"/*.jar; do artifact_name "$(basename "$jar")"; done)"
  for jar in "$staging"/*.jar; do
    name="$(artifact_name "$(basename "$jar")")"
    # A second copy of scala-library or slf4j on the classpath breaks Spark in odd ways.
    if grep -qxF "$name" <<<"$shipped"; then continue; fi
    cp "$jar" "$CACHE/spark-jars/"
  done
  rm -rf "$staging"
  write_stamp spark-jars "$(spark_jars_hash)"
  log "    $(cd "$CACHE/spark-jars" && ls | tr '\n' ' ')"
}

# --- FerretDB built from the Go module proxy ----------------------------------------------------
ferretdb_hash() {
  inputs_hash "$ROOT/go/ferretdb/go.mod" "$ROOT/go/ferretdb/go.sum" "$ROOT/go/ferretdb/main.go" \
    "$ROOT/scripts/setup.sh"
}

# FerretDB 1.24.2's SQLite backend filters `_id` with `->'$._id'` while its index is on
# `->"_id"`, so SQLite never uses the index and every lookup by _id scans the table
# (docs/catalogue.md). We build from a copy of the module with that one expression fixed.
FERRETDB_ID_BUG="IDColumn = DefaultColumn + \"->'\$._id'\""
FERRETDB_ID_FIX='IDColumn = DefaultColumn + `->"_id"`'

build_ferretdb() {
  mkdir -p "$CACHE/bin"
  (
    export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
    # -modcacherw so `make clean-cache` can delete the module cache; local toolchain only.
    export GOFLAGS=-modcacherw GOTOOLCHAIN=local
    local work="$CACHE/ferretdb-build"
    rm -rf "$work" && mkdir -p "$work"
    cp "$ROOT/go/ferretdb/go.mod" "$ROOT/go/ferretdb/go.sum" "$ROOT/go/ferretdb/main.go" "$work/"
    cd "$work"
    local src
    src="$(go mod download -json github.com/FerretDB/FerretDB | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
    cp -r "$src" FerretDB && chmod -R u+w FerretDB
    local meta=FerretDB/internal/backends/sqlite/metadata/metadata.go
    grep -qF "$FERRETDB_ID_BUG" "$meta" || die "FerretDB source changed: the _id index fix no longer applies ($meta)"
    FIX="$FERRETDB_ID_FIX" BUG="$FERRETDB_ID_BUG" "$PY" - "$meta" <<'PYEOF'
import os, sys
path = sys.argv[1]
text = open(path).read().replace(os.environ["BUG"], os.environ["FIX"])
open(path, "w").write(text)
PYEOF
    go mod edit -replace github.com/FerretDB/FerretDB=./FerretDB
    go build -trimpath -o "$CACHE/bin/ferretdb" .
  )
  smoke_test_ferretdb
  write_stamp ferretdb "$(ferretdb_hash)"
}

# Start the fresh binary on a free port and ping it, so a broken build fails here, not later.
smoke_test_ferretdb() {
  "$PY" - "$CACHE/bin/ferretdb" <<'EOF'
import socket, subprocess, sys, tempfile, time
import pymongo

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
with tempfile.TemporaryDirectory() as state:
    proc = subprocess.Popen([sys.argv[1], f"--listen-addr=127.0.0.1:{port}", f"--state-dir={state}"])
    try:
        start = time.monotonic()
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=15000)
        client.admin.command("ping")
        print(f"    ferretdb answered ping in {time.monotonic() - start:.2f}s")
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
EOF
}

# --- main -------------------------------------------------------------------------------------
main() {
  local total_start
  total_start=$(date +%s)
  log "BlueTrack setup in $ROOT (cache: .cache/)"

  run_step "check toolchains" check_toolchains

  if [[ -n "$(missing_apt_packages)" ]]; then
    run_step "Debian libraries for headless Qt" install_apt_packages
  else
    log "skip Debian libraries (all installed)"
  fi

  if [[ -x "$PY" ]] && stamp_ok venv "$(python_deps_hash)"; then
    log "skip Python dependencies (requirements.lock.txt unchanged)"
  else
    run_step "Python dependencies into .venv" install_python_deps
  fi
  if stamp_ok project "$(project_hash)" && "$PY" -c 'import bluetrack' 2>/dev/null; then
    log "skip editable install of bluetrack (pyproject.toml unchanged)"
  else
    run_step "editable install of bluetrack" install_project
  fi

  if stamp_ok kafka "$(kafka_hash)" && compgen -G "$CACHE/kafka/libs/kafka_2.13-*.jar" >/dev/null; then
    log "skip Kafka broker jars (cached)"
  else
    run_step "Kafka broker jars from Maven Central" install_kafka_jars
  fi

  if stamp_ok spark-jars "$(spark_jars_hash)" && compgen -G "$CACHE/spark-jars/spark-sql-kafka-*.jar" >/dev/null; then
    log "skip Spark Kafka jars (cached)"
  else
    run_step "Spark Kafka source jars from Maven Central" install_spark_jars
  fi

  if stamp_ok ferretdb "$(ferretdb_hash)" && [[ -x "$CACHE/bin/ferretdb" ]]; then
    log "skip FerretDB (built)"
  else
    run_step "FerretDB from the Go module proxy" build_ferretdb
  fi

  log "setup complete in $(($(date +%s) - total_start))s"
}

main "$@"
