#include "mirror/plan.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace outpost::mirror {

std::string prefix_range_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = end.back();
    if (static_cast<unsigned char>(last) < 0xff) {
      last = static_cast<char>(static_cast<unsigned char>(last) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

KeyMap::KeyMap(std::string prefix, std::string dest_prefix, bool dest_prefix_set,
               bool no_dest_prefix)
    : prefix_(std::move(prefix)) {
  if (no_dest_prefix) {
    dest_.clear();
  } else if (dest_prefix_set) {
    dest_ = std::move(dest_prefix);
  } else {
    dest_ = prefix_;
  }
}

std::string KeyMap::to_dest(const std::string& source_key) const {
  if (source_key.compare(0, prefix_.size(), prefix_) != 0) return source_key;
  return dest_ + source_key.substr(prefix_.size());
}

std::vector<RevisionBatch> group_by_revision(const std::vector<Event>& events) {
  std::vector<RevisionBatch> out;
  for (const auto& e : events) {
    if (out.empty() || out.back().revision != e.mod_revision) {
      out.push_back(RevisionBatch{e.mod_revision, {}});
    }
    out.back().events.push_back(e);
  }
  return out;
}

std::vector<std::vector<Op>> split_with_checkpoint(std::vector<Op> ops,
                                                   const std::string& checkpoint_key,
                                                   int64_t revision, int64_t max_txn_ops) {
  ops.push_back(Op{Op::kPut, checkpoint_key, std::to_string(revision), 0});
  const size_t per = static_cast<size_t>(std::max<int64_t>(1, max_txn_ops));
  std::vector<std::vector<Op>> txns;
  for (size_t i = 0; i < ops.size(); i += per) {
    const size_t end = std::min(ops.size(), i + per);
    txns.emplace_back(std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(i)),
                      std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return txns;
}

namespace {

// The destination operation for one source event (its lease mapped, or dropped).
Op op_for(const Event& e, const KeyMap& map, int64_t (*lease_of)(void*, int64_t), void* lease_ctx) {
  Op op;
  op.kind = e.kind;
  op.key = map.to_dest(e.key);
  if (e.kind == Op::kPut) {
    op.value = e.value;
    if (lease_of && e.lease != 0) {
      op.lease = lease_of(lease_ctx, e.lease);
      op.source_lease = e.lease;
    }
  }
  return op;
}

}  // namespace

std::vector<std::vector<Op>> plan_revision(const RevisionBatch& batch, const KeyMap& map,
                                           const std::string& checkpoint_key, int64_t max_txn_ops,
                                           int64_t (*lease_of)(void*, int64_t), void* lease_ctx) {
  std::vector<Op> ops;
  ops.reserve(batch.events.size() + 1);
  for (const auto& e : batch.events) {
    ops.push_back(op_for(e, map, lease_of, lease_ctx));
  }
  return split_with_checkpoint(std::move(ops), checkpoint_key, batch.revision, max_txn_ops);
}

std::vector<PlannedTxn> plan_revisions(const std::vector<RevisionBatch>& batches, const KeyMap& map,
                                       const std::string& checkpoint_key, int64_t max_txn_ops,
                                       bool coalesce, int64_t (*lease_of)(void*, int64_t),
                                       void* lease_ctx) {
  const size_t limit = static_cast<size_t>(std::max<int64_t>(2, max_txn_ops));
  std::vector<PlannedTxn> out;
  std::vector<Op> group;                       // whole revisions packed so far, one op per key
  std::vector<int64_t> op_rev;                 // the source revision of each op in group
  std::unordered_map<std::string, size_t> at;  // destination key -> its op in group
  int64_t group_rev = 0;
  auto flush = [&] {
    if (group_rev == 0) return;
    // In source order (a key rewritten later moves to its last revision), so the destination's
    // events for the txn come in the order the source made them.
    std::vector<size_t> order(group.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return op_rev[a] < op_rev[b]; });
    std::vector<Op> ops;
    ops.reserve(group.size() + 1);
    for (size_t i : order) ops.push_back(std::move(group[i]));
    ops.push_back(Op{Op::kPut, checkpoint_key, std::to_string(group_rev), 0});
    out.push_back(PlannedTxn{std::move(ops), group_rev});
    group.clear();
    op_rev.clear();
    at.clear();
    group_rev = 0;
  };
  for (const auto& batch : batches) {
    std::unordered_set<std::string> keys;
    for (const auto& e : batch.events) keys.insert(map.to_dest(e.key));
    if (!coalesce || keys.size() + 1 > limit) {
      flush();
      auto txns = plan_revision(batch, map, checkpoint_key, max_txn_ops, lease_of, lease_ctx);
      for (size_t i = 0; i < txns.size(); ++i) {
        out.push_back(PlannedTxn{std::move(txns[i]), i + 1 == txns.size() ? batch.revision : 0});
      }
      continue;
    }
    size_t added = 0;
    for (const auto& k : keys) added += at.count(k) ? 0 : 1;
    if (group.size() + added + 1 > limit) flush();
    for (const auto& e : batch.events) {
      Op op = op_for(e, map, lease_of, lease_ctx);
      auto it = at.find(op.key);
      if (it != at.end()) {
        group[it->second] = std::move(op);
        op_rev[it->second] = batch.revision;
      } else {
        at.emplace(op.key, group.size());
        group.push_back(std::move(op));
        op_rev.push_back(batch.revision);
      }
    }
    group_rev = batch.revision;
  }
  flush();
  return out;
}

}  // namespace outpost::mirror
