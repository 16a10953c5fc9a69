"""What a sandboxed command may do. Pure data: built from config, read by the runner."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path


class SandboxMode(StrEnum):
    READ_ONLY = "read-only"
    WORKSPACE_WRITE = "workspace-write"
    FULL_ACCESS = "full-access"

    @property
    def rank(self) -> int:
        """Higher is looser; a repository may only move a setting down this scale."""
        return list(SandboxMode).index(self)


# Credentials and histories never visible inside the sandbox (relative to $HOME), in every
# mode, each masked when it exists (a symlink is followed and its target masked). The one
# list: `tessera doctor` reports it, `masked_paths` adds to it, a user's `unmask` removes
# from it. Each comment says what the entry protects.
DEFAULT_SECRET_PATHS: tuple[str, ...] = (
    # --- remote login, signing and generic credential stores
    ".ssh",  # SSH private keys, agent sockets, known hosts
    ".gnupg",  # GPG private keys
    ".netrc",  # passwords curl, git and ftp send to hosts
    ".git-credentials",  # git's plaintext credential store
    ".config/git/credentials",  # the same store at its XDG location
    # --- cloud CLIs
    ".aws",  # AWS access keys and SSO tokens
    ".config/gcloud",  # Google Cloud credentials and access tokens
    ".azure",  # Azure CLI tokens
    ".oci",  # Oracle Cloud API signing keys
    ".config/doctl",  # DigitalOcean API token
    ".config/hcloud",  # Hetzner Cloud API tokens
    ".config/linode-cli",  # Linode API token
    ".config/scw",  # Scaleway API keys
    ".config/exoscale",  # Exoscale API keys
    ".ibmcloud",  # IBM Cloud session tokens
    ".aliyun",  # Alibaba Cloud access keys
    ".config/flyctl",  # Fly.io access token
    ".fly",  # Fly.io access token (older location)
    ".config/heroku",  # Heroku API token
    ".config/netlify",  # Netlify access token
    ".config/vercel",  # Vercel auth token
    ".local/share/com.vercel.cli",  # Vercel auth token (Linux data location)
    ".wrangler",  # Cloudflare wrangler OAuth tokens
    ".config/.wrangler",  # Cloudflare wrangler OAuth tokens (XDG location)
    # --- containers and clusters
    ".docker",  # registry logins (config.json auths)
    ".kube",  # cluster credentials (kubeconfig)
    ".config/containers/auth.json",  # podman/skopeo registry logins
    ".config/helm/repositories.yaml",  # helm repository passwords
    # --- password managers and keyrings
    ".password-store",  # pass: the encrypted password store
    ".config/op",  # 1Password CLI sessions and account data
    ".config/Bitwarden CLI",  # Bitwarden CLI vault data and session
    ".local/share/keyrings",  # GNOME keyring data
    ".local/share/kwalletd",  # KDE wallet data
    # --- package-registry credentials
    ".npmrc",  # npm auth tokens
    ".yarnrc",  # yarn v1 registry tokens
    ".yarnrc.yml",  # yarn berry npmAuthToken
    ".pypirc",  # PyPI upload passwords
    ".config/pip/pip.conf",  # pip index URLs with embedded credentials
    ".cargo/credentials",  # crates.io token (old name)
    ".cargo/credentials.toml",  # crates.io token
    ".gem/credentials",  # RubyGems API key
    ".m2/settings.xml",  # Maven repository passwords
    ".m2/settings-security.xml",  # Maven master password
    ".gradle/gradle.properties",  # Gradle publishing credentials
    ".ivy2/.credentials",  # sbt/ivy repository credentials
    ".composer/auth.json",  # Composer tokens (old location)
    ".config/composer/auth.json",  # Composer tokens
    ".nuget/NuGet/NuGet.Config",  # NuGet feed passwords
    ".config/NuGet/NuGet.Config",  # NuGet feed passwords (XDG location)
    ".pub-cache/credentials.json",  # Dart pub OAuth token
    ".config/dart/pub-credentials.json",  # Dart pub OAuth token (XDG location)
    ".config/hex",  # Hex (Elixir) API key
    # --- tokens of developer tools
    ".config/gh",  # GitHub CLI OAuth token
    ".config/hub",  # hub (GitHub) OAuth token
    ".config/glab-cli",  # GitLab CLI token
    ".config/tea",  # Gitea CLI token
    ".vault-token",  # HashiCorp Vault token
    ".terraform.d/credentials.tfrc.json",  # Terraform Cloud token
    ".terraformrc",  # Terraform CLI config (may hold tokens)
    ".cache/huggingface/token",  # Hugging Face token
    ".cache/huggingface/stored_tokens",  # Hugging Face saved tokens
    ".huggingface/token",  # Hugging Face token (old location)
    ".kaggle/kaggle.json",  # Kaggle API key
    ".config/kaggle/kaggle.json",  # Kaggle API key (XDG location)
    ".codex",  # Codex CLI auth and session logs
    ".claude",  # Claude Code credentials and session logs
    ".claude.json",  # Claude Code account data
    ".gemini",  # Gemini CLI credentials
    ".config/github-copilot",  # Copilot OAuth token
    ".config/sentry",  # Sentry CLI token
    ".sentryclirc",  # Sentry CLI token (old location)
    ".config/stripe",  # Stripe CLI keys
    ".config/ngrok",  # ngrok authtoken
    ".ngrok2",  # ngrok authtoken (old location)
    ".config/rclone",  # rclone remotes with their secrets
    ".s3cfg",  # s3cmd access keys
    ".boto",  # boto / gsutil credentials
    ".pgpass",  # PostgreSQL passwords
    ".my.cnf",  # MySQL client password
    ".mylogin.cnf",  # MySQL login paths
    ".config/filezilla",  # FileZilla saved passwords
    # --- shell and REPL histories (commands with pasted secrets, everything typed)
    ".bash_history",  # bash
    ".zsh_history",  # zsh
    ".zhistory",  # zsh (another common name)
    ".histfile",  # zsh (another common name)
    ".sh_history",  # sh/ksh
    ".local/share/fish/fish_history",  # fish
    ".config/fish/fish_history",  # fish (old location)
    ".local/share/nushell/history.txt",  # nushell
    ".config/nushell/history.txt",  # nushell (old location)
    ".python_history",  # Python REPL
    ".ipython/profile_default/history.sqlite",  # IPython
    ".node_repl_history",  # Node REPL
    ".irb_history",  # Ruby irb
    ".pry_history",  # Ruby pry
    ".psql_history",  # PostgreSQL
    ".mysql_history",  # MySQL
    ".sqlite_history",  # SQLite
    ".rediscli_history",  # Redis
    ".dbshell",  # MongoDB shell (old)
    ".mongosh",  # MongoDB shell history and logs
    ".lesshst",  # less search history
    ".viminfo",  # vim registers, search and command history
    ".local/state/nvim/shada",  # neovim registers and history
    ".wget-hsts",  # hosts visited with wget
    ".local/share/recently-used.xbel",  # desktop recent files
    # --- browser profiles (cookies, saved passwords, sessions)
    ".mozilla",  # Firefox
    ".config/google-chrome",  # Chrome
    ".config/google-chrome-beta",  # Chrome beta
    ".config/chromium",  # Chromium
    ".config/BraveSoftware",  # Brave
    ".config/microsoft-edge",  # Edge
    ".config/vivaldi",  # Vivaldi
    ".config/opera",  # Opera
    ".thunderbird",  # Thunderbird mail and passwords
    "snap/firefox",  # Firefox from a snap (user data)
    ".var/app/org.mozilla.firefox",  # Firefox from flatpak
)

# Variables copied from the host environment into the sandbox; everything else is dropped.
DEFAULT_ENV_ALLOWLIST: tuple[str, ...] = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "SHELL",
    "VIRTUAL_ENV",
)


@dataclass(frozen=True)
class SandboxPolicy:
    mode: SandboxMode = SandboxMode.WORKSPACE_WRITE
    network: bool = False
    # The session's network namespace (tools/sandbox/netns.py), as a path that opens it:
    # commands join it instead of an empty one of their own, so they reach the session's
    # background servers and its proxy, and may open TCP/UDP sockets there (nothing in it
    # routes off the machine). Only with bubblewrap and the network not on.
    session_netns: str | None = None
    # Deny AF_UNIX sockets too (host pathname sockets such as the docker socket escape otherwise).
    strict_unix: bool = False
    timeout_s: float = 120.0
    output_limit: int = 16 * 1024
    memory_bytes: int = 4 * 1024**3
    cpu_seconds: int = 600
    file_size_bytes: int = 1024**3
    max_pids: int = 256
    extra_masked_paths: tuple[str, ...] = ()
    # Tessera's own data and config directories (the caller knows where they are): masked
    # like secrets in every mode, full-access included.
    state_paths: tuple[str, ...] = ()
    # Masks the user lifted on purpose (user config only): a built-in, state or extra mask
    # at or below one of these paths is not applied.
    unmasked_paths: tuple[str, ...] = ()
    env_allowlist: tuple[str, ...] = DEFAULT_ENV_ALLOWLIST
    extra_env: tuple[tuple[str, str], ...] = ()
    extra_writable: tuple[Path, ...] = field(default_factory=tuple)

    def with_(self, **changes: object) -> SandboxPolicy:
        return replace(self, **changes)  # type: ignore[arg-type]
