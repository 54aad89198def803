// core/transport/frame.h: the handshake and frame decoding Transport runs on inbound bytes (and
// tests/fuzz/fuzz_peer_frames.cc fuzzes), and the state records of a snapshot stream's frames.
#include "core/transport/frame.h"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "core/storage/state_records.h"

using namespace outpost::transport;

namespace {

std::string be32(size_t n) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[size_t(i)] = char((n >> (8 * (3 - i))) & 0xff);
  return s;
}

}  // namespace

TEST_CASE("decode_handshake reads the magic, version, cluster id and sender") {
  std::string hs("OUTS\x02", 5);
  hs += std::string("\x00\x00\x00\x00\x00\x00\x12\x34", 8);
  hs += std::string("\x00\x00\x00\x00\x00\x00\x00\x07", 8);
  REQUIRE(hs.size() == kHandshakeLen);
  const Handshake h = decode_handshake(hs);
  CHECK(h.kind == ConnectionKind::kSnapshot);
  CHECK(h.version == kProtocolVersion);
  CHECK(h.cluster_id == 0x1234);
  CHECK(h.from == 7);
  hs[3] = 'X';
  CHECK(decode_handshake(hs).kind == ConnectionKind::kUnknown);
}

TEST_CASE("next_frame: whole frames, partial ones, the limit and the envelope") {
  Frame f;
  const std::string msg = be32(4) + "\x01" + "abc";
  CHECK(next_frame(std::string_view(msg).substr(0, 3), 100, false, &f) == FrameStatus::kNeedMore);
  CHECK(next_frame(std::string_view(msg).substr(0, 7), 100, false, &f) == FrameStatus::kNeedMore);
  REQUIRE(next_frame(msg + "rest", 100, false, &f) == FrameStatus::kFrame);
  CHECK(f.size == 8);
  CHECK(f.kind == MessageKind::kRaft);
  CHECK(f.payload == "abc");

  // A snapshot stream's frames have no envelope; an empty one ends the stream.
  REQUIRE(next_frame(msg, 100, true, &f) == FrameStatus::kFrame);
  CHECK(f.payload == std::string("\x01") + "abc");
  REQUIRE(next_frame(be32(0), 100, true, &f) == FrameStatus::kFrame);
  CHECK((f.size == 4 && f.payload.empty()));

  CHECK(next_frame(be32(101), 100, false, &f) == FrameStatus::kTooLarge);
  CHECK(next_frame(be32(0), 100, false, &f) == FrameStatus::kUnknownKind);
  CHECK(next_frame(be32(1) + "\x06", 100, false, &f) == FrameStatus::kUnknownKind);
  CHECK(std::string(frame_error(FrameStatus::kTooLarge)) == "frame larger than the limit");
  // The largest length prefix is refused before anything is waited for.
  CHECK(next_frame("\xff\xff\xff\xff", size_t(128) << 20, false, &f) == FrameStatus::kTooLarge);
}

TEST_CASE("for_each_state_record takes whole records only") {
  std::string chunk;
  outpost::storage::append_state_record(chunk, 0, "k1", "v1");
  outpost::storage::append_state_record(chunk, 1, "meta", "");
  int n = 0;
  CHECK(outpost::storage::for_each_state_record(
      chunk, [&](int cf, std::string_view k, std::string_view v) {
        CHECK(cf == n);
        CHECK(k == (n == 0 ? "k1" : "meta"));
        CHECK(v == (n == 0 ? "v1" : ""));
        ++n;
        return true;
      }));
  CHECK(n == 2);
  auto any = [](int, std::string_view, std::string_view) { return true; };
  CHECK_FALSE(outpost::storage::for_each_state_record(chunk.substr(0, chunk.size() - 1), any));
  // A key length past the chunk's end.
  CHECK_FALSE(outpost::storage::for_each_state_record(std::string("\x00\xff\xff\xff\xff", 5), any));
  CHECK_FALSE(outpost::storage::for_each_state_record(
      chunk, [](int cf, std::string_view, std::string_view) { return cf == 0; }));
}
