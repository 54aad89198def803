#include "core/auth/permissions.h"

#include <algorithm>

namespace outpost::auth {

namespace {

std::string next_key(std::string_view k) {
  std::string s(k);
  s.push_back('\0');
  return s;
}

}  // namespace

void RangePermissions::add(const authpb::Permission& p) {
  Interval iv;
  iv.begin = p.key();
  if (p.range_end().empty())
    iv.end = next_key(p.key());
  else if (p.range_end() != std::string_view("\0", 1))
    iv.end = p.range_end();
  if (p.permtype() == authpb::Permission::READ || p.permtype() == authpb::Permission::READWRITE)
    read_.push_back(iv);
  if (p.permtype() == authpb::Permission::WRITE || p.permtype() == authpb::Permission::READWRITE)
    write_.push_back(iv);
  for (auto* v : {&read_, &write_})
    std::sort(v->begin(), v->end(),
              [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
}

bool RangePermissions::covers(const std::vector<Interval>& ivs, const Interval& want) {
  // Sweep the intervals in order of their start, extending how far from want.begin on is
  // covered without a gap.
  std::string reached = want.begin;
  for (const auto& iv : ivs) {
    if (iv.begin > reached) break;  // a gap before this interval (the rest start later still)
    if (!iv.end) return true;       // covers everything from reached on
    if (*iv.end > reached) reached = *iv.end;
    if (want.end && reached >= *want.end) return true;
  }
  return false;
}

bool RangePermissions::permitted(std::string_view key, std::string_view range_end,
                                 authpb::Permission::Type t) const {
  Interval want;
  want.begin = key;
  if (range_end.empty())
    want.end = next_key(key);
  else if (range_end != std::string_view("\0", 1))
    want.end = std::string(range_end);
  // A range that ends at or before it starts asks for nothing: etcd's interval tree then finds
  // no cover either, so it is refused like any uncovered range.
  if (want.end && *want.end <= want.begin) return false;
  return covers(t == authpb::Permission::READ ? read_ : write_, want);
}

}  // namespace outpost::auth
