// Text -> typed value conversions shared by the flag, environment and TOML
// front ends, so "--heartbeat-interval 100", ETCD_HEARTBEAT_INTERVAL=100 and
// a TOML string all go through the same checks and the same wording.
//
// Each parser returns false and fills *why with a short reason that does not
// name the source ("expected true or false"); the caller adds the flag name,
// the environment variable or the TOML key and position.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace outpost::config::detail {

using Cluster = std::vector<std::pair<std::string, std::vector<Url>>>;

bool parse_bool(std::string_view s, bool* out, std::string* why);
bool parse_uint64(std::string_view s, uint64_t* out, std::string* why);
bool parse_int64(std::string_view s, int64_t* out, std::string* why);
bool parse_uint32(std::string_view s, uint32_t* out, std::string* why);
// An integer > 0.
bool parse_positive(std::string_view s, uint64_t* out, std::string* why);

// "64MiB", "100MB", "1048576", "512 KiB": bytes. K/M/G/T = powers of 1000,
// Ki/Mi/Gi/Ti = powers of 1024; a trailing "B" is optional.
bool parse_byte_size(std::string_view s, uint64_t* out, std::string* why);

// A comma-separated URL list; order kept, duplicates dropped, at least one.
bool parse_url_list(std::string_view s, std::vector<Url>* out, std::string* why);
// Appends u unless already present.
void add_unique(std::vector<Url>* urls, Url u);

// "n1=http://a:2380,n2=http://b:2380,n1=http://c:2380".
bool parse_initial_cluster(std::string_view s, Cluster* out, std::string* why);
// Adds one name=url pair (merging a repeated name), as the parser does.
void add_member_url(Cluster* cluster, const std::string& name, Url u);
// "n1=http://a:2380,n1=http://c:2380,n2=http://b:2380" (etcd's sorted form).
std::string cluster_string(const Cluster& cluster);

bool parse_cluster_state(std::string_view s, ClusterState* out, std::string* why);
bool parse_role(std::string_view s, Role* out, std::string* why);
bool parse_read_policy(std::string_view s, ReadPolicy* out, std::string* why);
bool parse_write_policy(std::string_view s, WritePolicy* out, std::string* why);
bool parse_promote_mode(std::string_view s, PromoteMode* out, std::string* why);
bool parse_logger(std::string_view s, Logger* out, std::string* why);
bool parse_log_level(std::string_view s, LogLevel* out, std::string* why);
bool parse_compaction_mode(std::string_view s, CompactionMode* out, std::string* why);
// Comma list of stderr|stdout|default|file paths, duplicates dropped.
bool parse_log_outputs(std::string_view s, std::vector<std::string>* out, std::string* why);
// Go's time.ParseDuration without a sign ("100ms", "1.5s", "1h30m", "0"), in nanoseconds.
bool parse_go_duration(std::string_view s, int64_t* ns, std::string* why);
// Checks a retention value against its mode (see Config::auto_compaction_retention).
bool check_compaction_retention(CompactionMode mode, std::string_view s, std::string* why);

// --cipher-suites: a comma list of Go cipher suite names, each one Outpost
// can map to OpenSSL ("unexpected TLS cipher suite \"X\"" otherwise).
bool parse_cipher_suites(std::string_view s, std::vector<std::string>* out, std::string* why);
// --tls-min-version: "TLS1.2" | "TLS1.3".
bool parse_tls_version(std::string_view s, TlsVersion* out, std::string* why);

std::string quote(std::string_view s);  // Go's %q for plain text: "a\"b"

}  // namespace outpost::config::detail
