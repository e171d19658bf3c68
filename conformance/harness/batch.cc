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
std::string g_current;  // the scenario running in this process, "" between scenarios

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
    if (what.empty()) return;
    // Restoring every kind of state by hand would be a second harness to trust; a fresh process
    // costs milliseconds.
    announce("dirty " + name + " " + what);
    std::fflush(nullptr);
    ::_exit(0);
  }
};

}  // namespace

void install() {
  const char* fd = std::getenv("AFUNIX_BATCH_FD");
  if (!fd || !*fd) return;
  int channel = std::atoi(fd);
  if (::fcntl(channel, F_GETFD) < 0) {
    std::fprintf(stderr, "afunix harness: AFUNIX_BATCH_FD=%s is not an open descriptor: the backend "
                 "closed the runner's channel\n", fd);
    return;
  }
  // Out of the way of the numbers scenarios observe, and never inherited by what actors exec.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  int high = rl.rlim_cur > 600 ? ::fcntl(channel, F_DUPFD_CLOEXEC, 512) : -1;
  if (high >= 0) {
    ::close(channel);
    g_channel = high;
  } else {
    ::fcntl(channel, F_SETFD, FD_CLOEXEC);
    g_channel = channel;
  }
  unsetenv("AFUNIX_BATCH_FD");
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
