#include "core/raft/read_only.h"

namespace outpost::raft {

void ReadOnly::add_request(std::uint64_t index, const raftpb::Message& m) {
  const std::string& ctx = m.entries(0).data();
  if (pending_.count(ctx) != 0) return;
  Pending p;
  p.req = m;
  p.index = index;
  pending_.emplace(ctx, std::move(p));
  queue_.push_back(ctx);
}

const std::set<std::uint64_t>* ReadOnly::recv_ack(std::uint64_t from, const std::string& ctx) {
  auto it = pending_.find(ctx);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(from);
  return &it->second.acks;
}

std::vector<ReadOnly::Pending> ReadOnly::advance(const std::string& ctx) {
  std::vector<Pending> out;
  std::size_t n = 0;
  bool found = false;
  for (const auto& c : queue_) {
    ++n;
    if (c == ctx) {
      found = true;
      break;
    }
  }
  if (!found) return out;
  for (std::size_t i = 0; i < n; ++i) {
    auto it = pending_.find(queue_.front());
    out.push_back(std::move(it->second));
    pending_.erase(it);
    queue_.pop_front();
  }
  return out;
}

std::string ReadOnly::last_pending_request_ctx() const {
  return queue_.empty() ? std::string() : queue_.back();
}

}  // namespace outpost::raft
