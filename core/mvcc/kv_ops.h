#pragma once
// The etcd v3 KV operations (Range, Put, DeleteRange, Txn, Compaction) on a Store, with etcd
// 3.4's exact semantics: which revision a response reports, how sort / limit / min-max filters
// combine, how txn compares treat missing keys, what is checked before a txn changes anything.
//
// Requests are assumed valid (core/api validates them: empty keys, op counts, duplicate keys).
// Writes run inside a WriteTxn the caller opened (the applier, one per log entry); reads run in
// any KvReader.

#include <functional>

#include "core/mvcc/store.h"
#include "etcdserverpb/rpc.pb.h"

namespace outpost::mvcc {

// Whether a lease id exists; puts naming an unknown lease fail with kLeaseNotFound.
using LeaseLookup = std::function<bool(int64_t)>;

Status range(KvReader& r, const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp);

Status put(WriteTxn& w, const etcdserverpb::PutRequest& req, etcdserverpb::PutResponse* resp,
           const LeaseLookup& leases);

Status delete_range(WriteTxn& w, const etcdserverpb::DeleteRangeRequest& req,
                    etcdserverpb::DeleteRangeResponse* resp);

// A txn evaluated and executed in r. w is the same transaction as r when the txn writes
// (is_txn_read_only() false) and null when it only reads.
Status txn(KvReader& r, WriteTxn* w, const etcdserverpb::TxnRequest& req,
           etcdserverpb::TxnResponse* resp, const LeaseLookup& leases);

Status compaction(WriteTxn& w, const etcdserverpb::CompactionRequest& req,
                  etcdserverpb::CompactionResponse* resp);

bool is_txn_read_only(const etcdserverpb::TxnRequest& req);

}  // namespace outpost::mvcc
