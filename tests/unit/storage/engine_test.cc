// storage::Engine: the raft log (append, read, last index, compaction), raft meta, state-machine
// batches, kv scans with bounds, and that everything survives closing and reopening.

#include "core/storage/engine.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "helpers.h"

using namespace outpost;
using namespace outpost::storage;
using outpost::storage::testing::TempDir;

namespace {

std::unique_ptr<Engine> open_engine(const std::string& dir) {
  auto e = Engine::open(dir);
  INFO(e.status().message());
  REQUIRE(e.is_ok());
  return std::move(e.value());
}

std::vector<LogRecord> records(uint64_t from, uint64_t to) {
  std::vector<LogRecord> out;
  for (uint64_t i = from; i <= to; ++i) out.push_back({i, "entry-" + std::to_string(i)});
  return out;
}

std::vector<uint64_t> indexes(const std::vector<LogRecord>& recs) {
  std::vector<uint64_t> out;
  for (const auto& r : recs) out.push_back(r.index);
  return out;
}

using Idx = std::vector<uint64_t>;

std::vector<std::string> scan(const Engine& e, std::string_view from, std::string_view to) {
  std::vector<std::string> keys;
  REQUIRE(e.scan_kv(from, to, [&](std::string_view k, std::string_view) {
             keys.emplace_back(k);
             return true;
           }).is_ok());
  return keys;
}

}  // namespace

TEST_CASE("encode_u64 is big-endian so encoded numbers sort numerically", "[engine]") {
  CHECK(encode_u64(1) == std::string("\0\0\0\0\0\0\0\x01", 8));
  CHECK(encode_u64(0x0102030405060708ULL) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  CHECK(decode_u64(encode_u64(0xfedcba9876543210ULL)) == 0xfedcba9876543210ULL);
  CHECK(encode_u64(255) < encode_u64(256));
  CHECK(encode_u64(0xff00000000000000ULL) > encode_u64(1));
}

TEST_CASE("an empty log has last index 0 and reads nothing", "[engine][log]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  CHECK(e->last_log_index() == 0);
  std::vector<LogRecord> out;
  REQUIRE(e->read_log(1, 10, &out).is_ok());
  CHECK(out.empty());
  std::string v;
  CHECK_FALSE(e->get_raft_meta("term", &v));
}

TEST_CASE("append_log then read_log returns the records from..to (exclusive) in order",
          "[engine][log]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  REQUIRE(e->append_log(records(1, 5)).is_ok());
  REQUIRE(e->append_log(records(6, 300)).is_ok());  // crosses a byte boundary of the index
  CHECK(e->last_log_index() == 300);
  std::vector<LogRecord> out;
  REQUIRE(e->read_log(2, 5, &out).is_ok());
  CHECK(indexes(out) == Idx{2, 3, 4});
  CHECK(out[0].data == "entry-2");
  out.clear();
  REQUIRE(e->read_log(250, 1000, &out).is_ok());
  CHECK(out.size() == 51);
  CHECK(out.back().index == 300);
  CHECK(out.back().data == "entry-300");
  out.clear();
  REQUIRE(e->read_log(5, 5, &out).is_ok());
  CHECK(out.empty());
}

TEST_CASE("append_log overwrites records at the same index", "[engine][log]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  REQUIRE(e->append_log(records(1, 3)).is_ok());
  REQUIRE(e->append_log({{2, "replaced"}}).is_ok());
  std::vector<LogRecord> out;
  REQUIRE(e->read_log(1, 4, &out).is_ok());
  REQUIRE(out.size() == 3);
  CHECK(out[1].data == "replaced");
}

TEST_CASE("read_log stops at the first gap", "[engine][log]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  REQUIRE(e->append_log({{1, "a"}, {2, "b"}, {4, "d"}}).is_ok());
  std::vector<LogRecord> out;
  REQUIRE(e->read_log(1, 10, &out).is_ok());
  CHECK(indexes(out) == Idx{1, 2});
  out.clear();
  REQUIRE(e->read_log(3, 10, &out).is_ok());  // starts on the gap itself
  CHECK(out.empty());
  CHECK(e->last_log_index() == 4);
}

TEST_CASE("compact_log removes every record below the given index", "[engine][log]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  REQUIRE(e->append_log(records(1, 10)).is_ok());
  REQUIRE(e->compact_log(6).is_ok());
  std::vector<LogRecord> out;
  REQUIRE(e->read_log(1, 11, &out).is_ok());
  CHECK(out.empty());  // index 1 is gone: the read stops at once
  REQUIRE(e->read_log(5, 11, &out).is_ok());
  CHECK(out.empty());
  REQUIRE(e->read_log(6, 11, &out).is_ok());
  CHECK(indexes(out) == Idx{6, 7, 8, 9, 10});
  CHECK(e->last_log_index() == 10);
  REQUIRE(e->compact_log(11).is_ok());
  CHECK(e->last_log_index() == 0);
}

TEST_CASE("append_log stores raft meta with the records", "[engine][log]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  REQUIRE(e->append_log(records(1, 2), {{"term", encode_u64(3)}, {"vote", "x"}}).is_ok());
  std::string v;
  REQUIRE(e->get_raft_meta("term", &v));
  CHECK(decode_u64(v) == 3);
  REQUIRE(e->append_log({}, {{"term", encode_u64(4)}}).is_ok());
  REQUIRE(e->get_raft_meta("term", &v));
  CHECK(decode_u64(v) == 4);
  CHECK(e->get_raft_meta("vote", &v));
  CHECK(v == "x");
}

TEST_CASE("a batch commits kv and meta changes together and only on write", "[engine][batch]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  auto b = e->new_batch();
  b.put_kv("k1", "v1");
  b.put_kv("k2", "v2");
  b.put_meta("m", "1");
  CHECK(b.count() == 3);
  std::string v;
  CHECK_FALSE(e->get_kv("k1", &v));  // nothing visible before write()
  REQUIRE(e->write(b).is_ok());
  REQUIRE(e->get_kv("k1", &v));
  CHECK(v == "v1");
  REQUIRE(e->get_meta("m", &v));
  CHECK(v == "1");
  CHECK_FALSE(e->get_meta("k1", &v));  // kv and meta are separate column families
  CHECK_FALSE(e->get_kv("m", &v));

  auto d = e->new_batch();
  d.delete_kv("k1");
  d.delete_meta("m");
  d.put_kv("k2", "v2b");
  REQUIRE(e->write(d, /*sync=*/true).is_ok());
  CHECK_FALSE(e->get_kv("k1", &v));
  CHECK_FALSE(e->get_meta("m", &v));
  REQUIRE(e->get_kv("k2", &v));
  CHECK(v == "v2b");
}

TEST_CASE("a cleared batch writes nothing", "[engine][batch]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  auto b = e->new_batch();
  b.put_kv("k", "v");
  b.clear();
  CHECK(b.count() == 0);
  REQUIRE(e->write(b).is_ok());
  std::string v;
  CHECK_FALSE(e->get_kv("k", &v));
  // The log and the kv column do not share keys either.
  REQUIRE(e->append_log({{1, "entry"}}).is_ok());
  CHECK(scan(*e, "", "").empty());
}

TEST_CASE("scan_kv visits from..to (exclusive) in key order, empty to means to the end",
          "[engine][scan]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  auto b = e->new_batch();
  for (const char* k : {"a", "b", "ba", "c", "d"}) b.put_kv(k, std::string("v") + k);
  b.put_kv(std::string("\xff", 1), "high");
  REQUIRE(e->write(b).is_ok());
  using V = std::vector<std::string>;
  CHECK(scan(*e, "b", "d") == V{"b", "ba", "c"});
  CHECK(scan(*e, "", "") == V{"a", "b", "ba", "c", "d", std::string("\xff", 1)});
  CHECK(scan(*e, "c", "") == V{"c", "d", std::string("\xff", 1)});
  CHECK(scan(*e, "bb", "c").empty());

  // Returning false stops the scan.
  std::vector<std::string> seen;
  REQUIRE(e->scan_kv("", "", [&](std::string_view k, std::string_view v) {
             seen.emplace_back(k);
             CHECK(v == "v" + std::string(k));
             return seen.size() < 2;
           }).is_ok());
  CHECK(seen == V{"a", "b"});
}

TEST_CASE("everything survives closing and reopening the engine", "[engine][reopen]") {
  TempDir dir;
  {
    auto e = open_engine(dir.path());
    REQUIRE(e->append_log(records(1, 20), {{"term", encode_u64(7)}}).is_ok());
    REQUIRE(e->compact_log(5).is_ok());
    auto b = e->new_batch();
    b.put_kv("k", "v");
    b.put_meta("consistent_index", encode_u64(12));
    REQUIRE(e->write(b).is_ok());  // without sync: a clean close still keeps it
    CHECK(e->dir() == dir.path());
  }
  auto e = open_engine(dir.path());
  CHECK(e->last_log_index() == 20);
  std::vector<LogRecord> out;
  REQUIRE(e->read_log(5, 21, &out).is_ok());
  CHECK(out.size() == 16);
  out.clear();
  REQUIRE(e->read_log(4, 21, &out).is_ok());
  CHECK(out.empty());
  std::string v;
  REQUIRE(e->get_raft_meta("term", &v));
  CHECK(decode_u64(v) == 7);
  REQUIRE(e->get_kv("k", &v));
  CHECK(v == "v");
  REQUIRE(e->get_meta("consistent_index", &v));
  CHECK(decode_u64(v) == 12);
  CHECK(e->approximate_size() >= 0);
}

TEST_CASE("opening a directory that cannot be created fails with an I/O error", "[engine]") {
  TempDir dir;
  const std::string file = dir.path() + "/a-file";
  {
    FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  auto e = Engine::open(file + "/sub");
  REQUIRE_FALSE(e.is_ok());
  CHECK(e.status().code() == ErrorCode::kIo);
}

TEST_CASE("a second engine on a data dir that is already open is refused", "[engine]") {
  TempDir dir;
  auto first = open_engine(dir.path());
  auto second = Engine::open(dir.path());
  REQUIRE_FALSE(second.is_ok());
  CHECK(second.status().code() == ErrorCode::kIo);
}

TEST_CASE(
    "write_raft drops the log from truncate_from on before appending (a conflicting "
    "suffix is replaced)",
    "[engine][log]") {
  TempDir dir;
  auto e = open_engine(dir.path());
  REQUIRE(e->append_log(records(1, 10)).is_ok());
  Engine::RaftWrite w;
  w.truncate_from = 6;
  w.records = {{6, "new-6"}, {7, "new-7"}};
  w.meta = {{"hardstate", "hs"}};
  REQUIRE(e->write_raft(w).is_ok());
  CHECK(e->last_log_index() == 7);  // 8..10 are gone, not left behind the new suffix
  std::vector<LogRecord> out;
  REQUIRE(e->read_log(1, 20, &out).is_ok());
  REQUIRE(out.size() == 7);
  CHECK(out[4].data == "entry-5");
  CHECK(out[5].data == "new-6");
  std::string v;
  REQUIRE(e->get_raft_meta("hardstate", &v));
  CHECK(v == "hs");

  // Without records, truncation alone shortens the log.
  Engine::RaftWrite cut;
  cut.truncate_from = 3;
  cut.sync = false;
  REQUIRE(e->write_raft(cut).is_ok());
  CHECK(e->last_log_index() == 2);
}

namespace {
std::string kv_of(const Engine& e, std::string_view key) {
  std::string v;
  return e.get_kv(key, &v) ? v : "<none>";
}
}  // namespace

TEST_CASE("a crash inside install_staged: the store opens on the old or on the new state, whole",
          "[engine][staging][crash]") {
  namespace fs = std::filesystem;
  TempDir dir;
  const std::string db = dir.path() + "/member/db";
  {
    auto e = open_engine(dir.path());
    auto b = e->new_batch();
    b.put_kv("k", "old");
    REQUIRE(e->write(b, /*sync=*/true).is_ok());
  }
  SECTION("between the renames (db moved to db.old, db.incoming not yet in place): the old one") {
    fs::rename(db, db + ".old");
    fs::create_directories(db + ".incoming");
    auto e = open_engine(dir.path());
    CHECK(kv_of(*e, "k") == "old");
    CHECK_FALSE(fs::exists(db + ".old"));
    CHECK_FALSE(fs::exists(db + ".incoming"));
  }
  SECTION("after the swap, before db.old was removed: the new one, db.old dropped") {
    {
      auto e = open_engine(dir.path());
      auto staged = e->begin_staging();
      REQUIRE(staged.is_ok());
      REQUIRE(staged.value()->put(0, "k", "new").is_ok());
      REQUIRE(e->install_staged(std::move(staged.value())).is_ok());
    }
    fs::create_directories(db + ".old");  // what the crash left behind
    auto e = open_engine(dir.path());
    CHECK(kv_of(*e, "k") == "new");
    CHECK_FALSE(fs::exists(db + ".old"));
  }
}
