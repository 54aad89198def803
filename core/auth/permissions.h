#pragma once
// RangePermissions: one user's merged key permissions (the union over its roles), and etcd 3.4's
// rule for whether they allow a request on a key or a range.
//
// Every permission is a half-open interval [key, end): a single key k is [k, k + "\0"); a
// range_end of "\0" (etcdctl --from-key) has no end. A request on one key is allowed when some
// interval holds the key; a request on [key, range_end) only when the union of the intervals
// covers all of it (a range_end of "\0" asks for everything from key on).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authpb/auth.pb.h"

namespace outpost::auth {

class RangePermissions {
 public:
  // Adds a permission as authpb stores it (empty range_end: the single key).
  void add(const authpb::Permission& p);
  // Whether a request of type t (READ or WRITE) on key, range_end (empty: key alone; "\0": from
  // key on) is allowed.
  bool permitted(std::string_view key, std::string_view range_end,
                 authpb::Permission::Type t) const;

 private:
  struct Interval {
    std::string begin;
    std::optional<std::string> end;  // nullopt: no end
  };
  static bool covers(const std::vector<Interval>& ivs, const Interval& want);
  std::vector<Interval> read_, write_;
};

}  // namespace outpost::auth
