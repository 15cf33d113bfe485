#!/usr/bin/env bash
# Open MPI's rsh agent for Scripts/two-hosts.sh: called as `netns-launcher.sh HOST COMMAND...`
# in place of ssh; runs the command in the host's network namespace under its hostname.
set -euo pipefail
host=$1
shift
exec ip netns exec "alexnet-$host" unshare --uts sh -c "hostname $host && exec sh -c \"\$0\"" "$*"
