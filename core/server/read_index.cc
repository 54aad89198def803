#include "core/server/read_index.h"

namespace outpost::server {

void ReadIndexRounds::start(raft::RawNode& node, std::vector<OnRead> reads) {
  const auto now = clock_.now();
  for (auto& fn : reads) next_.push_back(Read{std::move(fn), now});
  if (in_flight_.empty()) start_round(node);
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
  in_flight_ = std::move(ctx);
  in_flight_since_ = clock_.now();
  round_ = std::move(next_);
  next_.clear();
}

void ReadIndexRounds::resolve(raft::RawNode& node, const std::vector<raft::ReadState>& states) {
  for (const auto& r : states) {
    if (in_flight_.empty() || r.request_ctx != in_flight_) continue;
    in_flight_.clear();
    auto reads = std::move(round_);
    round_.clear();
    for (auto& read : reads) read.done(Status::ok(), r.index);
  }
  if (in_flight_.empty()) start_round(node);
}

void ReadIndexRounds::expire(raft::RawNode& node) {
  if (in_flight_.empty()) return;
  const auto now = clock_.now();
  if (now - in_flight_since_ < round_timeout_) return;
  // The round is lost; its reads that may still wait go first in the next one.
  in_flight_.clear();
  std::vector<Read> again, late;
  for (auto* reads : {&round_, &next_})
    for (auto& r : *reads) (now - r.since < read_timeout_ ? again : late).push_back(std::move(r));
  round_.clear();
  next_ = std::move(again);
  for (auto& r : late) r.done(Status::of(ErrorCode::kTimeout), 0);
  start_round(node);
}

void ReadIndexRounds::fail_all(const Status& s) {
  in_flight_.clear();
  auto a = std::move(round_), b = std::move(next_);
  round_.clear();
  next_.clear();
  for (auto* reads : {&a, &b})
    for (auto& r : *reads) r.done(s, 0);
}

}  // namespace outpost::server
