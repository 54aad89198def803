#pragma once
// The mirror's pure logic, with no I/O: mapping source keys to destination keys, grouping watch
// events by source revision, and cutting one revision into destination txns of at most
// max_txn_ops operations with the checkpoint in the last one. Mirror (mirror.h) feeds it from
// gRPC; the unit tests feed it by hand.
//
// Invariant kept here: the checkpoint Put for revision R is the last operation of the last txn of
// R, so once the destination shows checkpoint R it holds every operation of revisions <= R, and a
// revision that fits in one txn is applied all at once.

#include <cstdint>
#include <string>
#include <vector>

namespace outpost::mirror {

struct Op {
  enum Kind { kPut, kDelete };
  Kind kind = kPut;
  std::string key;  // destination key
  std::string value;
  int64_t lease = 0;         // destination lease; 0: none
  int64_t source_lease = 0;  // the source lease it stands for (leases = "mirror")
};

// One watch event as the mirror sees it (a mvccpb::Event, flattened).
struct Event {
  Op::Kind kind = Op::kPut;
  std::string key;  // source key
  std::string value;
  int64_t mod_revision = 0;
  int64_t lease = 0;  // source lease
};

// All the events of one source revision, in the order the source gave them.
struct RevisionBatch {
  int64_t revision = 0;
  std::vector<Event> events;
};

// The etcd range end that selects every key starting with `prefix` ("\0" for the empty prefix:
// with key "\0", the whole key space).
std::string prefix_range_end(const std::string& prefix);

class KeyMap {
 public:
  // dest_prefix_set: keys become dest_prefix + (key without prefix); no_dest_prefix: the same
  // with dest_prefix = "". Neither: keys unchanged.
  KeyMap(std::string prefix, std::string dest_prefix, bool dest_prefix_set, bool no_dest_prefix);
  std::string to_dest(const std::string& source_key) const;
  // The destination prefix that source keys under `prefix` land in.
  const std::string& dest_prefix() const { return dest_; }
  const std::string& source_prefix() const { return prefix_; }

 private:
  std::string prefix_;
  std::string dest_;
};

// Splits events (in order, revisions non-decreasing) into one batch per revision.
std::vector<RevisionBatch> group_by_revision(const std::vector<Event>& events);

// Destination txns for one source revision: the mapped operations plus a Put of checkpoint_key =
// decimal(revision), cut into txns of at most max_txn_ops operations, the checkpoint last.
// `lease_of` maps a source lease to a destination lease (nullptr: drop leases).
std::vector<std::vector<Op>> plan_revision(const RevisionBatch& batch, const KeyMap& map,
                                           const std::string& checkpoint_key, int64_t max_txn_ops,
                                           int64_t (*lease_of)(void*, int64_t) = nullptr,
                                           void* lease_ctx = nullptr);

// One destination txn and the source revision its checkpoint Put records (0: none; a part of a
// revision cut by max_txn_ops other than the last).
struct PlannedTxn {
  std::vector<Op> ops;
  int64_t checkpoint = 0;
};

// Destination txns for consecutive source revisions (a catch-up backlog arrives as many revisions
// in one watch response). Whole revisions are packed together while they fit in max_txn_ops
// (checkpoint included), keeping one operation per destination key, the last: a txn may not name
// a key twice, and the state after the txn is the source's at its last revision either way. A
// revision that does not fit alone is cut as plan_revision cuts it. Each txn that ends a revision
// writes that revision's checkpoint, so a destination reader sees the source as it was at some
// revision, never half of one; what it skips are intermediate values of a key that changed twice
// within one txn. coalesce = false: one revision per txn, exactly plan_revision's output.
std::vector<PlannedTxn> plan_revisions(const std::vector<RevisionBatch>& batches, const KeyMap& map,
                                       const std::string& checkpoint_key, int64_t max_txn_ops,
                                       bool coalesce, int64_t (*lease_of)(void*, int64_t) = nullptr,
                                       void* lease_ctx = nullptr);

// Cuts ops into txns of at most max_txn_ops, appending Put(checkpoint_key, revision) to the last.
std::vector<std::vector<Op>> split_with_checkpoint(std::vector<Op> ops,
                                                   const std::string& checkpoint_key,
                                                   int64_t revision, int64_t max_txn_ops);

}  // namespace outpost::mirror
