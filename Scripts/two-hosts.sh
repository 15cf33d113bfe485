#!/usr/bin/env bash
# Two "hosts" on one machine for `make test-distributed`: network namespaces alexnet-h1 and
# alexnet-h2 joined by a veth pair (10.77.0.1 and 10.77.0.2), each with its own hostname, and
# `mpirun -np 2` across them over Open MPI's TCP transport only. mpirun runs in h1; it starts the
# remote daemon through Scripts/netns-launcher.sh (Open MPI's rsh agent), which enters h2 with
# `ip netns exec` instead of ssh. Needs root (CAP_NET_ADMIN); without it, says so and exits 77.
# Usage: Scripts/two-hosts.sh ALEXNET_BINARY DATA_FOLDER OUTPUT_DIRECTORY
set -euo pipefail
binary=$1 data=$2 output=$3
here=$(cd "$(dirname "$0")" && pwd)

teardown() {
  ip netns del alexnet-h1 2>/dev/null || true
  ip netns del alexnet-h2 2>/dev/null || true
  rm -rf /etc/netns/alexnet-h1 /etc/netns/alexnet-h2
}
if ! ip netns add alexnet-probe 2>/dev/null; then
  echo "two-hosts: cannot create network namespaces here (needs root); two-host test skipped"
  exit 77
fi
ip netns del alexnet-probe
teardown
trap teardown EXIT

for i in 1 2; do
  ip netns add alexnet-h$i
  # `ip netns exec` shows this file as /etc/hosts inside the namespace: the hosts' names.
  mkdir -p /etc/netns/alexnet-h$i
  printf '127.0.0.1 localhost\n10.77.0.1 h1\n10.77.0.2 h2\n' > /etc/netns/alexnet-h$i/hosts
done
ip link add alexnet-v1 netns alexnet-h1 type veth peer name alexnet-v2 netns alexnet-h2
for i in 1 2; do
  ip -n alexnet-h$i addr add 10.77.0.$i/24 dev alexnet-v$i
  ip -n alexnet-h$i link set alexnet-v$i up
  ip -n alexnet-h$i link set lo up
done
# The link is up when h2 answers on a port (no ping on minimal images).
ip -n alexnet-h1 route get 10.77.0.2 >/dev/null

printf 'h1 slots=1\nh2 slots=1\n' > "$output.hosts"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
timeout 300 ip netns exec alexnet-h1 unshare --uts sh -c "hostname h1 && exec mpirun -np 2 \
  --hostfile '$output.hosts' --mca plm_rsh_agent '$here/netns-launcher.sh' \
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  '$binary' train --data '$data' --validation-split 0.25 --batch-size 2 --image-size 32 \
  --epochs 1 --threads 1 --output '$output'"
