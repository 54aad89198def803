#include "core/server/read_index.h"

#include <algorithm>

namespace outpost::server {

void ReadIndexRounds::start(raft::RawNode& node, std::vector<OnRead> reads) {
  const auto now = clock_.now();
  for (auto& fn : reads) next_.push_back(Read{std::move(fn), now});
  if (may_start()) start_round(node);
}

bool ReadIndexRounds::may_start() const {
  return in_flight_.size() < kFreeInFlight || clock_.now() - last_start_ >= gap();
}

Clock::duration ReadIndexRounds::gap() const {
  using std::chrono::milliseconds;
  if (round_trip_ == Clock::duration{}) return milliseconds(5);
  return std::clamp<Clock::duration>(round_trip_ / 4, milliseconds(1), milliseconds(50));
}

void ReadIndexRounds::poll(raft::RawNode& node) {
  if (may_start()) start_round(node);
}

std::optional<Clock::time_point> ReadIndexRounds::wake_at() const {
  if (next_.empty()) return std::nullopt;
  return last_start_ + gap();
}

void ReadIndexRounds::start_round(raft::RawNode& node) {
  if (next_.empty()) return;
  std::string ctx = std::to_string(self_) + "/" + std::to_string(++seq_);
  if (node.read_index(ctx) != raft::Error::kOk) {
    auto reads = std::move(next_);
    next_.clear();
    for (auto& r : reads) r.done(Status::of(ErrorCode::kNoLeader), 0);
    return;
  }
  rounds_started_.fetch_add(1, std::memory_order_relaxed);
  last_start_ = clock_.now();
  in_flight_[std::move(ctx)] = Round{std::move(next_), clock_.now()};
  next_.clear();
}

void ReadIndexRounds::resolve(raft::RawNode& node, const std::vector<raft::ReadState>& states) {
  for (const auto& r : states) {
    auto it = in_flight_.find(r.request_ctx);
    if (it == in_flight_.end()) continue;
    auto reads = std::move(it->second.reads);
    round_trip_ = clock_.now() - it->second.since;
    in_flight_.erase(it);
    for (auto& read : reads) read.done(Status::ok(), r.index);
  }
  if (may_start()) start_round(node);
}

void ReadIndexRounds::expire(raft::RawNode& node) {
  const auto now = clock_.now();
  std::vector<Read> again, late;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (now - it->second.since < round_timeout_) {
      ++it;
      continue;
    }
    // The round is lost; its reads that may still wait go first in the next one.
    for (auto& r : it->second.reads)
      (now - r.since < read_timeout_ ? again : late).push_back(std::move(r));
    it = in_flight_.erase(it);
  }
  if (again.empty() && late.empty()) return;
  for (auto& r : next_) (now - r.since < read_timeout_ ? again : late).push_back(std::move(r));
  next_ = std::move(again);
  for (auto& r : late) r.done(Status::of(ErrorCode::kTimeout), 0);
  if (may_start()) start_round(node);
}

void ReadIndexRounds::fail_all(const Status& s) {
  auto rounds = std::move(in_flight_);
  in_flight_.clear();
  auto next = std::move(next_);
  next_.clear();
  for (auto& [_, round] : rounds)
    for (auto& r : round.reads) r.done(s, 0);
  for (auto& r : next) r.done(s, 0);
}

}  // namespace outpost::server
