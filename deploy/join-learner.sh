#!/usr/bin/env bash
# infra4 of the local cluster: a learner, brought in the way etcd's docs do it by hand. On its
# first start it waits for the voting members, asks them to add it (etcdctl member add
# --learner), then starts with --initial-cluster-state existing; later starts reuse its data dir.
set -euo pipefail
cd "$(dirname "$0")/.."
EP=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
PEER=http://127.0.0.1:42380
if [ ! -d data/infra4.etcd ]; then
  for _ in $(seq 1 150); do  # up to 30 s for the voters to elect a leader
    etcdctl --endpoints=$EP --command-timeout=1s endpoint health >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! etcdctl --endpoints=$EP member list | grep -q "$PEER"; then
    etcdctl --endpoints=$EP member add infra4 --peer-urls=$PEER --learner >/dev/null
    echo "added infra4 to the cluster as a learner"
  fi
fi
exec build/outpost --name infra4 --data-dir data/infra4.etcd \
  --listen-client-urls http://127.0.0.1:42379 --advertise-client-urls http://127.0.0.1:42379 \
  --listen-peer-urls $PEER --initial-advertise-peer-urls $PEER \
  --initial-cluster-token etcd-cluster-1 \
  --initial-cluster 'infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380,infra4=http://127.0.0.1:42380' \
  --initial-cluster-state existing --logger=zap --log-outputs=stderr
