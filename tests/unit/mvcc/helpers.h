#pragma once
// Shared helpers for the mvcc unit tests: a temporary data directory, a Store opened over a
// real storage::Engine in it (reopenable, to test restart recovery), and small builders for the
// etcd v3 requests the tests send through core/mvcc/kv_ops.h.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/mvcc/kv_ops.h"
#include "core/mvcc/store.h"
#include "core/storage/engine.h"
#include "tests/common/temp_dir.h"

namespace outpost::mvcc::testing {

namespace pb = etcdserverpb;

using outpost::testing::TempDir;

// No lease exists yet (leases arrive with the lease issue).
inline bool no_leases(int64_t) { return false; }

// A Store over an Engine in its own temporary directory.
class Db {
 public:
  Db() { open(); }
  ~Db() { close(); }

  void open() {
    auto e = storage::Engine::open(dir_.path());
    REQUIRE(e.is_ok());
    engine_ = std::move(e.value());
    auto s = Store::open(engine_.get());
    REQUIRE(s.is_ok());
    store_ = std::move(s.value());
  }
  void close() {
    store_.reset();
    engine_.reset();
  }
  // Closes the Store and the Engine and opens both again from the same directory.
  void reopen() {
    close();
    open();
  }

  Store& store() { return *store_; }
  storage::Engine& engine() { return *engine_; }
  const std::string& dir() const { return dir_.path(); }

  // ---- writes, each in its own write transaction (one log entry's worth) ----
  Status put(const pb::PutRequest& req, pb::PutResponse* resp,
             const LeaseLookup& leases = no_leases) {
    WriteTxn w(*store_);
    Status s = mvcc::put(w, req, resp, leases);
    Status e = w.end();
    REQUIRE(e.is_ok());
    return s;
  }
  // Puts key=value and returns the response header revision.
  int64_t put(const std::string& key, const std::string& value) {
    pb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    pb::PutResponse resp;
    REQUIRE(put(req, &resp).is_ok());
    return resp.header().revision();
  }
  Status del(const pb::DeleteRangeRequest& req, pb::DeleteRangeResponse* resp) {
    WriteTxn w(*store_);
    Status s = mvcc::delete_range(w, req, resp);
    REQUIRE(w.end().is_ok());
    return s;
  }
  // Deletes [key, end) and returns the number of keys deleted.
  int64_t del(const std::string& key, const std::string& end = "") {
    pb::DeleteRangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    pb::DeleteRangeResponse resp;
    REQUIRE(del(req, &resp).is_ok());
    return resp.deleted();
  }
  // A txn as the applier runs it: in a write transaction (even when it only reads).
  Status txn(const pb::TxnRequest& req, pb::TxnResponse* resp,
             const LeaseLookup& leases = no_leases) {
    WriteTxn w(*store_);
    Status s = mvcc::txn(w, &w, req, resp, leases);
    REQUIRE(w.end().is_ok());
    return s;
  }
  // A read-only txn as the API serves it: in a ReadTxn, without a write transaction.
  Status read_txn(const pb::TxnRequest& req, pb::TxnResponse* resp) {
    REQUIRE(is_txn_read_only(req));
    ReadTxn r(*store_);
    return mvcc::txn(r, nullptr, req, resp, no_leases);
  }
  Status compact(int64_t rev, pb::CompactionResponse* resp = nullptr) {
    pb::CompactionRequest req;
    req.set_revision(rev);
    pb::CompactionResponse scratch;
    WriteTxn w(*store_);
    Status s = mvcc::compaction(w, req, resp ? resp : &scratch);
    REQUIRE(w.end().is_ok());
    return s;
  }

  // ---- reads ----
  Status range(const pb::RangeRequest& req, pb::RangeResponse* resp) {
    ReadTxn r(*store_);
    return mvcc::range(r, req, resp);
  }
  pb::RangeResponse range(const std::string& key, const std::string& end = "",
                          int64_t revision = 0) {
    pb::RangeRequest req;
    req.set_key(key);
    req.set_range_end(end);
    req.set_revision(revision);
    pb::RangeResponse resp;
    Status s = range(req, &resp);
    INFO(s.message());
    REQUIRE(s.is_ok());
    return resp;
  }
  // The single key's KeyValue; fails the test when the key is missing.
  mvccpb::KeyValue get(const std::string& key, int64_t revision = 0) {
    auto resp = range(key, "", revision);
    REQUIRE(resp.kvs_size() == 1);
    return resp.kvs(0);
  }
  bool exists(const std::string& key, int64_t revision = 0) {
    return range(key, "", revision).kvs_size() == 1;
  }

 private:
  TempDir dir_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<Store> store_;
};

// ---- request builders ----
inline pb::RangeRequest range_req(const std::string& key, const std::string& end = "") {
  pb::RangeRequest r;
  r.set_key(key);
  r.set_range_end(end);
  return r;
}
inline pb::PutRequest put_req(const std::string& key, const std::string& value) {
  pb::PutRequest r;
  r.set_key(key);
  r.set_value(value);
  return r;
}
inline pb::RequestOp op_range(const std::string& key, const std::string& end = "",
                              int64_t revision = 0) {
  pb::RequestOp op;
  auto* r = op.mutable_request_range();
  r->set_key(key);
  r->set_range_end(end);
  r->set_revision(revision);
  return op;
}
inline pb::RequestOp op_put(const std::string& key, const std::string& value, int64_t lease = 0) {
  pb::RequestOp op;
  auto* r = op.mutable_request_put();
  r->set_key(key);
  r->set_value(value);
  r->set_lease(lease);
  return op;
}
inline pb::RequestOp op_del(const std::string& key, const std::string& end = "",
                            bool prev_kv = false) {
  pb::RequestOp op;
  auto* r = op.mutable_request_delete_range();
  r->set_key(key);
  r->set_range_end(end);
  r->set_prev_kv(prev_kv);
  return op;
}
inline pb::RequestOp op_txn(const pb::TxnRequest& t) {
  pb::RequestOp op;
  *op.mutable_request_txn() = t;
  return op;
}

inline pb::Compare cmp_value(const std::string& key, pb::Compare::CompareResult res,
                             const std::string& value) {
  pb::Compare c;
  c.set_key(key);
  c.set_target(pb::Compare::VALUE);
  c.set_result(res);
  c.set_value(value);
  return c;
}
inline pb::Compare cmp_int(const std::string& key, pb::Compare::CompareTarget target,
                           pb::Compare::CompareResult res, int64_t v) {
  pb::Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_result(res);
  switch (target) {
    case pb::Compare::VERSION: c.set_version(v); break;
    case pb::Compare::CREATE: c.set_create_revision(v); break;
    case pb::Compare::MOD: c.set_mod_revision(v); break;
    case pb::Compare::LEASE: c.set_lease(v); break;
    default: FAIL("cmp_int used with a non-integer target"); break;
  }
  return c;
}

// Keys of a range response, in response order.
inline std::vector<std::string> keys_of(const pb::RangeResponse& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.kvs()) out.push_back(kv.key());
  return out;
}

inline const std::string kAllEnd = std::string(1, '\0');  // range_end "\0": every key >= key

}  // namespace outpost::mvcc::testing
