#pragma once
// ReadIndex bookkeeping on the leader.
//
// A linearizable read asks the leader for "an index such that applying up to it makes the read
// see every write acknowledged before the read began". The leader records its commit index for
// the request's context, broadcasts a heartbeat carrying that context, and the index becomes
// usable once a quorum of voters answered the heartbeat (proving nobody else was leader with a
// newer commit at that moment). Requests are confirmed in FIFO order: a quorum answer for a later
// request confirms every earlier one too.
//
// Invariant: queue_ and pending_ hold the same contexts; indexes in queue order are
// non-decreasing (the commit index never goes back).

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raftpb/raft.pb.h"

namespace outpost::raft {

enum class ReadOnlyOption {
  kSafe,       // confirm leadership with a heartbeat round per batch of requests (default)
  kLeaseBased  // trust the leader lease kept by check-quorum; faster, relies on bounded clock drift
};

// A confirmed read: once the application applied up to `index`, it may serve the read tagged
// with `request_ctx`.
struct ReadState {
  std::uint64_t index = 0;
  std::string request_ctx;
};

class ReadOnly {
 public:
  struct Pending {
    raftpb::Message req;  // the original MsgReadIndex (from a follower, or local)
    std::uint64_t index = 0;
    std::set<std::uint64_t> acks;
  };

  explicit ReadOnly(ReadOnlyOption option) : option_(option) {}

  ReadOnlyOption option() const { return option_; }
  // Records a request (ignored if the context is already pending).
  void add_request(std::uint64_t index, const raftpb::Message& m);
  // A heartbeat answer carrying `ctx` from `from`; returns the acks for that context (nullptr if
  // it is unknown).
  const std::set<std::uint64_t>* recv_ack(std::uint64_t from, const std::string& ctx);
  // Pops every request up to and including `ctx` (now confirmed), oldest first.
  std::vector<Pending> advance(const std::string& ctx);
  // Context of the newest pending request ("" if none).
  std::string last_pending_request_ctx() const;
  std::size_t pending_count() const { return queue_.size(); }
  void clear() {
    queue_.clear();
    pending_.clear();
  }

 private:
  ReadOnlyOption option_;
  std::map<std::string, Pending> pending_;
  std::deque<std::string> queue_;
};

}  // namespace outpost::raft
