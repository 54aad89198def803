// Url: an endpoint written the way etcd writes them on its command line,
// "http://127.0.0.1:2379" or "https://[::1]:2380".
//
// Outpost only serves and dials plain host:port endpoints, so a Url is
// exactly scheme + host + port: no user info, no path, no query. parse_url()
// enforces that shape with etcd's wording for the common mistakes
// (missing port, a path, a scheme other than http/https).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outpost::config {

struct Url {
  std::string scheme;  // "http" or "https", always lower case
  std::string host;    // a name or an IP literal; IPv6 without brackets
  uint16_t port = 0;

  // "scheme://host:port", with brackets around an IPv6 host.
  std::string str() const;

  bool operator==(const Url&) const = default;
};

// Parses "http(s)://host:port" (surrounding spaces are ignored, as etcd
// does). On failure returns nullopt and, if error is non-null, stores a
// one-line reason that quotes the input, e.g.
//   URL address does not have the form "host:port": http://127.0.0.1
std::optional<Url> parse_url(std::string_view s, std::string* error);

// True when host is an IPv4/IPv6 literal or "localhost": the only hosts a
// listen URL may name (etcd binds to addresses, it does not resolve names).
bool is_bindable_host(std::string_view host);

}  // namespace outpost::config
