#pragma once
// `outpost snapshot status|restore ...` (snapshot_cmd.cc).
#include <string>
#include <vector>

namespace outpost {

// args: what follows "snapshot" on the command line. Returns the exit code.
int snapshot_command(const std::vector<std::string>& args);

}  // namespace outpost
