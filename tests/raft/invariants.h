#pragma once
// InvariantChecker: what must hold across the steps of a Raft group, checked after every step
// (LogCabin's invariant checker, run all the time). Per node, Raft::check_invariants() covers the
// state at one instant; this adds what needs memory of earlier steps:
//  - a node's term never decreases and its commit index never decreases (while it stays up: a
//    restart goes back to what was persisted, see restarted());
//  - at most one leader per term across the whole group (election safety).
// Used by the seeded simulation and by the scenario interpreter.

#include <cstdint>
#include <map>
#include <string>

#include "core/raft/raft.h"

namespace outpost::raft::test {

class InvariantChecker {
 public:
  // Checks node `r` after a step; returns "" or what broke.
  std::string check(const Raft& r) {
    auto num = [](std::uint64_t v) { return std::to_string(v); };
    const std::string who = "node " + num(r.id()) + ": ";
    Seen& seen = seen_[r.id()];
    if (std::string err = r.check_invariants(seen.committed); !err.empty()) return who + err;
    if (r.term() < seen.term) {
      return who + "term decreased from " + num(seen.term) + " to " + num(r.term());
    }
    if (r.log().committed() < seen.committed) {
      return who + "committed decreased from " + num(seen.committed) + " to " +
             num(r.log().committed());
    }
    seen.term = r.term();
    seen.committed = r.log().committed();
    if (r.state() == StateType::kLeader) {
      auto [it, fresh] = leaders_.emplace(r.term(), r.id());
      if (it->second != r.id()) {
        return "election safety: nodes " + num(it->second) + " and " + num(r.id()) +
               " are both leader of term " + num(r.term());
      }
    }
    return {};
  }
  // A node restarted from its storage: what it had not persisted is gone, so its term and commit
  // index may be lower than before the crash. Leaders of past terms are still remembered.
  void restarted(std::uint64_t id) { seen_.erase(id); }

 private:
  struct Seen {
    std::uint64_t term = 0;
    std::uint64_t committed = 0;
  };
  std::map<std::uint64_t, Seen> seen_;
  std::map<std::uint64_t, std::uint64_t> leaders_;  // term -> leader
};

}  // namespace outpost::raft::test
