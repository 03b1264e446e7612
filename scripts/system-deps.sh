#!/bin/sh
# Installs the system programs the project uses when they are missing: Graphviz's `dot`
# (diagram export) and Chromium (the browser test). Without root and apt-get it says how.
missing=""
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages:$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing fonts-dejavu-core >/dev/null) \
        || { echo "error: apt-get could not install$missing; install them and run again" >&2; exit 1; }
else
    echo "note: missing$missing; install with: sudo apt-get install$missing (diagrams need graphviz, the browser test chromium)"
fi
