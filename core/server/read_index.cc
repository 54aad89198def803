#include "core/server/read_index.h"

namespace outpost::server {

void ReadIndexRounds::start(raft::RawNode& node, std::vector<OnRead> reads) {
  if (reads.empty()) return;
  std::string ctx = std::to_string(self_) + "/" + std::to_string(++seq_);
  if (node.read_index(ctx) != raft::Error::kOk) {
    for (auto& fn : reads) fn(Status::of(ErrorCode::kNoLeader), 0);
    return;
  }
  rounds_[std::move(ctx)] = Round{std::move(reads), clock_.now()};
}

void ReadIndexRounds::resolve(const std::vector<raft::ReadState>& states) {
  for (const auto& r : states) {
    auto it = rounds_.find(r.request_ctx);
    if (it == rounds_.end()) continue;
    auto waiters = std::move(it->second.waiters);
    rounds_.erase(it);
    for (auto& fn : waiters) fn(Status::ok(), r.index);
  }
}

void ReadIndexRounds::expire() {
  const auto now = clock_.now();
  for (auto it = rounds_.begin(); it != rounds_.end();) {
    if (now - it->second.since < timeout_) {
      ++it;
      continue;
    }
    auto waiters = std::move(it->second.waiters);
    it = rounds_.erase(it);
    for (auto& fn : waiters) fn(Status::of(ErrorCode::kTimeout), 0);
  }
}

void ReadIndexRounds::fail_all(const Status& s) {
  auto left = std::move(rounds_);
  rounds_.clear();
  for (auto& [_, r] : left)
    for (auto& fn : r.waiters) fn(s, 0);
}

}  // namespace outpost::server
