#pragma once
// Metrics: counters, gauges and histograms, and their Prometheus text exposition (format 0.0.4),
// for GET /metrics. Written by hand: no Prometheus client library for C++ is packaged in Debian.
//
// Design. A Registry holds metric families by name; default_registry() is the process's, as
// Prometheus' Go client has one, so each layer declares the metrics it measures where it measures
// them (core/storage times its fsyncs, core/transport counts peer bytes, core/server counts leader
// changes) and nothing above has to carry them. Asking for a family that exists returns it (the
// type, help, labels and buckets must agree), so several objects of one kind share it.
//
// Hot path. Counter::inc, Gauge::set and Histogram::observe are a few relaxed atomic operations,
// no lock and no allocation. A labelled child (family.labels({"8e9e05c52164694d"})) is looked up
// under the family's mutex: callers look it up once (per peer, per gRPC method) and keep the
// reference, which stays valid for the registry's life.
//
// Values known elsewhere (the applied index, the database size, /proc/self) are not copied into
// gauges on every change: a callback family computes them at scrape time; its Registration removes
// the callback when the object it reads goes away.
//
// Exposition, as Go's client writes it: families sorted by name, each with "# HELP" and "# TYPE";
// children sorted by label values; a histogram as cumulative NAME_bucket{le="..."} lines ending
// with le="+Inf", then NAME_sum and NAME_count; numbers as Go's strconv.FormatFloat(v, 'g', -1)
// (1e+06, 0.0001, +Inf, NaN). Label values escape \ " and newline; help text \ and newline.
//
// Thread-safe throughout.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace outpost::metrics {

enum class Type { kCounter, kGauge, kHistogram };

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  // bounds: the buckets' upper bounds, increasing; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (= count)
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bound, then +Inf; not cumulative
  std::atomic<double> sum_{0};
};

// Prometheus' ExponentialBuckets(start, factor, count).
std::vector<double> exponential_buckets(double start, double factor, int count);

// A family of one metric: one child per combination of label values (one child, no labels, when
// the family has no label names).
template <class T>
class Family {
 public:
  // The child for these label values (one per label name, in order), made on first use.
  T& labels(const std::vector<std::string>& values);
  // The unlabelled family's only child.
  T& get() { return labels({}); }

 private:
  friend class Registry;
  Family(std::vector<std::string> label_names, std::vector<double> bounds)
      : label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

// One sample a callback family reports at scrape time.
struct Sample {
  std::vector<std::string> label_values;
  double value = 0;
};

class Registry;

// Keeps a callback family registered; removes it when destroyed (or reset()).
class Registration {
 public:
  Registration() = default;
  Registration(Registry* r, std::string name, uint64_t id)
      : r_(r), name_(std::move(name)), id_(id) {}
  Registration(Registration&& o) noexcept { *this = std::move(o); }
  Registration& operator=(Registration&& o) noexcept;
  ~Registration() { reset(); }
  void reset();

 private:
  Registry* r_ = nullptr;
  std::string name_;
  uint64_t id_ = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds,
                               std::vector<std::string> label_names = {});

  // A counter or gauge family whose samples fn computes at each scrape (fn runs on the scraping
  // thread, under no lock of the registry's). A later registration under the same name replaces
  // the earlier one until it is removed.
  [[nodiscard]] Registration callback(const std::string& name, const std::string& help, Type type,
                                      std::vector<std::string> label_names,
                                      std::function<std::vector<Sample>()> fn);
  // The same for one unlabelled value.
  [[nodiscard]] Registration callback(const std::string& name, const std::string& help, Type type,
                                      std::function<double()> fn);

  // The text exposition of every family.
  std::string scrape() const;

 private:
  friend class Registration;
  struct Entry;
  Entry& entry(const std::string& name, const std::string& help, Type type,
               const std::vector<std::string>& label_names);
  void remove_callback(const std::string& name, uint64_t id);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  uint64_t next_id_ = 1;
};

// The process's registry (never destroyed).
Registry& default_registry();

// Registers process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and process_start_time_seconds
// (from /proc/self, as Go's process collector reads them) in r, for the program's life: call it
// once, for a registry that is never destroyed.
void register_process_metrics(Registry& r);

// The text format's pieces, exposed for tests.
std::string format_value(double v);  // Go's FormatFloat(v, 'g', -1, 64)
std::string escape_label_value(const std::string& v);
std::string escape_help(const std::string& v);
// etcd's member id text (types.ID.String()): lower-case hex, no leading zeros.
std::string id_label(uint64_t id);

}  // namespace outpost::metrics
