// The rules of the Raft log (RaftLog: a persisted prefix plus an unstable tail), as etcd raft's
// log_test.go states them, one test per rule, with our own cases.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace outpost::raft;
using namespace outpost::raft::test;

namespace {

std::vector<raftpb::Entry> ents(std::vector<std::pair<std::uint64_t, std::uint64_t>> index_term) {
  std::vector<raftpb::Entry> out;
  for (auto [i, t] : index_term) out.push_back(entry(i, t));
  return out;
}

// A log whose storage already holds 1/1, 2/2, 3/3 (persisted, nothing unstable).
struct Log123 {
  MemoryStorage storage;
  std::unique_ptr<RaftLog> log;
  Log123() {
    REQUIRE(storage.append(ents({{1, 1}, {2, 2}, {3, 3}})) == Error::kOk);
    log = std::make_unique<RaftLog>(&storage, no_limit);
  }
};

}  // namespace

TEST_CASE("Log: find_conflict names the first new or conflicting index, 0 if all match",
          "[raft][log]") {
  Log123 l;
  CHECK(l.log->find_conflict({}) == 0);
  CHECK(l.log->find_conflict(ents({{1, 1}, {2, 2}, {3, 3}})) == 0);
  CHECK(l.log->find_conflict(ents({{2, 2}, {3, 3}})) == 0);
  CHECK(l.log->find_conflict(ents({{3, 3}})) == 0);
  // new entries after the matching ones
  CHECK(l.log->find_conflict(ents({{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 4}})) == 4);
  CHECK(l.log->find_conflict(ents({{3, 3}, {4, 4}})) == 4);
  CHECK(l.log->find_conflict(ents({{4, 4}, {5, 4}})) == 4);
  // conflicting terms
  CHECK(l.log->find_conflict(ents({{1, 4}, {2, 4}})) == 1);
  CHECK(l.log->find_conflict(ents({{2, 1}, {3, 4}, {4, 4}})) == 2);
  CHECK(l.log->find_conflict(ents({{3, 1}, {4, 2}, {5, 4}, {6, 4}})) == 3);
}

TEST_CASE("Log: §5.4.1 up to date means a later last term, or the same term and no shorter",
          "[raft][log]") {
  Log123 l;                           // last entry 3/3
  CHECK(l.log->is_up_to_date(2, 4));  // higher term, shorter log
  CHECK(l.log->is_up_to_date(3, 4));
  CHECK(l.log->is_up_to_date(4, 4));
  CHECK_FALSE(l.log->is_up_to_date(2, 2));  // lower term, whatever the length
  CHECK_FALSE(l.log->is_up_to_date(4, 2));
  CHECK_FALSE(l.log->is_up_to_date(2, 3));  // same term, shorter
  CHECK(l.log->is_up_to_date(3, 3));        // same term, same length
  CHECK(l.log->is_up_to_date(4, 3));        // same term, longer
}

TEST_CASE("Log: maybe_append accepts only after a matching entry and commits at most the new last",
          "[raft][log]") {
  SECTION("term mismatch at the previous index: rejected, nothing changes") {
    Log123 l;
    l.log->commit_to(1);
    CHECK_FALSE(l.log->maybe_append(3, 2, 3, ents({{4, 4}})).has_value());
    CHECK(l.log->last_index() == 3);
    CHECK(l.log->committed() == 1);
  }
  SECTION("previous index beyond the log: rejected") {
    Log123 l;
    CHECK_FALSE(l.log->maybe_append(4, 3, 3, ents({{5, 4}})).has_value());
  }
  SECTION("match with no entries: the commit index follows the leader up to our last") {
    Log123 l;
    REQUIRE(l.log->maybe_append(3, 3, 3, {}) == std::optional<std::uint64_t>(3));
    CHECK(l.log->committed() == 3);
  }
  SECTION("the leader's commit beyond the new entries is capped at the last new index") {
    Log123 l;
    REQUIRE(l.log->maybe_append(2, 2, 10, {}) == std::optional<std::uint64_t>(2));
    CHECK(l.log->committed() == 2);  // entry 3 is not known to match the leader's
  }
  SECTION("new entries extend the log") {
    Log123 l;
    REQUIRE(l.log->maybe_append(3, 3, 4, ents({{4, 4}, {5, 4}})) ==
            std::optional<std::uint64_t>(5));
    CHECK(l.log->last_index() == 5);
    CHECK(l.log->committed() == 4);
  }
  SECTION("a conflicting uncommitted suffix is replaced") {
    Log123 l;
    REQUIRE(l.log->maybe_append(1, 1, 2, ents({{2, 4}})) == std::optional<std::uint64_t>(2));
    CHECK(l.log->last_index() == 2);
    CHECK(l.log->term_or_zero(2) == 4);
    CHECK(l.log->committed() == 2);
  }
  SECTION("entries already held are not rewritten") {
    Log123 l;
    REQUIRE(l.log->maybe_append(1, 1, 0, ents({{2, 2}, {3, 3}})) ==
            std::optional<std::uint64_t>(3));
    CHECK(l.log->unstable_entries().empty());
  }
}

TEST_CASE("Log: the commit index never moves backwards", "[raft][log]") {
  Log123 l;
  l.log->commit_to(3);
  l.log->commit_to(2);
  CHECK(l.log->committed() == 3);
  CHECK_FALSE(l.log->maybe_commit(2, 2));
  CHECK(l.log->committed() == 3);
}

TEST_CASE("Log: a leader commits only an index whose entry has its own term", "[raft][log]") {
  Log123 l;
  CHECK_FALSE(l.log->maybe_commit(2, 3));  // entry 2 is of term 2
  CHECK(l.log->committed() == 0);
  CHECK(l.log->maybe_commit(3, 3));
  CHECK(l.log->committed() == 3);
}

TEST_CASE("Log: the applied entries are the committed ones not yet applied", "[raft][log]") {
  Log123 l;
  CHECK_FALSE(l.log->has_next_entries());
  l.log->commit_to(2);
  REQUIRE(l.log->has_next_entries());
  auto next = l.log->next_entries();
  REQUIRE(next.size() == 2);
  CHECK(next[0].index() == 1);
  CHECK(next[1].index() == 2);
  l.log->applied_to(1);
  next = l.log->next_entries();
  REQUIRE(next.size() == 1);
  CHECK(next[0].index() == 2);
  l.log->applied_to(2);
  CHECK_FALSE(l.log->has_next_entries());
}

TEST_CASE("Log: appended entries stay unstable until persisted, and a stale stable_to is ignored",
          "[raft][log]") {
  Log123 l;
  l.log->append(ents({{4, 3}, {5, 3}}));
  REQUIRE(l.log->unstable_entries().size() == 2);
  l.log->stable_to(4, 2);  // wrong term: the entry was replaced meanwhile, keep it unstable
  CHECK(l.log->unstable_entries().size() == 2);
  l.log->stable_to(4, 3);
  REQUIRE(l.log->unstable_entries().size() == 1);
  CHECK(l.log->unstable_entries()[0].index() == 5);
  // a conflicting append replaces the unstable suffix
  l.log->append(ents({{5, 4}, {6, 4}}));
  CHECK(l.log->last_index() == 6);
  CHECK(l.log->term_or_zero(5) == 4);
}

TEST_CASE("Log: terms and slices outside the retained range are unknown or compacted",
          "[raft][log]") {
  MemoryStorage s;
  std::vector<raftpb::Entry> es;
  for (std::uint64_t i = 1; i <= 10; ++i) es.push_back(entry(i, i));
  REQUIRE(s.append(es) == Error::kOk);
  REQUIRE(s.create_snapshot(5, nullptr, "") == Error::kOk);
  REQUIRE(s.compact(5) == Error::kOk);
  RaftLog log(&s, no_limit);
  CHECK(log.first_index() == 6);
  CHECK(log.term_or_zero(4) == 0);  // compacted
  CHECK(log.term_or_zero(5) == 5);  // the snapshot's own index keeps its term
  CHECK(log.term_or_zero(10) == 10);
  CHECK(log.term_or_zero(11) == 0);  // beyond the end
  std::vector<raftpb::Entry> out;
  CHECK(log.slice(4, 7, no_limit, &out) == Error::kCompacted);
  out.clear();
  REQUIRE(log.slice(6, 11, no_limit, &out) == Error::kOk);
  CHECK(out.size() == 5);
  out.clear();
  REQUIRE(log.slice(6, 11, entry_size(entry(6, 6)), &out) == Error::kOk);
  CHECK(out.size() == 1);  // size-limited, never empty
}

TEST_CASE("Log: restoring a snapshot replaces the log and commits its index", "[raft][log]") {
  Log123 l;
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(100);
  snap.mutable_metadata()->set_term(1000);
  l.log->restore(snap);
  CHECK(l.log->committed() == 100);
  CHECK(l.log->last_index() == 100);
  CHECK(l.log->first_index() == 101);
  CHECK(l.log->term_or_zero(100) == 1000);
  CHECK(l.log->unstable_entries().empty());
  CHECK(l.log->has_pending_snapshot());
  // entries after the snapshot append normally
  l.log->append(ents({{101, 1000}}));
  CHECK(l.log->last_index() == 101);
}
