#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace outpost::bench {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string secs(double v, bool precise) { return fmt(precise ? "%g" : "%4.4f", v) + " secs"; }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "0";
  return fmt("%.9g", v);
}

}  // namespace

Stats compute_stats(RunResult& r) {
  Stats s;
  auto& lats = r.latencies;
  std::sort(lats.begin(), lats.end());
  s.completed = lats.size();
  for (const auto& [msg, n] : r.errors) s.errors += n;
  if (r.seconds > 0) s.rps = double(s.completed) / r.seconds;
  if (lats.empty()) return s;
  double sum = 0;
  for (double v : lats) sum += v;
  s.average = sum / double(lats.size());
  double var = 0;
  for (double v : lats) var += (v - s.average) * (v - s.average);
  s.stddev = std::sqrt(var / double(lats.size()));
  s.fastest = lats.front();
  s.slowest = lats.back();
  // etcd's rule: the p-th percentile is the first sample whose rank i satisfies i*100/n >= p.
  size_t j = 0;
  const double n = double(lats.size());
  for (size_t i = 0; i < lats.size() && j < kPercentileCount; ++i) {
    while (j < kPercentileCount && double(i) * 100.0 / n >= kPercentiles[j])
      s.percentiles[j++] = lats[i];
  }
  // With few samples the top percentiles have no rank of their own (etcd leaves them out): the
  // slowest sample is the honest answer.
  for (; j < kPercentileCount; ++j) s.percentiles[j] = s.slowest;
  return s;
}

std::string format_report(const RunResult& r, const Stats& s, bool precise) {
  std::string out;
  if (!r.note.empty()) out += r.note + "\n";
  if (!r.latencies.empty()) {
    out += "\nSummary:\n";
    out += "  Total:\t" + secs(r.seconds, precise) + ".\n";
    out += "  Slowest:\t" + secs(s.slowest, precise) + ".\n";
    out += "  Fastest:\t" + secs(s.fastest, precise) + ".\n";
    out += "  Average:\t" + secs(s.average, precise) + ".\n";
    out += "  Stddev:\t" + secs(s.stddev, precise) + ".\n";
    out += "  Requests/sec:\t" + fmt(precise ? "%g" : "%4.4f", s.rps) + "\n";

    // Histogram: 11 bucket upper bounds from fastest to slowest, bars normalised to 40 chars.
    constexpr int kBuckets = 10;
    double bounds[kBuckets + 1];
    uint64_t counts[kBuckets + 1] = {};
    double width = (s.slowest - s.fastest) / kBuckets;
    for (int i = 0; i < kBuckets; ++i) bounds[i] = s.fastest + width * i;
    bounds[kBuckets] = s.slowest;
    size_t b = 0;
    for (double v : r.latencies) {
      while (b < kBuckets && v > bounds[b]) ++b;
      ++counts[b];
    }
    uint64_t max = *std::max_element(counts, counts + kBuckets + 1);
    out += "\nResponse time histogram:\n";
    for (int i = 0; i <= kBuckets; ++i) {
      size_t bar = max ? size_t(counts[i] * 40 / max) : 0;
      std::string bars;
      for (size_t k = 0; k < bar; ++k) bars += "\u220e";
      out += "  " + fmt(precise ? "%g" : "%4.4f", bounds[i]) + " [" + std::to_string(counts[i]) +
             "]\t|" + bars + "\n";
    }
    out += "\nLatency distribution:\n";
    for (size_t i = 0; i < kPercentileCount; ++i) {
      if (s.percentiles[i] > 0)
        out +=
            "  " + fmt("%g", kPercentiles[i]) + "% in " + secs(s.percentiles[i], precise) + ".\n";
    }
  } else {
    out += "\nNo request succeeded.\n";
  }
  if (!r.errors.empty()) {
    out += "\nError distribution:\n";
    for (const auto& [msg, n] : r.errors) out += "  [" + std::to_string(n) + "]\t" + msg + "\n";
  }
  if (r.timed_out) out += "\nStopped by --timeout before all requests were done.\n";
  return out;
}

std::string format_json(const RunResult& r, const Stats& s) {
  std::string o = "{";
  auto field = [&o](const std::string& k, const std::string& v) {
    if (o.size() > 1) o += ", ";
    o += json_string(k) + ": " + v;
  };
  field("op", json_string(r.op));
  field("clients", std::to_string(r.clients));
  field("conns", std::to_string(r.conns));
  field("total", std::to_string(r.total));
  field("completed", std::to_string(s.completed));
  field("errors", std::to_string(s.errors));
  field("timed_out", r.timed_out ? "true" : "false");
  field("seconds", json_number(r.seconds));
  field("rps", json_number(s.rps));
  field("average", json_number(s.average));
  field("stddev", json_number(s.stddev));
  field("fastest", json_number(s.fastest));
  field("slowest", json_number(s.slowest));
  static const char* names[] = {"p10", "p25", "p50", "p75", "p90", "p95", "p99", "p999"};
  for (size_t i = 0; i < kPercentileCount; ++i) field(names[i], json_number(s.percentiles[i]));
  std::string errs = "{";
  for (const auto& [msg, n] : r.errors) {
    if (errs.size() > 1) errs += ", ";
    errs += json_string(msg) + ": " + std::to_string(n);
  }
  field("error_distribution", errs + "}");
  return o + "}";
}

}  // namespace outpost::bench
