#pragma once
// Shared helpers for the storage and member unit tests.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/common/temp_dir.h"

namespace outpost::storage::testing {

using outpost::testing::TempDir;

}  // namespace outpost::storage::testing
