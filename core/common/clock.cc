#include "core/common/clock.h"

namespace outpost {
namespace {

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

const Clock& Clock::real() {
  static const SteadyClock clock;
  return clock;
}

}  // namespace outpost
