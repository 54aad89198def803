#!/usr/bin/env bash
# Writes the seed corpora (tests/fuzz/corpus/<target>/) from scratch: valid inputs of each
# kind, encoded with protoc --encode from text, plus the TOML files of deploy/. Rerun after a
# wire format changes; the fuzzers' own finds are not kept here (see README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus
rm -rf "$out"
mkdir -p "$out"/{peer_frames,snapshot_stream,toml,flags,request_validation}

enc() {  # enc PROTO MESSAGE TEXT: the binary encoding of TEXT
  printf '%s' "$3" | protoc -I proto --encode="$2" "proto/$1"
}
hexbytes() { printf "$(printf '%s' "$1" | sed 's/\(..\)/\\x\1/g')"; }
u32() { hexbytes "$(printf '%08x' "$1")"; }
u64() { hexbytes "$(printf '%016x' "$1")"; }
frame() {  # frame KIND FILE: length prefix, envelope byte (none when KIND is -), payload
  local n; n=$(stat -c %s "$2")
  if [ "$1" = - ]; then u32 "$n"; else u32 $((n + 1)); hexbytes "$(printf '%02x' "$1")"; fi
  cat "$2"
}
handshake() { printf '%s' "$1"; hexbytes 02; u64 4660; u64 2; }  # magic, v2, cluster, from
record() {  # record CF KEY VALUE: one state record
  hexbytes "$(printf '%02x' "$1")"; u32 ${#2}; printf '%s' "$2"; u32 ${#3}; printf '%s' "$3"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R='raftpb/raft.proto'
I='outpostpb/internal.proto'
enc $R raftpb.Message 'type: MsgApp to: 2 from: 1 term: 3 log_term: 3 index: 9 commit: 9
  entries { term: 3 index: 10 data: "put" } entries { type: EntryConfChange term: 3 index: 11 }' \
  >"$tmp/app"
enc $R raftpb.Message 'type: MsgHeartbeat to: 2 from: 1 term: 3 commit: 11' >"$tmp/hb"
enc $R raftpb.Message 'type: MsgVoteResp to: 1 from: 2 term: 4 reject: true reject_hint: 7' \
  >"$tmp/vote"
enc $R raftpb.Message 'type: MsgSnap to: 2 from: 1 term: 3 snapshot { metadata {
  index: 20 term: 3 conf_state { voters: 1 voters: 2 voters: 3 learners: 4 } } }' >"$tmp/snap"
enc $I outpostpb.LeaderCall 'id: 7 service: CLIENT_CALL payload: "x"' >"$tmp/call"
enc $I outpostpb.LeaderCallAnswer 'id: 7 payload: "y"' >"$tmp/answer"
enc $I outpostpb.ProposalRefused 'conf_change_id: 5 reason: LEARNER_NOT_READY' >"$tmp/refused"
enc $I outpostpb.LeaderState 'term: 3 commit_index: 11 last_index: 12 revision: 40' >"$tmp/state"
{ record 0 "$(printf 'k0000001')" 'v1'; record 1 current_rev 12345678; } >"$tmp/records"
: >"$tmp/empty"

# peer_frames: the first byte picks where the connection's bytes are split between two reads.
pf=$out/peer_frames
{ printf '\x17'; handshake OUTP; frame 1 "$tmp/app"; frame 1 "$tmp/hb"; frame 1 "$tmp/vote"; } \
  >"$pf/raft"
{ printf '\x30'; handshake OUTP; frame 2 "$tmp/call"; frame 3 "$tmp/answer"
  frame 4 "$tmp/refused"; frame 5 "$tmp/state"; } >"$pf/app-messages"
{ printf '\x05'; handshake OUTS; frame - "$tmp/snap"; frame - "$tmp/records"
  frame - "$tmp/empty"; } >"$pf/snapshot"
{ printf '\x00'; handshake OUTQ; } >"$pf/query"

# snapshot_stream: a snapshot connection's frames after the handshake.
ss=$out/snapshot_stream
{ frame - "$tmp/snap"; frame - "$tmp/records"; frame - "$tmp/records"; frame - "$tmp/empty"; } \
  >"$ss/stream"
{ frame - "$tmp/hb"; frame - "$tmp/records"; frame - "$tmp/empty"; } >"$ss/not-msgsnap"

# toml: deploy/'s files and a few from config/README.md's schema.
cp deploy/*.toml "$out/toml/"
cat >"$out/toml/security.toml" <<'TOML'
name = "m1"
data-dir = "/tmp/m1"
listen-client-urls = ["https://127.0.0.1:2379"]
advertise-client-urls = ["https://127.0.0.1:2379"]
initial-cluster = "m1=https://127.0.0.1:2380"
[client_transport_security]
cert-file = "c.pem"
key-file = "k.pem"
client-cert-auth = true
[peer_transport_security]
auto-tls = true
TOML

# flags: one argument per line; ETCD_NAME=value lines are the environment.
fl=$out/flags
printf '%s\n' --name=m1 --data-dir /tmp/m1 --listen-client-urls=http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --initial-cluster \
  m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2381 --initial-cluster-state=new \
  --heartbeat-interval=100 --election-timeout 1000 >"$fl/cluster"
printf '%s\n' -name m2 --snapshot-count=100 --quota-backend-bytes=1048576 \
  --auto-compaction-mode=revision --auto-compaction-retention=10 --enable-pprof \
  --max-txn-ops=64 --max-request-bytes=1572864 ETCD_LOG_LEVEL=debug >"$fl/tuning"
printf '%s\n' --peer-auto-tls --peer-client-cert-auth=true --cert-file=c.pem --key-file=k.pem \
  --cipher-suites TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ETCD_NAME=env >"$fl/tls"
printf '%s\0' --replica-read-policy=serializable --replica-writes forward --bogus >"$fl/nul"

# request_validation: the first byte picks the request (0 range, 1 put, 2 delete, 3 txn).
E='etcdserverpb/rpc.proto'
rv=$out/request_validation
{ printf '\x00'; enc $E etcdserverpb.RangeRequest 'key: "a" range_end: "z" limit: 10'; } \
  >"$rv/range"
{ printf '\x01'; enc $E etcdserverpb.PutRequest 'key: "a" value: "1" lease: 5 prev_kv: true'; } \
  >"$rv/put"
{ printf '\x02'; enc $E etcdserverpb.DeleteRangeRequest 'key: "a" range_end: "\000"'; } >"$rv/delete"
{ printf '\x03'; enc $E etcdserverpb.TxnRequest 'compare { key: "a" target: VALUE value: "1" }
  success { request_put { key: "b" value: "2" } } success { request_delete_range { key: "c" } }
  failure { request_range { key: "a" } } failure { request_txn {
    success { request_put { key: "b" value: "3" } } failure { request_put { key: "b" } } } }'; } \
  >"$rv/txn"
{ printf '\x07'; enc $E etcdserverpb.TxnRequest 'success { request_put { key: "b" }
  } success { request_put { key: "b" } }'; } >"$rv/txn-duplicate"
echo "seed corpora written under $out: $(du -sh "$out" | cut -f1)"
