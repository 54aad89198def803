#include "core/mvcc/key_index.h"

namespace outpost::mvcc {

void KeyHistory::put(Revision rev) {
  if (gens_.empty()) gens_.emplace_back();
  Generation& g = gens_.back();
  if (g.revs.empty()) g.created = rev;
  g.revs.push_back(rev);
  ++g.ver;
  modified_ = rev;
}

bool KeyHistory::tombstone(Revision rev) {
  if (!live()) return false;
  put(rev);
  gens_.emplace_back();
  return true;
}

void KeyHistory::restore(Revision created, Revision modified, int64_t version) {
  modified_ = modified;
  Generation g;
  g.created = created;
  g.ver = version;
  g.revs.push_back(modified);
  gens_.push_back(std::move(g));
}

const Generation* KeyHistory::find_generation(int64_t rev) const {
  const size_t last = gens_.size() - 1;
  for (size_t i = gens_.size(); i-- > 0;) {
    const Generation& g = gens_[i];
    if (g.revs.empty()) continue;
    // A closed generation whose tombstone is at or before rev: the key was deleted then.
    if (i != last && g.revs.back().main <= rev) return nullptr;
    if (g.revs.front().main <= rev) return &g;
  }
  return nullptr;
}

std::optional<KeyAt> KeyHistory::get(int64_t at_rev) const {
  if (empty()) return std::nullopt;
  const Generation* g = find_generation(at_rev);
  if (!g) return std::nullopt;
  for (size_t n = g->revs.size(); n-- > 0;) {
    if (g->revs[n].main <= at_rev) {
      return KeyAt{g->revs[n], g->created, g->ver - int64_t(g->revs.size() - n - 1)};
    }
  }
  return std::nullopt;
}

std::vector<Revision> KeyHistory::since(int64_t rev) const {
  std::vector<Revision> out;
  if (gens_.empty()) return out;
  const Revision from{rev, 0};
  size_t gi = gens_.size() - 1;
  for (; gi > 0; --gi) {
    const Generation& g = gens_[gi];
    if (g.empty()) continue;
    if (from > g.created) break;
  }
  int64_t last = 0;
  for (; gi < gens_.size(); ++gi) {
    for (const Revision& r : gens_[gi].revs) {
      if (from > r) continue;
      if (r.main == last && !out.empty()) {
        out.back() = r;
        continue;
      }
      out.push_back(r);
      last = r.main;
    }
  }
  return out;
}

std::pair<size_t, int> KeyHistory::find_compact(int64_t at_rev, std::set<Revision>* avail) const {
  size_t gi = 0;
  // Skip generations that ended (tombstone) at or before at_rev.
  while (gi + 1 < gens_.size() && !gens_[gi].revs.empty() && gens_[gi].revs.back().main <= at_rev)
    ++gi;
  const Generation& g = gens_[gi];
  int idx = -1;
  for (size_t n = g.revs.size(); n-- > 0;) {
    if (g.revs[n].main <= at_rev) {
      avail->insert(g.revs[n]);
      idx = int(n);
      break;
    }
  }
  return {gi, idx};
}

void KeyHistory::compact(int64_t at_rev, std::set<Revision>* keep) {
  if (empty()) return;
  auto [gi, idx] = find_compact(at_rev, keep);
  Generation& g = gens_[gi];
  if (!g.empty()) {
    if (idx != -1) g.revs.erase(g.revs.begin(), g.revs.begin() + idx);
    // A generation left holding only its tombstone is gone entirely.
    if (g.revs.size() == 1 && gi != gens_.size() - 1) {
      keep->erase(g.revs[0]);
      ++gi;
    }
  }
  gens_.erase(gens_.begin(), gens_.begin() + long(gi));
}

void KeyHistory::keep(int64_t at_rev, std::set<Revision>* keep) const {
  if (empty()) return;
  auto [gi, idx] = find_compact(at_rev, keep);
  const Generation& g = gens_[gi];
  if (!g.empty() && idx == int(g.revs.size()) - 1 && gi != gens_.size() - 1) {
    keep->erase(g.revs[size_t(idx)]);
  }
}

std::optional<KeyAt> KeyIndex::get(std::string_view key, int64_t at_rev) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return std::nullopt;
  return it->second.get(at_rev);
}

std::vector<std::pair<std::string, Revision>> KeyIndex::range(std::string_view key,
                                                              std::string_view end, int64_t at_rev,
                                                              size_t limit, size_t* total) const {
  std::vector<std::pair<std::string, Revision>> out;
  size_t n = 0;
  visit(key, end, [&](const std::string& k, const KeyHistory& h) {
    if (auto at = h.get(at_rev)) {
      ++n;
      if (limit == 0 || out.size() < limit)
        out.emplace_back(k, at->modified);
      else if (!total)
        return false;
    }
    return true;
  });
  if (total) *total = n;
  return out;
}

void KeyIndex::put(std::string_view key, Revision rev) {
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.emplace(std::string(key), KeyHistory{}).first;
  it->second.put(rev);
}

bool KeyIndex::tombstone(std::string_view key, Revision rev) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return false;
  return it->second.tombstone(rev);
}

void KeyIndex::restore(std::string_view key, Revision created, Revision modified, int64_t version) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    keys_.emplace(std::string(key), KeyHistory{}).first->second.restore(created, modified, version);
  } else {
    it->second.put(modified);
  }
}

std::set<Revision> KeyIndex::compact(int64_t at_rev) {
  std::set<Revision> keep;
  for (auto it = keys_.begin(); it != keys_.end();) {
    it->second.compact(at_rev, &keep);
    if (it->second.empty())
      it = keys_.erase(it);
    else
      ++it;
  }
  return keep;
}

std::set<Revision> KeyIndex::keep(int64_t at_rev) const {
  std::set<Revision> out;
  for (const auto& [_, h] : keys_) h.keep(at_rev, &out);
  return out;
}

}  // namespace outpost::mvcc
