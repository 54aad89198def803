#pragma once
// SHA-1, only for deriving member and cluster ids the way etcd does (not for security).
#include <array>
#include <cstdint>
#include <string_view>

namespace outpost {

std::array<uint8_t, 20> sha1(std::string_view data);

// The first 8 bytes of the SHA-1 of data, read big-endian: etcd's id derivation.
uint64_t sha1_prefix_u64(std::string_view data);

}  // namespace outpost
