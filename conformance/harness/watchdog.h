// The watchdog on operations that may block. Operations use it through one wrapper:
//   Returned r = under_watchdog([&] { return ::recv(fd, buf, n, flags); });
//   o.str("result", util::outcome(r));
// An operation still running after op_timeout_ms() is "blocked", but only once nothing else in
// the scenario could still end it: while another of its processes is running or waiting for a CPU
// (a loaded machine has not yet scheduled the sender), the watchdog waits on, looking again every
// tenth of the timeout, up to the event timeout. So "blocked" means what the trace says, not "the
// machine was busy" (watchdog.cc has how).
#pragma once

#include <cerrno>

namespace afunix {

// What a call returned: its value, the errno right after it, and whether the watchdog ended it.
struct Returned {
  long ret;
  int err;
  bool blocked;
  bool ok() const { return ret >= 0 && !blocked; }
};

namespace watchdog {
void arm();
void disarm();
// Whether the call that just failed with EINTR was ended by the watchdog (it is blocked), and
// whether it was only the watchdog looking (the call was not restarted: run it again).
bool fired();
bool only_looked();
}  // namespace watchdog

// Runs call() (a system call returning -1 with errno on failure) under the watchdog.
template <typename Call>
Returned under_watchdog(Call call) {
  watchdog::arm();
  long ret;
  int err;
  do {
    ret = static_cast<long>(call());
    err = errno;
  } while (ret == -1 && err == EINTR && watchdog::only_looked());
  bool blocked = ret == -1 && err == EINTR && watchdog::fired();
  watchdog::disarm();
  return {ret, err, blocked};
}

}  // namespace afunix
