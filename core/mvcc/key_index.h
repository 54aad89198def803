#pragma once
// KeyIndex: the in-memory index from user key to the revisions that changed it, as etcd keeps it.
//
// Each key has a list of generations. A generation is one life of the key: it starts with the put
// that created it and ends with its tombstone (a delete); the next put starts a new generation at
// version 1. The last generation is the current one (empty when the key is deleted). Versions
// are counted per generation and survive compaction (ver is kept even when old revisions go).
//
// Invariants: revisions of a key only grow; every generation but the last ends with a tombstone;
// a key whose history is empty after compaction is dropped from the index.
// The index is rebuilt from the kv column family on start (Store::open).
// Not thread-safe: Store guards it.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/mvcc/revision.h"

namespace outpost::mvcc {

struct Generation {
  int64_t ver = 0;
  Revision created;
  std::vector<Revision> revs;
  bool empty() const { return revs.empty(); }
};

struct KeyAt {
  Revision modified;
  Revision created;
  int64_t version = 0;
};

class KeyHistory {
 public:
  void put(Revision rev);
  // Ends the current generation with rev; false when the key is not live.
  bool tombstone(Revision rev);
  // Rebuild from a stored record (the first one seen for the key after compaction).
  void restore(Revision created, Revision modified, int64_t version);
  // The key's state as of store revision at_rev, if it was live then.
  std::optional<KeyAt> get(int64_t at_rev) const;
  // Revisions since rev (each main revision once, its last sub), for watch catch-up.
  std::vector<Revision> since(int64_t rev) const;
  // Drops history at or below at_rev except what a read at at_rev still needs; adds the kept
  // revisions at or below at_rev to keep.
  void compact(int64_t at_rev, std::set<Revision>* keep);
  // Adds to keep what compact(at_rev) would keep, without changing anything.
  void keep(int64_t at_rev, std::set<Revision>* keep) const;
  bool empty() const { return gens_.empty() || (gens_.size() == 1 && gens_[0].empty()); }
  bool live() const { return !gens_.empty() && !gens_.back().empty(); }
  Revision modified() const { return modified_; }

 private:
  // Index of the generation holding at_rev and the index of the newest rev <= at_rev in it
  // (-1 for none); revisions <= at_rev in that generation are added to avail.
  std::pair<size_t, int> find_compact(int64_t at_rev, std::set<Revision>* avail) const;
  const Generation* find_generation(int64_t rev) const;

  Revision modified_;
  std::vector<Generation> gens_;
};

class KeyIndex {
 public:
  // Revision of key live at at_rev.
  std::optional<KeyAt> get(std::string_view key, int64_t at_rev) const;
  // (key, revision) of every key in the range live at at_rev, in key order. end follows etcd's
  // request convention: empty = just key; "\0" = every key >= key; else [key, end).
  // Stops after limit results when limit > 0; *total (if given) counts all of them.
  std::vector<std::pair<std::string, Revision>> range(std::string_view key, std::string_view end,
                                                      int64_t at_rev, size_t limit = 0,
                                                      size_t* total = nullptr) const;
  void put(std::string_view key, Revision rev);
  bool tombstone(std::string_view key, Revision rev);
  void restore(std::string_view key, Revision created, Revision modified, int64_t version);
  // Compacts every key; returns the revisions <= at_rev that must stay on disk.
  std::set<Revision> compact(int64_t at_rev);
  // What compact(at_rev) would keep, without changing anything (for HashKV).
  std::set<Revision> keep(int64_t at_rev) const;
  size_t size() const { return keys_.size(); }

  // Visits every key whose name is in the range (live or not) in key order.
  template <class Fn>
  void visit(std::string_view key, std::string_view end, Fn&& fn) const;

 private:
  std::map<std::string, KeyHistory, std::less<>> keys_;
};

template <class Fn>
void KeyIndex::visit(std::string_view key, std::string_view end, Fn&& fn) const {
  if (end.empty()) {
    auto it = keys_.find(key);
    if (it != keys_.end()) fn(it->first, it->second);
    return;
  }
  const bool to_end = end.size() == 1 && end[0] == '\0';
  for (auto it = keys_.lower_bound(key); it != keys_.end(); ++it) {
    if (!to_end && std::string_view(it->first) >= end) break;
    if (!fn(it->first, it->second)) break;
  }
}

}  // namespace outpost::mvcc
