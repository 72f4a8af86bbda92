#!/usr/bin/env bash
# Installs the Debian packages lightlyfs builds, tests and demos with, when
# they are missing.  A fresh machine needs nothing else.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libfuse3-dev fuse3
      libcurl4-openssl-dev libcjson-dev curl python3
      bats bats-assert bats-support unzip
      clang libclang-rt-14-dev valgrind
      clang-format shellcheck nodejs jq rsync libglib2.0-bin libgdk-pixbuf2.0-bin file
      libsystemd-dev man-db util-linux systemd
      python3-matplotlib python3-hypothesis
      debhelper dpkg-dev lintian
      nginx-light openssl iproute2)
[ "$#" -gt 0 ] && pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
