// Actor, "Signals" (scenario.h): counting deliveries instead of the default action, and SIGIO.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "actor_util.h"
#include "names.h"
#include "observation.h"
#include "scenario.h"

namespace afunix {
using util::outcome;

namespace {
volatile sig_atomic_t g_caught[65];
void count_signal(int sig) {
  if (sig > 0 && sig < 65) g_caught[sig] = g_caught[sig] + 1;
}
}  // namespace

void Actor::catch_signal(int sig) {
  struct sigaction sa {};
  sa.sa_handler = count_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int r = sigaction(sig, &sa, nullptr);
  int err = errno;
  record(Obs("catch_signal").str("signal", signal_name(sig)).str("result", outcome(r, err)).encode());
}

void Actor::caught(int sig) {
  int n = sig > 0 && sig < 65 ? g_caught[sig] : 0;
  record(Obs("caught").str("signal", signal_name(sig)).num("count", n).encode());
}

int Actor::set_async(int fd) {
  int r = ::fcntl(fd, F_SETOWN, getpid());
  int flags = r < 0 ? -1 : ::fcntl(fd, F_GETFL);
  if (flags >= 0) r = ::fcntl(fd, F_SETFL, flags | O_ASYNC);
  int err = errno;
  record(Obs("set_async").str("result", outcome(flags < 0 ? -1 : r, err)).encode());
  return r;
}

}  // namespace afunix
