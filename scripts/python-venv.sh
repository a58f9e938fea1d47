# Sourced by the scripts that install a PyPI tool into its own virtual
# environment under .build/tools/ (schemathesis.sh, gradient.sh, openbao.sh,
# oidc-provider-mock.sh), so the system's Python packages are left alone.
#
# fresh_venv DIR: installs Debian's python3-venv if Python cannot make a
# virtual environment yet, then makes an empty one at DIR (removing whatever
# a half-finished install left there). Progress goes to stderr: each script
# prints only the path of its program on stdout.
fresh_venv() {
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$1"
  python3 -m venv "$1" >&2
}
