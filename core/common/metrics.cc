#include "core/common/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace outpost::metrics {

namespace {

void atomic_add(std::atomic<double>& a, double d) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

// {a="x",b="y"} for names and values; extra (already escaped) appended last; "" when empty.
std::string label_text(const std::vector<std::string>& names,
                       const std::vector<std::string>& values, const std::string& extra = "") {
  if (names.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i) out += ',';
    out += names[i] + "=\"" + escape_label_value(values[i]) + '"';
  }
  if (!extra.empty()) out += (names.empty() ? "" : ",") + extra;
  return out + "}";
}

}  // namespace

// ---------------------------------------------------------------- values

void Gauge::add(double d) { atomic_add(v_, d); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // The first bucket whose upper bound is >= v (le: "less than or equal").
  const size_t i = size_t(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> b;
  for (int i = 0; i < count; ++i) {
    b.push_back(start);
    start *= factor;
  }
  return b;
}

// ---------------------------------------------------------------- families

namespace {
template <class T>
std::unique_ptr<T> make_child(const std::vector<double>&) {
  return std::make_unique<T>();
}
template <>
std::unique_ptr<Histogram> make_child<Histogram>(const std::vector<double>& bounds) {
  return std::make_unique<Histogram>(bounds);
}
}  // namespace

template <class T>
T& Family<T>::labels(const std::vector<std::string>& values) {
  std::lock_guard l(mu_);
  auto& child = children_[values];
  if (!child) child = make_child<T>(bounds_);
  return *child;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  std::string help;
  Type type = Type::kCounter;
  std::vector<std::string> label_names;
  std::unique_ptr<Family<Counter>> counters;
  std::unique_ptr<Family<Gauge>> gauges;
  std::unique_ptr<Family<Histogram>> histograms;
  struct Callback {
    uint64_t id;
    std::function<std::vector<Sample>()> fn;
  };
  std::vector<Callback> callbacks;  // the last one reports
};

Registry::Entry& Registry::entry(const std::string& name, const std::string& help, Type type,
                                 const std::vector<std::string>& label_names) {
  auto& e = entries_[name];
  if (!e) {
    e = std::make_unique<Entry>();
    e->help = help;
    e->type = type;
    e->label_names = label_names;
  } else if (e->type != type || e->label_names != label_names) {
    throw std::logic_error("metric " + name + " registered twice with different type or labels");
  }
  return *e;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> label_names) {
  std::lock_guard l(mu_);
  Entry& e = entry(name, help, Type::kCounter, label_names);
  if (!e.counters) e.counters.reset(new Family<Counter>(std::move(label_names), {}));
  return *e.counters;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names) {
  std::lock_guard l(mu_);
  Entry& e = entry(name, help, Type::kGauge, label_names);
  if (!e.gauges) e.gauges.reset(new Family<Gauge>(std::move(label_names), {}));
  return *e.gauges;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<double> bounds,
                                       std::vector<std::string> label_names) {
  std::lock_guard l(mu_);
  Entry& e = entry(name, help, Type::kHistogram, label_names);
  if (!e.histograms) {
    e.histograms.reset(new Family<Histogram>(std::move(label_names), std::move(bounds)));
  } else if (e.histograms->bounds_ != bounds) {
    throw std::logic_error("histogram " + name + " registered twice with different buckets");
  }
  return *e.histograms;
}

Registration Registry::callback(const std::string& name, const std::string& help, Type type,
                                std::vector<std::string> label_names,
                                std::function<std::vector<Sample>()> fn) {
  std::lock_guard l(mu_);
  Entry& e = entry(name, help, type, label_names);
  const uint64_t id = next_id_++;
  e.callbacks.push_back({id, std::move(fn)});
  return Registration(this, name, id);
}

Registration Registry::callback(const std::string& name, const std::string& help, Type type,
                                std::function<double()> fn) {
  return callback(name, help, type, {}, [fn = std::move(fn)] {
    return std::vector<Sample>{{{}, fn()}};
  });
}

void Registry::remove_callback(const std::string& name, uint64_t id) {
  std::lock_guard l(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  auto& cbs = it->second->callbacks;
  cbs.erase(std::remove_if(cbs.begin(), cbs.end(), [id](const auto& c) { return c.id == id; }),
            cbs.end());
}

Registration& Registration::operator=(Registration&& o) noexcept {
  if (this != &o) {
    reset();
    r_ = o.r_;
    name_ = std::move(o.name_);
    id_ = o.id_;
    o.r_ = nullptr;
  }
  return *this;
}

void Registration::reset() {
  if (r_) r_->remove_callback(name_, id_);
  r_ = nullptr;
}

std::string Registry::scrape() const {
  struct Item {
    std::string name;
    const Entry* e;
    std::function<std::vector<Sample>()> fn;  // set for callback families
  };
  std::vector<Item> items;
  {
    std::lock_guard l(mu_);
    for (const auto& [name, e] : entries_) {
      if (!e->callbacks.empty())
        items.push_back({name, e.get(), e->callbacks.back().fn});
      else if (e->counters || e->gauges || e->histograms)
        items.push_back({name, e.get(), nullptr});
    }
  }
  std::string out;
  out.reserve(16 * 1024);
  for (const auto& it : items) {
    const Entry& e = *it.e;
    std::string body;
    if (it.fn) {
      std::vector<Sample> samples = it.fn();
      std::sort(samples.begin(), samples.end(),
                [](const Sample& a, const Sample& b) { return a.label_values < b.label_values; });
      for (const auto& s : samples)
        body += it.name + label_text(e.label_names, s.label_values) + ' ' + format_value(s.value) +
                '\n';
    } else if (e.counters) {
      std::lock_guard l(e.counters->mu_);
      for (const auto& [values, c] : e.counters->children_)
        body += it.name + label_text(e.label_names, values) + ' ' +
                format_value(double(c->value())) + '\n';
    } else if (e.gauges) {
      std::lock_guard l(e.gauges->mu_);
      for (const auto& [values, g] : e.gauges->children_)
        body += it.name + label_text(e.label_names, values) + ' ' + format_value(g->value()) + '\n';
    } else if (e.histograms) {
      std::lock_guard l(e.histograms->mu_);
      for (const auto& [values, h] : e.histograms->children_) {
        const Histogram::Snapshot s = h->snapshot();
        const auto& bounds = h->bounds();
        for (size_t i = 0; i <= bounds.size(); ++i) {
          const std::string le =
              "le=\"" + (i < bounds.size() ? format_value(bounds[i]) : std::string("+Inf")) + '"';
          body += it.name + "_bucket" + label_text(e.label_names, values, le) + ' ' +
                  format_value(double(s.cumulative[i])) + '\n';
        }
        const std::string labels = label_text(e.label_names, values);
        body += it.name + "_sum" + labels + ' ' + format_value(s.sum) + '\n';
        body +=
            it.name + "_count" + labels + ' ' + format_value(double(s.cumulative.back())) + '\n';
      }
    }
    if (body.empty()) continue;  // a labelled family with no child yet, as Go's client
    out += "# HELP " + it.name + ' ' + escape_help(e.help) + '\n';
    out += "# TYPE " + it.name + ' ' + type_name(e.type) + '\n';
    out += body;
  }
  return out;
}

Registry::Registry() = default;
Registry::~Registry() = default;

Registry& default_registry() {
  static Registry* r = new Registry();
  return *r;
}

// ---------------------------------------------------------------- text format pieces

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  // strconv with precision -1: the shortest digits that round-trip, in exponent form when the
  // decimal exponent is below -4 or at least 6 (1e+06, 1.5e-05), else in plain form (123456).
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  const size_t epos = sci.find('e');
  const int exp = std::atoi(sci.c_str() + epos + 1);
  const std::string mant = sci.substr(0, epos);
  const int eprec = 6;
  if (exp < -4 || exp >= eprec) {
    return mant + "e" + sci.substr(epos + 1);  // to_chars writes "+06" / "-05", as Go
  }
  r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string id_label(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));
  return buf;
}

// ---------------------------------------------------------------- process metrics

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double vsize = 0;
  double rss_bytes = 0;
  double start_time = 0;  // seconds since the epoch
};

bool read_proc_stat(ProcStat* out) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  // Fields after the command (which may hold spaces and parentheses): from the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string s; rest >> s;) f.push_back(s);
  if (f.size() < 22) return false;
  const double ticks = double(sysconf(_SC_CLK_TCK));
  const double utime = std::stod(f[11]), stime = std::stod(f[12]);    // fields 14, 15
  const double starttime = std::stod(f[19]);                          // field 22, ticks after boot
  out->vsize = std::stod(f[20]);                                      // field 23, bytes
  out->rss_bytes = std::stod(f[21]) * double(sysconf(_SC_PAGESIZE));  // field 24, pages
  out->cpu_seconds = (utime + stime) / ticks;
  std::ifstream st("/proc/stat");
  for (std::string l; std::getline(st, l);) {
    if (l.rfind("btime ", 0) == 0) {
      out->start_time = std::stod(l.substr(6)) + starttime / ticks;
      break;
    }
  }
  return true;
}

double open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

double max_fds() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  return rl.rlim_cur == RLIM_INFINITY ? INFINITY : double(rl.rlim_cur);
}

}  // namespace

void register_process_metrics(Registry& r) {
  auto stat = [](double ProcStat::*field) {
    return [field] {
      ProcStat s;
      return read_proc_stat(&s) ? s.*field : 0.0;
    };
  };
  std::vector<Registration> regs;
  regs.push_back(r.callback("process_cpu_seconds_total",
                            "CPU time (user and system) this process has used, in seconds.",
                            Type::kCounter, stat(&ProcStat::cpu_seconds)));
  regs.push_back(r.callback("process_resident_memory_bytes",
                            "Bytes of memory resident for this process.", Type::kGauge,
                            stat(&ProcStat::rss_bytes)));
  regs.push_back(r.callback("process_virtual_memory_bytes",
                            "Bytes of virtual memory this process has mapped.", Type::kGauge,
                            stat(&ProcStat::vsize)));
  regs.push_back(r.callback("process_start_time_seconds",
                            "When this process started, in seconds since the Unix epoch.",
                            Type::kGauge, stat(&ProcStat::start_time)));
  regs.push_back(r.callback("process_open_fds", "File descriptors this process has open.",
                            Type::kGauge, open_fds));
  regs.push_back(r.callback("process_max_fds",
                            "The most file descriptors this process may open (RLIMIT_NOFILE).",
                            Type::kGauge, max_fds));
  // Kept for the program's life, never unregistered (the registry may be gone at exit).
  static auto* kept = new std::vector<Registration>();
  static std::mutex mu;
  std::lock_guard l(mu);
  for (auto& reg : regs) kept->push_back(std::move(reg));
}

}  // namespace outpost::metrics
