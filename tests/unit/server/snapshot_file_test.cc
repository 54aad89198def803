// Snapshot files (core/server/snapshot_file.h): written from an engine's state, read back by
// status, refused when truncated, corrupt or not ours, restored into a new data directory.

#include "core/server/snapshot_file.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>

#include "core/mvcc/store.h"
#include "core/server/cluster_record.h"
#include "core/server/membership.h"
#include "core/storage/engine.h"
#include "tests/common/temp_dir.h"

using namespace outpost;
using namespace outpost::server;

namespace {

std::string rev_key(uint64_t main, uint64_t sub) {
  return storage::encode_u64(main) + "_" + storage::encode_u64(sub);
}

using Records = std::map<std::pair<int, std::string>, std::string>;

Records all_records(const storage::Engine& e) {
  Records out;
  REQUIRE(e.scan_state([&](int cf, std::string_view k, std::string_view v) {
             out[{cf, std::string(k)}] = std::string(v);
             return true;
           }).is_ok());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// An engine holding revisions 2..11 (one big value), a compaction mark, a consistent index and
// an old cluster record.
struct Source {
  testing::TempDir dir;
  std::unique_ptr<storage::Engine> engine;
  Source() {
    auto e = storage::Engine::open(dir.path() + "/src");
    REQUIRE(e.is_ok());
    engine = std::move(e.value());
    auto b = engine->new_batch();
    for (uint64_t r = 2; r <= 11; ++r)
      b.put_kv(rev_key(r, 0), r == 5 ? std::string(3 << 20, 'x') : "value-" + std::to_string(r));
    b.put_meta(mvcc::kMetaCurrentRev, storage::encode_u64(11));
    b.put_meta(mvcc::kMetaFinishedCompact, storage::encode_u64(3));
    b.put_meta(mvcc::kMetaConsistentIndex, storage::encode_u64(42));
    b.put_meta("lease-ids", "leases");
    outpostpb::ClusterInfo old =
        initial_cluster_info({{"old", {"http://10.0.0.9:2380"}}}, "old-token", "old", {});
    b.put_meta(ClusterRecord::kMetaKey, old.SerializeAsString());
    REQUIRE(engine->write(b, true).is_ok());
  }
  StateScan scan() const {
    return [this](const auto& fn) { return engine->scan_state(fn); };
  }
};

}  // namespace

TEST_CASE("a snapshot file round-trips the state and carries etcdctl's checksum layout",
          "[snapshot]") {
  Source src;
  const std::string path = src.dir.path() + "/snap.db";
  auto h = write_snapshot_file(src.scan(), path);
  REQUIRE(h.is_ok());
  CHECK(h.value().revision == 11);
  CHECK(h.value().compact_revision == 3);
  CHECK(h.value().raft_index == 42);
  CHECK(h.value().records == 15);
  const auto size = std::filesystem::file_size(path);
  CHECK(size % 512 == kSnapshotHashBytes);  // etcdctl's hasChecksum
  CHECK(verify_snapshot_hash(path).is_ok());

  auto st = snapshot_file_status(path);
  REQUIRE(st.is_ok());
  CHECK(st.value().revision == 11);
  CHECK(st.value().total_key == 15);
  CHECK(st.value().total_size == size - kSnapshotHashBytes);

  Records read;
  REQUIRE(read_snapshot_records(path, [&](int cf, std::string_view k, std::string_view v) {
            read[{cf, std::string(k)}] = std::string(v);
            return Status::ok();
          }).is_ok());
  CHECK(read == all_records(*src.engine));
}

TEST_CASE("a truncated, corrupt or foreign snapshot file is refused", "[snapshot]") {
  Source src;
  const std::string path = src.dir.path() + "/snap.db";
  REQUIRE(write_snapshot_file(src.scan(), path).is_ok());
  const std::string good = slurp(path);

  SECTION("truncated") {
    spit(path, good.substr(0, good.size() / 2));
    auto st = snapshot_file_status(path);
    REQUIRE_FALSE(st.is_ok());
    CHECK(st.status().message().find("truncated") != std::string::npos);
    CHECK_FALSE(verify_snapshot_hash(path).is_ok());
    spit(path, good.substr(0, 20));
    CHECK(snapshot_file_status(path).status().message().find("truncated") != std::string::npos);
  }
  SECTION("a record length that wraps the file size round") {
    // record_bytes = 2^64 - 64: header + records + hash is 32 modulo 2^64, which passed the
    // truncation check; the file was then read as records to its end and refused with a read
    // error instead.
    std::string bad = good;
    bad.replace(48, 8, storage::encode_u64(~uint64_t(0) - 63));
    spit(path, bad);
    auto st = snapshot_file_status(path);
    REQUIRE_FALSE(st.is_ok());
    CHECK(st.status().message().find("truncated") != std::string::npos);
  }
  SECTION("bad magic (an etcd bolt file)") {
    std::string bad = good;
    bad.replace(0, 8, std::string(8, '\0'));
    spit(path, bad);
    auto st = snapshot_file_status(path);
    REQUIRE_FALSE(st.is_ok());
    CHECK(st.status().message().find("is not an Outpost snapshot") != std::string::npos);
  }
  SECTION("newer format version") {
    std::string bad = good;
    bad[11] = 9;
    spit(path, bad);
    CHECK(snapshot_file_status(path).status().message().find("format version 9") !=
          std::string::npos);
  }
  SECTION("a flipped byte in a record") {
    std::string bad = good;
    bad[kSnapshotHeaderBytes + 30] ^= 0x20;
    spit(path, bad);
    auto v = verify_snapshot_hash(path);
    REQUIRE_FALSE(v.is_ok());
    CHECK(v.message().find("expected sha256") != std::string::npos);
    CHECK_FALSE(snapshot_file_status(path).is_ok());  // the record CRC
  }
  SECTION("missing file") {
    CHECK(snapshot_file_status(path + ".nope").status().message() ==
          "stat " + path + ".nope: no such file or directory");
  }
}

TEST_CASE("restore makes a data directory of a new cluster holding the saved state", "[snapshot]") {
  Source src;
  const std::string path = src.dir.path() + "/snap.db";
  REQUIRE(write_snapshot_file(src.scan(), path).is_ok());
  RestoreOptions ro;
  ro.snapshot_path = path;
  ro.name = "n2";
  ro.data_dir = src.dir.path() + "/restored";
  ro.cluster_token = "new-token";
  ro.initial_cluster = {{"n1", {"http://127.0.0.1:1"}},
                        {"n2", {"http://127.0.0.1:2"}},
                        {"n3", {"http://127.0.0.1:3"}}};
  ro.advertise_peer_urls = {"http://127.0.0.1:2"};
  REQUIRE(restore_snapshot(ro).is_ok());

  auto e = storage::Engine::open(ro.data_dir);
  REQUIRE(e.is_ok());
  Records got = all_records(*e.value());
  Records want = all_records(*src.engine);
  outpostpb::ClusterInfo info;
  REQUIRE(info.ParseFromString(got[{1, std::string(ClusterRecord::kMetaKey)}]));
  const auto fresh = initial_cluster_info(ro.initial_cluster, "new-token", "n2", {});
  CHECK(info.cluster_id() == fresh.cluster_id());
  CHECK(info.local_id() == fresh.local_id());
  CHECK(info.members_size() == 3);
  // Everything else as saved; no consistent index (the new Raft log starts empty).
  got.erase({1, std::string(ClusterRecord::kMetaKey)});
  want.erase({1, std::string(ClusterRecord::kMetaKey)});
  want.erase({1, std::string(mvcc::kMetaConsistentIndex)});
  CHECK(got == want);
  e.value().reset();

  SECTION("an existing data directory is refused") {
    CHECK(restore_snapshot(ro).message() == "data-dir \"" + ro.data_dir + "\" exists");
  }
  SECTION("a name missing from --initial-cluster is refused") {
    ro.data_dir += "-2";
    ro.name = "n9";
    CHECK(restore_snapshot(ro).message().find("couldn't find local name \"n9\"") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(ro.data_dir));
  }
  SECTION("a corrupt file is refused and leaves no directory behind") {
    std::string bad = slurp(path);
    bad[kSnapshotHeaderBytes + 5] ^= 1;
    spit(path, bad);
    ro.data_dir += "-3";
    CHECK(restore_snapshot(ro).message().find("expected sha256") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(ro.data_dir));
  }
}
