// libFuzzer target: a --config TOML file's text through the TOML front end
// (config/toml_loader.h load_toml_text, what load_toml runs on the file it read), then the
// checks load() makes on the result (config/validate.h).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "config/toml_loader.h"
#include "config/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace outpost::config;
  const std::string text(reinterpret_cast<const char*>(data), size);
  Config config;
  std::set<std::string> set_flags;
  const std::string problems = detail::load_toml_text(text, "fuzz.toml", config, &set_flags);
  if (problems.empty()) {
    (void)detail::finalize_and_validate(config, set_flags);
    (void)detail::peer_security_warnings(config);
  }
  return 0;
}
