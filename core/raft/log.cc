#include "core/raft/log.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/common/panic.h"

namespace outpost::raft {

namespace {
// A field of a panic line: a number is its own JSON encoding.
PanicField num(const char* name, std::uint64_t v) { return {name, std::to_string(v)}; }
}  // namespace

RaftLog::RaftLog(Storage* storage, std::uint64_t max_next_ents_size)
    : storage_(storage), max_next_ents_size_(max_next_ents_size) {
  const std::uint64_t first = storage_->first_index();
  unstable_.set_offset(storage_->last_index() + 1);
  // Everything up to the snapshot is committed and applied by definition.
  committed_ = first - 1;
  applied_ = first - 1;
}

std::optional<std::uint64_t> RaftLog::maybe_append(std::uint64_t index, std::uint64_t log_term,
                                                   std::uint64_t committed,
                                                   std::vector<raftpb::Entry>&& ents) {
  if (!match_term(index, log_term)) return std::nullopt;
  const std::uint64_t last_new = index + ents.size();
  const std::uint64_t ci = find_conflict(ents);
  if (ci != 0) {
    if (ci <= committed_) {
      OUTPOST_PANIC("entry conflicts with a committed entry", num("index", ci),
                    num("committed", committed_));
    }
    const std::size_t from = static_cast<std::size_t>(ci - (index + 1));
    ents.erase(ents.begin(), ents.begin() + static_cast<std::ptrdiff_t>(from));
    append(std::move(ents));
  }
  commit_to(std::min(committed, last_new));
  return last_new;
}

std::uint64_t RaftLog::append(std::vector<raftpb::Entry>&& ents) {
  if (ents.empty()) return last_index();
  const std::uint64_t after = ents[0].index() - 1;
  if (after < committed_) {
    OUTPOST_PANIC("append would overwrite committed entries", num("after", after),
                  num("committed", committed_));
  }
  unstable_.truncate_and_append(std::move(ents));
  return last_index();
}

std::uint64_t RaftLog::find_conflict(const std::vector<raftpb::Entry>& ents) const {
  for (const auto& e : ents) {
    if (!match_term(e.index(), e.term())) return e.index();
  }
  return 0;
}

std::vector<raftpb::Entry> RaftLog::next_entries() const {
  std::vector<raftpb::Entry> out;
  const std::uint64_t off = std::max(applied_ + 1, first_index());
  if (committed_ + 1 > off) {
    if (slice(off, committed_ + 1, max_next_ents_size_, &out) != Error::kOk) {
      OUTPOST_PANIC("cannot read committed entries", num("from", off),
                    num("committed", committed_));
    }
  }
  return out;
}

bool RaftLog::has_next_entries() const {
  const std::uint64_t off = std::max(applied_ + 1, first_index());
  return committed_ + 1 > off;
}

Error RaftLog::snapshot(raftpb::Snapshot* out) const {
  if (unstable_.snapshot()) {
    *out = *unstable_.snapshot();
    return Error::kOk;
  }
  return storage_->snapshot(out);
}

std::uint64_t RaftLog::first_index() const {
  if (auto i = unstable_.maybe_first_index()) return *i;
  return storage_->first_index();
}

std::uint64_t RaftLog::last_index() const {
  if (auto i = unstable_.maybe_last_index()) return *i;
  return storage_->last_index();
}

std::uint64_t RaftLog::last_term() const {
  std::uint64_t t = 0;
  if (term(last_index(), &t) != Error::kOk) {
    OUTPOST_PANIC("no term for the last entry", num("last_index", last_index()));
  }
  return t;
}

Error RaftLog::term(std::uint64_t i, std::uint64_t* out) const {
  *out = 0;
  // Valid range: the entry before the first one (snapshot) through the last one.
  const std::uint64_t dummy = first_index() - 1;
  if (i < dummy || i > last_index()) return Error::kOk;  // unknown: term 0
  if (auto t = unstable_.maybe_term(i)) {
    *out = *t;
    return Error::kOk;
  }
  const Error err = storage_->term(i, out);
  if (err == Error::kCompacted || err == Error::kUnavailable) {
    *out = 0;
    return err;
  }
  return err;
}

std::uint64_t RaftLog::term_or_zero(std::uint64_t i) const {
  std::uint64_t t = 0;
  if (term(i, &t) != Error::kOk) return 0;
  return t;
}

bool RaftLog::match_term(std::uint64_t i, std::uint64_t t) const {
  std::uint64_t got = 0;
  if (term(i, &got) != Error::kOk) return false;
  return got == t;
}

Error RaftLog::entries(std::uint64_t i, std::uint64_t max_size,
                       std::vector<raftpb::Entry>* out) const {
  out->clear();
  if (i > last_index()) return Error::kOk;
  return slice(i, last_index() + 1, max_size, out);
}

Error RaftLog::check_bounds(std::uint64_t lo, std::uint64_t hi) const {
  if (lo > hi) OUTPOST_PANIC("invalid slice", num("lo", lo), num("hi", hi));
  const std::uint64_t fi = first_index();
  if (lo < fi) return Error::kCompacted;
  if (hi > last_index() + 1) {
    OUTPOST_PANIC("slice out of bounds", num("hi", hi), num("last_index", last_index()));
  }
  return Error::kOk;
}

Error RaftLog::slice(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_size,
                     std::vector<raftpb::Entry>* out) const {
  out->clear();
  if (Error e = check_bounds(lo, hi); e != Error::kOk) return e;
  if (lo == hi) return Error::kOk;
  const std::uint64_t uoff = unstable_.offset();
  if (lo < uoff) {
    const Error e = storage_->entries(lo, std::min(hi, uoff), max_size, out);
    if (e == Error::kCompacted) return e;
    if (e == Error::kUnavailable) {
      OUTPOST_PANIC("entries unavailable from storage", num("lo", lo),
                    num("hi", std::min(hi, uoff)));
    }
    // Storage stopped early because of the size limit: do not look further.
    if (out->size() < std::min(hi, uoff) - lo) return Error::kOk;
  }
  if (hi > uoff) {
    unstable_.slice(std::max(lo, uoff), hi, out);
  }
  limit_size(out, max_size);
  return Error::kOk;
}

bool RaftLog::is_up_to_date(std::uint64_t lasti, std::uint64_t t) const {
  const std::uint64_t lt = last_term();
  return t > lt || (t == lt && lasti >= last_index());
}

bool RaftLog::maybe_commit(std::uint64_t max_index, std::uint64_t t) {
  if (max_index > committed_ && term_or_zero(max_index) == t) {
    commit_to(max_index);
    return true;
  }
  return false;
}

void RaftLog::commit_to(std::uint64_t to) {
  if (committed_ < to) {
    if (last_index() < to) {
      OUTPOST_PANIC("commit index beyond the last index", num("commit", to),
                    num("last_index", last_index()));
    }
    committed_ = to;
  }
}

void RaftLog::applied_to(std::uint64_t i) {
  if (i == 0) return;
  if (committed_ < i || i < applied_) {
    OUTPOST_PANIC("applied index out of range", num("applied", i), num("committed", committed_),
                  num("previously_applied", applied_));
  }
  applied_ = i;
}

void RaftLog::restore(const raftpb::Snapshot& s) {
  committed_ = s.metadata().index();
  unstable_.restore(s);
}

}  // namespace outpost::raft
