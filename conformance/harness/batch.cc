#include "batch.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

extern char** environ;

namespace afunix {
namespace batch {
namespace {

int g_channel = -1;
int g_ack = -1;         // the runner's word to go on (AFUNIX_BATCH_ACK_FD), or -1
bool g_ack_gone = false;  // the runner closed it: go on without waiting (kept open: a closed
                          // descriptor would read as a scenario's change to the process)
bool g_started = false;  // the first scenario has begun
std::string g_current;  // the scenario running in this process, "" between scenarios

// Waits for the runner's word: it lists what the scenario left outside its directory before giving
// it, so nothing the next scenario makes is taken for this one's. End of file (the runner is gone,
// or the backend closed the pipe) means go on.
void wait_for_runner() {
  if (g_ack < 0 || g_ack_gone) return;
  char c;
  ssize_t n;
  while ((n = ::read(g_ack, &c, 1)) < 0 && errno == EINTR) {
  }
  if (n <= 0) g_ack_gone = true;
}

// A descriptor the runner passed, moved out of the way of the numbers scenarios observe and never
// inherited by what actors exec; -1 when it is not open (a backend closed it).
int take_descriptor(const char* variable) {
  const char* fd = std::getenv(variable);
  if (!fd || !*fd) return -1;
  int given = std::atoi(fd);
  unsetenv(variable);
  if (::fcntl(given, F_GETFD) < 0) {
    std::fprintf(stderr, "afunix harness: %s=%s is not an open descriptor: the backend closed the "
                 "runner's channel\n", variable, fd);
    return -1;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  int high = rl.rlim_cur > 600 ? ::fcntl(given, F_DUPFD_CLOEXEC, 512) : -1;
  if (high >= 0) {
    ::close(given);
    return high;
  }
  ::fcntl(given, F_SETFD, FD_CLOEXEC);
  return given;
}

void announce(const std::string& line) {
  if (g_channel < 0) return;
  std::string s = line;
  for (char& c : s)
    if (c == '\n') c = ' ';
  s += '\n';
  // One write per line (under PIPE_BUF), so lines from actors and the main process never mix.
  if (s.size() > 4000) s = s.substr(0, 3999) + "\n";
  while (::write(g_channel, s.data(), s.size()) < 0 && errno == EINTR) {
  }
}

std::string read_small_file(const char* path, bool* ok) {
  std::string out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  *ok = fd >= 0;
  if (fd < 0) return out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, n);
  }
  ::close(fd);
  return out;
}

// The lines of /proc/self/status that describe state a scenario could change for the process
// (signal mask and dispositions, umask, credentials, threads), without the ones that change by
// themselves (memory, context switches, pending signals).
std::string status_lines(bool* ok) {
  static const char* const kKept[] = {"Umask:", "Uid:", "Gid:", "Groups:", "Threads:", "SigBlk:",
                                      "SigIgn:", "SigCgt:", "NoNewPrivs:", "CapEff:", "CapPrm:"};
  std::string text = read_small_file("/proc/self/status", ok);
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    for (const char* k : kKept)
      if (line.compare(0, std::strlen(k), k) == 0) out += line + "\n";
    pos = nl + 1;
  }
  return out;
}

// Where /proc is missing: the same facts from the system calls, at more calls each.
std::string status_by_syscalls() {
  std::string out;
  mode_t mask = ::umask(022);
  ::umask(mask);
  out += "umask " + std::to_string(mask) + "\n";
  out += "ids " + std::to_string(getuid()) + " " + std::to_string(getgid()) + "\n";
  sigset_t blocked;
  sigprocmask(SIG_BLOCK, nullptr, &blocked);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (sigaction(sig, nullptr, &sa) != 0) continue;
    if (sa.sa_handler != SIG_DFL || sigismember(&blocked, sig) == 1)
      out += "signal " + std::to_string(sig) + (sigismember(&blocked, sig) == 1 ? " blocked" : "") +
             (sa.sa_handler == SIG_IGN ? " ignored" : sa.sa_handler == SIG_DFL ? "" : " caught") + "\n";
  }
  return out;
}

std::string limits_by_syscalls() {
  static const int kLimits[] = {RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_AS,    RLIMIT_DATA,
                                RLIMIT_STACK,  RLIMIT_CORE,  RLIMIT_FSIZE, RLIMIT_CPU};
  std::string out;
  for (int r : kLimits) {
    rlimit rl{};
    if (getrlimit(r, &rl) == 0)
      out += std::to_string(r) + " " + std::to_string(rl.rlim_cur) + " " + std::to_string(rl.rlim_max) + "\n";
  }
  return out;
}

std::string open_fds() {
  std::string out;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return "unknown";
  int own = dirfd(dir);
  std::vector<int> fds;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != own) fds.push_back(fd);
  }
  ::closedir(dir);
  std::sort(fds.begin(), fds.end());
  for (int fd : fds) out += std::to_string(fd) + " ";
  return out;
}

// What a scenario must leave as it found it in the process that runs the next one.
struct State {
  std::string fds, status, limits, cwd, timer;
  std::vector<std::string> env;

  static State now() {
    State s;
    s.fds = open_fds();
    bool ok = false;
    s.status = status_lines(&ok);
    if (!ok) s.status = status_by_syscalls();
    s.limits = read_small_file("/proc/self/limits", &ok);
    if (!ok) s.limits = limits_by_syscalls();
    char buf[4096];
    s.cwd = ::getcwd(buf, sizeof buf) ? buf : "unknown";
    itimerval t{};
    getitimer(ITIMER_REAL, &t);
    s.timer = std::to_string(t.it_value.tv_sec + t.it_value.tv_usec + t.it_interval.tv_sec + t.it_interval.tv_usec);
    for (char** e = environ; e && *e; ++e) s.env.emplace_back(*e);
    return s;
  }

  // What differs from `before`, in words, or "".
  std::string changes_since(const State& before) const {
    std::string what;
    auto add = [&](bool differs, const char* name) {
      if (differs) what += (what.empty() ? "" : ", ") + std::string(name);
    };
    add(fds != before.fds, "open descriptors");
    add(status != before.status, "signal mask, dispositions, umask, credentials or threads");
    add(limits != before.limits, "resource limits");
    add(cwd != before.cwd, "working directory");
    add(timer != before.timer, "interval timer");
    add(env != before.env, "environment");
    return what;
  }
};

State* g_baseline = nullptr;

// Reaps what ended; true when a child of this process is still alive (a scenario's process that
// escaped its actors, re-parented here because this process is their subreaper). A process just
// killed may take a moment to become a zombie: wait for it, briefly.
bool children_left() {
  for (int tries = 0; tries < 50; ++tries) {
    int status;
    pid_t r;
    while ((r = ::waitpid(-1, &status, WNOHANG)) > 0) {
    }
    if (r < 0) return false;  // ECHILD: none left
    struct timespec pause {0, 2 * 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
  return true;
}

class Announcer : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo& info) override {
    g_current = std::string(info.test_suite_name()) + "." + info.name();
    announce("begin " + g_current);
    if (!g_started) {  // the runner lists what the process made at start-up (not a scenario's)
      g_started = true;
      wait_for_runner();
    }
    // For the backend's own code in this process and in the actors (fixtures that misbehave in one
    // scenario, wrappers that log); gone again before the check below.
    setenv("AFUNIX_SCENARIO", g_current.c_str(), 1);
  }
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::string name = g_current;
    announce("end " + name);
    g_current.clear();
    unsetenv("AFUNIX_SCENARIO");
    std::string what;
    if (children_left()) what = "running processes";
    std::string changed = State::now().changes_since(*g_baseline);
    if (!changed.empty()) what += (what.empty() ? "" : ", ") + changed;
    if (what.empty()) {
      wait_for_runner();
      return;
    }
    // Restoring every kind of state by hand would be a second harness to trust; a fresh process
    // costs milliseconds.
    announce("dirty " + name + " " + what);
    std::fflush(nullptr);
    ::_exit(0);
  }
};

}  // namespace

void install() {
  if (!std::getenv("AFUNIX_BATCH_FD")) return;
  g_channel = take_descriptor("AFUNIX_BATCH_FD");
  if (g_channel < 0) return;
  g_ack = take_descriptor("AFUNIX_BATCH_ACK_FD");
#ifdef __linux__
  // Processes a scenario leaves behind (double forks, setsid daemons) come back to this process,
  // where the check after each scenario finds them.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
  g_baseline = new State(State::now());
  ::testing::UnitTest::GetInstance()->listeners().Append(new Announcer);
}

void harness_error(const std::string& what) {
  std::fprintf(stderr, "afunix harness: %s\n", what.c_str());
  std::fflush(stderr);
  announce("error " + (g_current.empty() ? std::string("-") : g_current) + " " + what);
}

}  // namespace batch
}  // namespace afunix
