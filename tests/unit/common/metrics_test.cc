// The Prometheus text exposition, checked byte for byte.
#include "core/common/metrics.h"

#include <catch2/catch.hpp>
#include <thread>

using namespace outpost::metrics;

TEST_CASE("numbers are written as Go's FormatFloat(v, 'g', -1) writes them") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(3) == "3");
  CHECK(format_value(123456) == "123456");
  CHECK(format_value(1e6) == "1e+06");
  CHECK(format_value(1234567) == "1.234567e+06");
  CHECK(format_value(0.001) == "0.001");
  CHECK(format_value(0.0001) == "0.0001");
  CHECK(format_value(0.00001) == "1e-05");
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(8.192) == "8.192");
  CHECK(format_value(-2.5) == "-2.5");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
  CHECK(format_value(-1.0 / 0.0) == "-Inf");
  CHECK(format_value(0.0 / 0.0) == "NaN");
}

TEST_CASE(
    "label values escape backslash, double quote and newline; help escapes backslash and "
    "newline") {
  CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(escape_help("x\\y\n\"z\"") == "x\\\\y\\n\"z\"");
}

TEST_CASE("member ids are labelled as etcd prints them: lower-case hex without leading zeros") {
  CHECK(id_label(0x8e9e05c52164694dULL) == "8e9e05c52164694d");
  CHECK(id_label(0x0aULL) == "a");
}

TEST_CASE("exponential buckets are etcd's") {
  const auto b = exponential_buckets(0.001, 2, 14);
  REQUIRE(b.size() == 14);
  CHECK(b.front() == 0.001);
  CHECK(format_value(b.back()) == "8.192");
}

TEST_CASE("families are written sorted by name with HELP and TYPE, children sorted by labels") {
  Registry r;
  r.counter("b_total", "Bees.\nMany", {"To"}).labels({"z\"q"}).inc(2);
  r.counter("b_total", "Bees.\nMany", {"To"}).labels({"a"}).inc();
  r.gauge("a_gauge", "A gauge.").get().set(1.5);
  r.counter("c_unused", "Has no child yet.", {"x"});  // not written
  CHECK(r.scrape() ==
        "# HELP a_gauge A gauge.\n"
        "# TYPE a_gauge gauge\n"
        "a_gauge 1.5\n"
        "# HELP b_total Bees.\\nMany\n"
        "# TYPE b_total counter\n"
        "b_total{To=\"a\"} 1\n"
        "b_total{To=\"z\\\"q\"} 2\n");
}

TEST_CASE("a histogram has cumulative buckets ending with +Inf, then _sum and _count") {
  Registry r;
  auto& h = r.histogram("lat_seconds", "Latency.", {0.1, 0.2, 0.4}, {"op"}).labels({"put"});
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.3);
  h.observe(7);
  CHECK(r.scrape() ==
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{op=\"put\",le=\"0.1\"} 2\n"
        "lat_seconds_bucket{op=\"put\",le=\"0.2\"} 2\n"
        "lat_seconds_bucket{op=\"put\",le=\"0.4\"} 3\n"
        "lat_seconds_bucket{op=\"put\",le=\"+Inf\"} 4\n"
        "lat_seconds_sum{op=\"put\"} 7.45\n"
        "lat_seconds_count{op=\"put\"} 4\n");
  Registry u;
  u.histogram("x", "X.", {1}).get().observe(0.5);
  CHECK(u.scrape() ==
        "# HELP x X.\n# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_bucket{le=\"+Inf\"} 1\n"
        "x_sum 0.5\nx_count 1\n");
}

TEST_CASE("asking for an existing family returns it; a different type or label set is refused") {
  Registry r;
  auto& a = r.counter("n_total", "N.");
  auto& b = r.counter("n_total", "N.");
  CHECK(&a == &b);
  CHECK_THROWS(r.gauge("n_total", "N."));
  CHECK_THROWS(r.counter("n_total", "N.", {"x"}));
  r.histogram("h", "H.", {1, 2});
  CHECK_THROWS(r.histogram("h", "H.", {1, 3}));
}

TEST_CASE("callback families report at scrape time and leave with their registration") {
  Registry r;
  double v = 3;
  {
    Registration reg = r.callback("cb", "Callback.", Type::kGauge, [&v] { return v; });
    Registration labelled = r.callback("cb_labelled", "Labelled.", Type::kCounter, {"id"}, [] {
      return std::vector<Sample>{{{"b"}, 2}, {{"a"}, 1}};
    });
    v = 4;
    CHECK(r.scrape() ==
          "# HELP cb Callback.\n# TYPE cb gauge\ncb 4\n"
          "# HELP cb_labelled Labelled.\n# TYPE cb_labelled counter\n"
          "cb_labelled{id=\"a\"} 1\ncb_labelled{id=\"b\"} 2\n");
  }
  CHECK(r.scrape().empty());
}

TEST_CASE("counters and histograms lose nothing under concurrent updates") {
  Registry r;
  auto& c = r.counter("c_total", "C.").get();
  auto& h = r.histogram("h", "H.", {0.5}).get();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(1);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(c.value() == 40000);
  const auto s = h.snapshot();
  CHECK(s.cumulative.back() == 40000);
  CHECK(s.sum == 40000);
}

TEST_CASE("process metrics come from /proc/self") {
  static Registry& r = *new Registry();  // outlives the registrations
  register_process_metrics(r);
  const std::string text = r.scrape();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"})
    CHECK(text.find(std::string("# TYPE ") + name + " ") != std::string::npos);
  CHECK(text.find("process_open_fds 0\n") == std::string::npos);
  CHECK(text.find("process_resident_memory_bytes 0\n") == std::string::npos);
}
