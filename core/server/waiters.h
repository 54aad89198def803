#pragma once
// Waiters: the client calls waiting for their proposal to come back applied, by request id.
//
// A proposer registers a waiter (add) and puts the id it gets into the request or conf change
// it proposes; the applier takes the waiter of each entry it applies (take) and answers it;
// a proposal Raft drops fails its waiter (fail); the housekeeping thread answers the waiters
// whose request timeout passed (expire). stop() answers everything left with kStopped and
// refuses later adds. Ids are unique per process run: the clock's value at construction,
// shifted, plus a counter, so a restarted member does not confuse an old entry's id with a new
// call. Thread-safe; done functions always run without the registry's lock held.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "core/common/clock.h"
#include "core/common/status.h"

namespace google::protobuf {
class Message;
}

namespace outpost::server {

class Waiters {
 public:
  using Done = std::function<void(const Status&)>;
  struct Waiter {
    google::protobuf::Message* resp = nullptr;  // the call's response, filled by the applier
    Done done;                                  // empty: nobody waits for this entry
    Clock::time_point start;
  };

  // timeout: how long a waiter may wait before expire() answers it.
  Waiters(const Clock& clock, Clock::duration timeout);

  // Registers a waiter and returns its request id; 0 (done untouched) once stopped.
  uint64_t add(google::protobuf::Message* resp, Done& done);
  // The waiter of request id, removed; an empty one if there is none (another member's entry).
  Waiter take(uint64_t id);
  // Answers the waiter of id with s, if it still waits.
  void fail(uint64_t id, const Status& s);
  // Answers every waiter whose timeout passed with why(its start).
  void expire(const std::function<Status(Clock::time_point start)>& why);
  // Answers everything left with kStopped; add() refuses from now on.
  void stop();

 private:
  struct Entry {
    Waiter w;
    Clock::time_point deadline;
  };
  const Clock& clock_;
  const Clock::duration timeout_;
  std::mutex mu_;
  bool stopped_ = false;
  uint64_t next_id_;
  std::map<uint64_t, Entry> waiting_;
};

}  // namespace outpost::server
