#include "tests/raft/interaction.h"

#include <cinttypes>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "tests/raft/harness.h"

namespace outpost::raft::test {

namespace {

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof(b), "%" PRIx64, v);
  return b;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

// Go's %q for the bytes of an entry: printable ASCII as is, the rest escaped.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof(b), "\\x%02x", c);
      out += b;
    }
  }
  return out + "\"";
}

std::string ids(const google::protobuf::RepeatedField<std::uint64_t>& v) {
  std::string out = "[";
  for (int i = 0; i < v.size(); ++i) out += (i ? " " : "") + num(v[i]);
  return out + "]";
}

std::string describe_conf_state(const raftpb::ConfState& cs) {
  return "Voters:" + ids(cs.voters()) + " Learners:" + ids(cs.learners());
}

std::string describe_snapshot(const raftpb::Snapshot& s) {
  return "Index:" + num(s.metadata().index()) + " Term:" + num(s.metadata().term()) +
         " ConfState:" + describe_conf_state(s.metadata().conf_state());
}

std::string describe_conf_change(const raftpb::ConfChange& cc) {
  switch (cc.type()) {
    case raftpb::ConfChangeAddNode: return "v" + num(cc.node_id());
    case raftpb::ConfChangeAddLearnerNode: return "l" + num(cc.node_id());
    case raftpb::ConfChangeRemoveNode: return "r" + num(cc.node_id());
    case raftpb::ConfChangeUpdateNode: return "u" + num(cc.node_id());
    default: return "?" + num(cc.node_id());
  }
}

std::uint64_t to_u64(const std::string& s) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty()) throw std::runtime_error("not a number: " + s);
  return v;
}

LogLevel parse_level(const std::string& s, bool* none) {
  *none = false;
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn") return LogLevel::kWarning;
  if (s == "error") return LogLevel::kError;
  if (s == "none") {
    *none = true;
    return LogLevel::kError;
  }
  throw std::runtime_error("unknown log level " + s);
}

}  // namespace

std::string describe_entry(const raftpb::Entry& e) {
  std::string formatted;
  if (e.type() == raftpb::EntryConfChange) {
    raftpb::ConfChange cc;
    formatted = cc.ParseFromString(e.data()) ? describe_conf_change(cc) : "<undecodable>";
  } else {
    formatted = quote(e.data());
  }
  return num(e.term()) + "/" + num(e.index()) + " " + raftpb::EntryType_Name(e.type()) + " " +
         formatted;
}

std::string describe_message(const raftpb::Message& m) {
  std::string out = hex(m.from()) + "->" + hex(m.to()) + " " + raftpb::MessageType_Name(m.type()) +
                    " Term:" + num(m.term()) + " Log:" + num(m.log_term()) + "/" + num(m.index());
  if (m.reject()) out += " Rejected (Hint: " + num(m.reject_hint()) + ")";
  if (m.commit() != 0) out += " Commit:" + num(m.commit());
  if (m.entries_size() > 0) {
    out += " Entries:[";
    for (int i = 0; i < m.entries_size(); ++i) {
      if (i != 0) out += ", ";
      out += describe_entry(m.entries(i));
    }
    out += "]";
  }
  // Not in etcd's output: the context (a ReadIndex request's tag on heartbeats, a leader
  // transfer's mark on votes) is what those rounds are about.
  if (!m.context().empty()) out += " Context:" + quote(m.context());
  if (m.has_snapshot() && m.snapshot().metadata().index() != 0) {
    out += " Snapshot: " + describe_snapshot(m.snapshot());
  }
  return out;
}

Command Command::parse(const std::string& line) {
  Command c;
  std::istringstream in(line);
  std::string tok;
  in >> c.name;
  while (in >> tok) {
    const auto eq = tok.find('=');
    if (eq == std::string::npos) {
      c.args.push_back(tok);
      continue;
    }
    std::string key = tok.substr(0, eq), val = tok.substr(eq + 1);
    std::vector<std::string>& vals = c.kv[key];
    if (!val.empty() && val.front() == '(' && val.back() == ')') {
      val = val.substr(1, val.size() - 2);
      std::size_t start = 0;
      while (start < val.size()) {
        std::size_t comma = val.find(',', start);
        if (comma == std::string::npos) comma = val.size();
        vals.push_back(val.substr(start, comma - start));
        start = comma + 1;
      }
    } else {
      vals.push_back(val);
    }
  }
  return c;
}

void InteractionEnv::print(const std::string& line) { out_ += indent_ + line + "\n"; }

InteractionEnv::Node& InteractionEnv::node(std::uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) throw std::runtime_error("no node " + num(id));
  return it->second;
}

void InteractionEnv::report(Error e) {
  if (e != Error::kOk) print("error: " + std::string(to_string(e)));
}

std::string InteractionEnv::handle(const Command& c) {
  out_.clear();
  indent_.clear();
  auto arg = [&](std::size_t i) {
    if (i >= c.args.size()) throw std::runtime_error(c.name + ": missing argument " + num(i + 1));
    return c.args[i];
  };
  auto all_ids = [&] {
    std::vector<std::uint64_t> v;
    for (const auto& a : c.args) v.push_back(to_u64(a));
    return v;
  };
  auto key = [&](const std::string& k) {
    auto it = c.kv.find(k);
    if (it == c.kv.end() || it->second.size() != 1) {
      throw std::runtime_error(c.name + ": needs " + k + "=");
    }
    return to_u64(it->second[0]);
  };
  if (c.name == "log-level") {
    level_ = parse_level(arg(0), &silent_);
  } else if (c.name == "add-nodes") {
    add_nodes(c);
  } else if (c.name == "campaign") {
    report(node(to_u64(arg(0))).node->campaign());
  } else if (c.name == "propose") {
    report(node(to_u64(arg(0))).node->propose(arg(1)));
  } else if (c.name == "propose-conf-change") {
    const std::string ch = arg(1);
    raftpb::ConfChange cc;
    if (ch.size() < 2) throw std::runtime_error("bad conf change " + ch);
    switch (ch[0]) {
      case 'v': cc.set_type(raftpb::ConfChangeAddNode); break;
      case 'l': cc.set_type(raftpb::ConfChangeAddLearnerNode); break;
      case 'r': cc.set_type(raftpb::ConfChangeRemoveNode); break;
      default: throw std::runtime_error("bad conf change " + ch);
    }
    cc.set_node_id(to_u64(ch.substr(1)));
    report(node(to_u64(arg(0))).node->propose_conf_change(cc));
  } else if (c.name == "transfer-leader") {
    report(node(key("from")).node->transfer_leader(key("to")));
  } else if (c.name == "read-index") {
    report(node(to_u64(arg(0))).node->read_index(arg(1)));
  } else if (c.name == "tick-heartbeat" || c.name == "tick-election") {
    Node& n = node(to_u64(arg(0)));
    const int ticks = c.name == "tick-heartbeat" ? n.config.heartbeat_tick : n.config.election_tick;
    for (int i = 0; i < ticks; ++i) n.node->tick();
  } else if (c.name == "set-randomized-timeout") {
    node(to_u64(arg(0)))
        .node->raft()
        .set_randomized_election_timeout(static_cast<int>(to_u64(arg(1))));
  } else if (c.name == "process-ready") {
    for (auto id : all_ids()) process_ready(id);
  } else if (c.name == "deliver-msgs") {
    for (auto id : all_ids()) deliver_msgs(id);
  } else if (c.name == "stabilize") {
    stabilize(all_ids());
  } else if (c.name == "isolate") {
    isolated_.insert(to_u64(arg(0)));
  } else if (c.name == "heal") {
    // What was sent across the partition is lost, not delivered late.
    std::vector<raftpb::Message> kept;
    for (auto& m : messages_) {
      if (isolated_.count(m.from()) || isolated_.count(m.to())) {
        print("dropped: " + describe_message(m));
      } else {
        kept.push_back(std::move(m));
      }
    }
    messages_ = std::move(kept);
    isolated_.clear();
  } else if (c.name == "compact") {
    Node& n = node(to_u64(arg(0)));
    const std::uint64_t index = to_u64(arg(1));
    const raftpb::ConfState cs = n.node->raft().tracker().conf_state();
    report(n.storage->create_snapshot(index, &cs, "snap@" + num(index)));
    report(n.storage->compact(index));
    raft_log(n.config.id);
  } else if (c.name == "raft-log") {
    raft_log(to_u64(arg(0)));
  } else if (c.name == "raft-state") {
    raft_state();
  } else if (c.name == "status") {
    status(to_u64(arg(0)));
  } else {
    throw std::runtime_error("unknown command " + c.name);
  }
  check_invariants(c.name);
  if (out_.empty()) return "ok";
  out_.pop_back();  // the last newline
  return out_;
}

void InteractionEnv::check_invariants(const std::string& after) {
  for (auto& [id, n] : nodes_) {
    std::string err = invariants_.check(n.node->raft());
    if (!err.empty()) {
      print("INVARIANT BROKEN after " + after + ": " + err);
      if (failure_.empty()) failure_ = err;
    }
  }
}

void InteractionEnv::add_nodes(const Command& c) {
  if (c.args.size() != 1) throw std::runtime_error("add-nodes N [options]");
  const std::uint64_t n = to_u64(c.args[0]);
  std::vector<std::uint64_t> voters, learners;
  std::uint64_t index = 0;
  bool pre_vote = false, check_quorum = false, lease = false;
  std::size_t max_inflight = 256;
  int election = 10, heartbeat = 1;
  for (const auto& [k, vals] : c.kv) {
    if (k == "voters") {
      for (const auto& v : vals) voters.push_back(to_u64(v));
    } else if (k == "learners") {
      for (const auto& v : vals) learners.push_back(to_u64(v));
    } else if (k == "index") {
      index = to_u64(vals.at(0));
    } else if (k == "pre-vote") {
      pre_vote = vals.at(0) == "true";
    } else if (k == "check-quorum") {
      check_quorum = vals.at(0) == "true";
    } else if (k == "read-only") {
      lease = vals.at(0) == "lease";
    } else if (k == "election-tick") {
      election = static_cast<int>(to_u64(vals.at(0)));
    } else if (k == "heartbeat-tick") {
      heartbeat = static_cast<int>(to_u64(vals.at(0)));
    } else if (k == "max-inflight") {
      max_inflight = static_cast<std::size_t>(to_u64(vals.at(0)));
    } else {
      throw std::runtime_error("add-nodes: unknown option " + k);
    }
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t id = nodes_.size() + 1;
    Node nd;
    nd.storage = std::make_unique<MemoryStorage>();
    if (!voters.empty()) {
      const raftpb::ConfState cs = conf(voters, learners);
      if (index > 0) {
        raftpb::Snapshot snap;
        snap.mutable_metadata()->set_index(index);
        snap.mutable_metadata()->set_term(1);
        *snap.mutable_metadata()->mutable_conf_state() = cs;
        report(nd.storage->apply_snapshot(snap));
      } else {
        nd.storage = std::make_unique<MemoryStorage>(cs);
      }
    }
    Config cfg = make_config(id, nd.storage.get(), election, heartbeat);
    cfg.applied = index;
    cfg.pre_vote = pre_vote;
    cfg.check_quorum = check_quorum;
    cfg.max_inflight_msgs = max_inflight;
    if (lease) cfg.read_only_option = ReadOnlyOption::kLeaseBased;
    cfg.random = [](std::uint64_t) { return std::uint64_t{0}; };
    cfg.log_level = LogLevel::kDebug;
    cfg.logger = [this](LogLevel l, std::string_view line) {
      if (silent_ || l < level_) return;
      print(std::string(to_string(l)) + " " + std::string(line));
    };
    nd.config = cfg;
    nd.node = std::make_unique<RawNode>(cfg);
    nodes_.emplace(id, std::move(nd));
  }
}

void InteractionEnv::process_ready(std::uint64_t id) {
  Node& n = node(id);
  if (!n.node->has_ready()) {
    print("<empty Ready>");
    return;
  }
  Ready rd = n.node->ready();
  print(std::string("Ready MustSync=") + (rd.must_sync ? "true" : "false") + ":");
  if (rd.soft_state) {
    print("Lead:" + num(rd.soft_state->lead) + " State:" + to_string(rd.soft_state->state));
  }
  if (rd.hard_state) {
    const auto& hs = *rd.hard_state;
    print("HardState Term:" + num(hs.term()) + (hs.vote() != 0 ? " Vote:" + num(hs.vote()) : "") +
          " Commit:" + num(hs.commit()));
  }
  if (!rd.read_states.empty()) {
    std::string rs = "ReadStates";
    for (const auto& r : rd.read_states) {
      rs += " [Index:" + num(r.index) + " " + quote(r.request_ctx) + "]";
    }
    print(rs);
  }
  if (!rd.entries.empty()) {
    print("Entries:");
    for (const auto& e : rd.entries) print(describe_entry(e));
  }
  if (rd.snapshot) print("Snapshot " + describe_snapshot(*rd.snapshot));
  if (!rd.committed_entries.empty()) {
    print("CommittedEntries:");
    for (const auto& e : rd.committed_entries) print(describe_entry(e));
  }
  if (!rd.messages.empty()) {
    print("Messages:");
    for (const auto& m : rd.messages) print(describe_message(m));
  }
  // Persist, then send, then apply, as the server does.
  if (rd.snapshot) report(n.storage->apply_snapshot(*rd.snapshot));
  report(n.storage->append(rd.entries));
  if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
  for (auto& m : rd.messages) messages_.push_back(std::move(m));
  for (const auto& e : rd.committed_entries) {
    if (e.type() != raftpb::EntryConfChange) continue;
    raftpb::ConfChange cc;
    if (!cc.ParseFromString(e.data())) throw std::runtime_error("undecodable conf change");
    n.node->apply_conf_change(cc);
  }
  n.node->advance();
  check_invariants("process-ready " + num(id));
}

void InteractionEnv::deliver_msgs(std::uint64_t id) {
  std::vector<raftpb::Message> mine, rest;
  for (auto& m : messages_) (m.to() == id ? mine : rest).push_back(std::move(m));
  messages_ = std::move(rest);
  for (auto& m : mine) {
    if (isolated_.count(m.from()) || isolated_.count(m.to())) {
      print("dropped: " + describe_message(m));
      continue;
    }
    print(describe_message(m));
    const std::string what = describe_message(m);
    const Error e = node(id).node->step(std::move(m));
    report(e);
    check_invariants("delivering " + what);
  }
}

void InteractionEnv::stabilize(const std::vector<std::uint64_t>& only) {
  std::vector<std::uint64_t> ids = only;
  if (ids.empty()) {
    for (const auto& [id, n] : nodes_) ids.push_back(id);
  }
  for (int round = 0; round < 1000; ++round) {
    bool done = true;
    for (auto id : ids) {
      if (!node(id).node->has_ready()) continue;
      done = false;
      print("> " + num(id) + " handling Ready");
      indent_ = "  ";
      process_ready(id);
      indent_.clear();
    }
    for (auto id : ids) {
      bool any = false;
      for (const auto& m : messages_) any |= m.to() == id;
      if (!any) continue;
      done = false;
      print("> " + num(id) + " receiving messages");
      indent_ = "  ";
      deliver_msgs(id);
      indent_.clear();
    }
    if (done) return;
  }
  throw std::runtime_error("stabilize: still moving after 1000 rounds");
}

void InteractionEnv::raft_log(std::uint64_t id) {
  Node& n = node(id);
  const std::uint64_t first = n.storage->first_index(), last = n.storage->last_index();
  if (last < first) {
    print("log is empty: first index=" + num(first) + ", last index=" + num(last));
    return;
  }
  std::vector<raftpb::Entry> ents;
  report(n.storage->entries(first, last + 1, no_limit, &ents));
  for (const auto& e : ents) print(describe_entry(e));
}

void InteractionEnv::raft_state() {
  for (auto& [id, n] : nodes_) {
    const Raft& r = n.node->raft();
    const char* role = r.tracker().is_voter(id)     ? "Voter"
                       : r.tracker().is_learner(id) ? "Learner"
                                                    : "Non-Voter";
    print(num(id) + ": " + to_string(r.state()) + " (" + role + ") Term:" + num(r.term()) +
          " Lead:" + num(r.lead()));
  }
}

void InteractionEnv::status(std::uint64_t id) {
  const Raft& r = node(id).node->raft();
  if (r.state() != StateType::kLeader) {
    print(num(id) + " is " + to_string(r.state()) + ", it tracks no progress");
    return;
  }
  for (const auto& [peer, pr] : r.tracker().progress()) {
    const char* state = pr.state == ProgressState::kProbe       ? "StateProbe"
                        : pr.state == ProgressState::kReplicate ? "StateReplicate"
                                                                : "StateSnapshot";
    std::string line =
        num(peer) + ": " + state + " match=" + num(pr.match) + " next=" + num(pr.next);
    if (pr.is_learner) line += " learner";
    if (pr.is_paused()) line += " paused";
    if (pr.state == ProgressState::kSnapshot) line += " pendingSnap=" + num(pr.pending_snapshot);
    if (!pr.recent_active) line += " inactive";
    if (pr.state == ProgressState::kReplicate) line += " inflight=" + num(pr.inflights.count());
    print(line);
  }
}

}  // namespace outpost::raft::test
