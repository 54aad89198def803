#pragma once
// Majority arithmetic over the voters of one configuration.
//
// Only voters are ever passed in: learners are excluded by construction (ProgressTracker hands
// over its voter set, never its learner set), so no quorum decision (election, commit, read
// index, check-quorum) can count a learner.

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

namespace outpost::raft {

enum class VoteResult { kPending, kLost, kWon };

// Smallest number of voters that forms a majority of n.
constexpr std::size_t majority_of(std::size_t n) { return n / 2 + 1; }

// The highest index acknowledged by a majority of voters: sort the acked indexes descending and
// take the one at position majority-1. `acked(id)` returns the match index of a voter (0 if
// unknown). An empty configuration commits everything (UINT64_MAX), as there is no one to ask.
template <typename Acked>
std::uint64_t majority_committed_index(const std::set<std::uint64_t>& voters, Acked&& acked) {
  if (voters.empty()) return UINT64_MAX;
  // Small clusters are the norm: a fixed stack buffer keeps this allocation-free.
  std::uint64_t stack_buf[16] = {};
  std::vector<std::uint64_t> heap_buf;
  std::uint64_t* idx = stack_buf;
  if (voters.size() > 16) {
    heap_buf.resize(voters.size());
    idx = heap_buf.data();
  }
  std::size_t n = 0;
  for (std::uint64_t id : voters) idx[n++] = acked(id);
  std::sort(idx, idx + n, [](std::uint64_t a, std::uint64_t b) { return a > b; });
  return idx[majority_of(n) - 1];
}

// Tallies votes: won once a majority granted, lost once a majority can no longer be reached.
inline VoteResult majority_vote_result(const std::set<std::uint64_t>& voters,
                                       const std::map<std::uint64_t, bool>& votes) {
  if (voters.empty()) return VoteResult::kWon;
  std::size_t granted = 0, rejected = 0, missing = 0;
  for (std::uint64_t id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++granted;
    } else {
      ++rejected;
    }
  }
  const std::size_t q = majority_of(voters.size());
  if (granted >= q) return VoteResult::kWon;
  if (granted + missing >= q) return VoteResult::kPending;
  return VoteResult::kLost;
}

}  // namespace outpost::raft
