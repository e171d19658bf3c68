// The watchdog on operations that may block: SIGALRM without SA_RESTART, so the guarded call
// returns EINTR when it fires, and "blocked" becomes the observation. Operations use it through
// one wrapper:
//   Returned r = under_watchdog([&] { return ::recv(fd, buf, n, flags); });
//   o.str("result", util::outcome(r));
#pragma once

#include <sys/time.h>

#include <cerrno>
#include <csignal>

#include "context.h"

namespace afunix {

inline volatile sig_atomic_t g_watchdog_fired = 0;
inline void on_watchdog(int) { g_watchdog_fired = 1; }

class Watchdog {
 public:
  Watchdog() {
    struct sigaction sa {};
    sa.sa_handler = on_watchdog;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);
    g_watchdog_fired = 0;
    int ms = context::op_timeout_ms();
    itimerval t{{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &t, nullptr);
  }
  ~Watchdog() {
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  // Whether the call returned because the watchdog fired.
  bool blocked(long ret, int err) const { return ret == -1 && err == EINTR && g_watchdog_fired; }
};

// What a call returned: its value, the errno right after it, and whether the watchdog ended it.
struct Returned {
  long ret;
  int err;
  bool blocked;
  bool ok() const { return ret >= 0 && !blocked; }
};

// Runs call() (a system call returning -1 with errno on failure) under the watchdog.
template <typename Call>
Returned under_watchdog(Call call) {
  Watchdog w;
  long ret = static_cast<long>(call());
  int err = errno;
  return {ret, err, w.blocked(ret, err)};
}

}  // namespace afunix
