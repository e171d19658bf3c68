// How the watchdog (watchdog.h) tells "blocked" from "not yet scheduled".
//
// SIGALRM at op_timeout_ms() runs on_alarm(), which looks at the scenario's other processes
// (platform::others_running). While one of them runs, the handler sets the timer again and returns;
// the handler is installed with SA_RESTART, so the kernel restarts the guarded call as if nothing
// had happened (a call the kernel never restarts, one with SO_RCVTIMEO say, returns EINTR and
// under_watchdog runs it again). Once the others are all asleep, or the event timeout has passed,
// the watchdog fires: the handler is installed again without SA_RESTART and the timer set to come
// back soon and then every millisecond, so the restarted call is interrupted by one of those alarms
// and returns EINTR, which under_watchdog reports as "blocked".
#include "watchdog.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <csignal>

#include "context.h"
#include "platform.h"

namespace afunix {
namespace watchdog {
namespace {

volatile sig_atomic_t g_fired = 0;
volatile sig_atomic_t g_looked = 0;  // the handler looked and let the call go on
timespec g_armed_at;
int g_limit_ms = 0;
int g_look_again_ms = 0;
pid_t g_supervisor = 0;

void set_timer(long ms) {
  itimerval t{{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
  ::setitimer(ITIMER_REAL, &t, nullptr);
}

void on_alarm(int);

void install(bool restart) {
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGALRM, &sa, nullptr);
}

long ms_since_armed() {
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - g_armed_at.tv_sec) * 1000 + (now.tv_nsec - g_armed_at.tv_nsec) / 1000000;
}

// Only async-signal-safe calls from here on: it interrupts the guarded call. On x86 the handler
// realigns its stack: qemu-x86_64 (Debian 12's 7.2) enters handlers with the stack 8 bytes off the
// ABI's 16, and the compiler's aligned SSE stores on it fault (SIGSEGV at the first sigaction).
#if defined(__i386__) || defined(__x86_64__)
__attribute__((force_align_arg_pointer))
#endif
void on_alarm(int) {
  int saved = errno;
  if (g_fired) {
    set_timer(1);  // the call was restarted after the alarm that fired: interrupt it again
  } else if (ms_since_armed() < g_limit_ms && platform::others_running(g_supervisor)) {
    g_looked = 1;
    set_timer(g_look_again_ms);
  } else {
    g_fired = 1;
    install(false);
    set_timer(1);
  }
  errno = saved;
}

}  // namespace

void arm() {
  g_fired = 0;
  g_looked = 0;
  g_limit_ms = context::event_timeout_ms();
  g_look_again_ms = context::op_timeout_ms() / 10 + 1;
  g_supervisor = context::supervisor_pid();
  ::clock_gettime(CLOCK_MONOTONIC, &g_armed_at);
  install(true);
  set_timer(context::op_timeout_ms());
}

void disarm() { set_timer(0); }

bool fired() { return g_fired; }

bool only_looked() {
  bool looked = g_looked && !g_fired;
  g_looked = 0;
  return looked;
}

}  // namespace watchdog
}  // namespace afunix
