#include "scenario.h"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "batch.h"
#include "context.h"
#include "internal.h"
#include "names.h"
#include "observation.h"
#include "platform.h"

namespace afunix {

// ---- identities ----------------------------------------------------------------------------

const Identity& Runner() {
  static const Identity id{"runner", getuid(), getgid(), {}, true};
  return id;
}
// Taken at start-up: an actor that switched identity must still know who the runner was.
static const Identity& g_runner_at_start = Runner();
const Identity& ServiceOwner() {
  static const Identity id{"svc", 61001, 61001, {}, false};
  return id;
}
const Identity& GroupMember() {
  static const Identity id{"member", 61002, 61002, {61001}, false};
  return id;
}
const Identity& Stranger() {
  static const Identity id{"stranger", 61003, 61003, {}, false};
  return id;
}

namespace {

// Not an errno: the calls succeeded but the kernel still sees the old identity (fakeroot).
constexpr int kIdentityFaked = 255;

// Returns 0 or the errno of the failing step; never returns into the caller's identity on success.
int switch_identity(const Identity& who) {
  if (who.is_runner) return 0;
  if (setgroups(who.groups.size(), who.groups.data()) != 0) return errno;
  if (setgid(who.gid) != 0) return errno;
  if (setuid(who.uid) != 0) return errno;
  return 0;
}

// The availability check's switch (Scenario::unsupported_reason): also kIdentityFaked when the
// calls succeeded but the kernel still sees the old identity. Only there: an actor's own switch is
// trusted once the check passed, so a fixture that fakes it for attackers alone (a leaky backend,
// tests/fixtures/attacker_keeps_root.c) still runs its attacks.
int try_identity(const Identity& who) {
  int err = switch_identity(who);
  if (err == 0 && !who.is_runner && !internal::kernel_sees_identity(who.uid, who.gid)) return kIdentityFaked;
  return err;
}

// The first number of a "Uid:" or "Gid:" line of /proc/self/status (real id) and the second
// (effective); false when the line is missing.
bool status_ids(const std::string& status, const char* key, long* real, long* effective) {
  size_t at = status.find(std::string("\n") + key);
  if (at == std::string::npos) return false;
  const char* p = status.c_str() + at + 1 + std::strlen(key);
  char* end = nullptr;
  *real = std::strtol(p, &end, 10);
  if (end == p) return false;
  *effective = std::strtol(end, nullptr, 10);
  return true;
}

// ---- small process helpers ------------------------------------------------------------------

// False (errno set) when not everything could be written.
bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP) return ::rmdir(path), 0;
  return ::unlink(path), 0;
}
int open_up_dir(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_D || type == FTW_DNR) ::chmod(path, 0700);
  return 0;
}

void remove_tree(const std::string& dir) {
  // Actors may leave directories without write or search permission (that is what they test).
  nftw(dir.c_str(), open_up_dir, 16, FTW_PHYS);
  nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

std::string needs_feature(const std::string& feature) {
  return "needs " + feature + ", which this platform does not offer (" + platform::system_description() + ")";
}

const char* compiled_abi() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
  return "armhf";
#elif defined(__arm__)
  return "arm";
#elif defined(__i386__)
  return "i386";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "other";
#endif
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Set in every actor so an interrupted wait or watchdog can find whose trace to write to.
Actor* g_current_actor = nullptr;
constexpr int kAbandonedExit = internal::kAbandonedExit;
// In an actor: readable once every other actor has ended.
int g_alone_fd = -1;
// Children this actor has forked and not yet joined: while there are any, it is never alone.
int g_live_children = 0;

}  // namespace

// ---- children of actors (Actor::fork) ---------------------------------------------------------

namespace internal {
void enter_child(Actor* child) {
  g_current_actor = child;
  g_alone_fd = -1;  // the parent is still there to post
  g_live_children = 0;
}
void child_started() { ++g_live_children; }
void child_ended() { --g_live_children; }
}  // namespace internal

namespace internal {

std::string end_of(int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == kAbandonedExit) return "abandoned";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + signal_name(WTERMSIG(status));
  return "unknown";
}

ActorLines split_trace(const std::string& lines) {
  ActorLines out;
  size_t pos = 0;
  while (pos < lines.size()) {
    size_t nl = lines.find('\n', pos);
    if (nl == std::string::npos) nl = lines.size();
    std::string line = lines.substr(pos, nl - pos);
    if (!line.empty()) (line[0] == kChildActorMark ? out.children : out.observations).push_back(line);
    pos = nl + 1;
  }
  return out;
}

void end_unsupported(const char* feature) {
  context::set_unsupported_feature(feature);
  // In a scenario's process the story cannot go on; before the actors start (an address built in
  // the scenario's body), Scenario::run reports it without forking anyone.
  if (g_current_actor) _exit(kUnsupportedExit);
}

bool kernel_sees_identity(uid_t uid, gid_t gid) {
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // no /proc to ask: nothing to contradict the calls
  std::string status = "\n" + read_from_start(fd);
  ::close(fd);
  long ruid, euid, rgid, egid;
  if (!status_ids(status, "Uid:", &ruid, &euid) || !status_ids(status, "Gid:", &rgid, &egid)) return true;
  return ruid == static_cast<long>(uid) && euid == static_cast<long>(uid) && rgid == static_cast<long>(gid) &&
         egid == static_cast<long>(gid);
}

std::string read_from_start(int fd) {
  std::string out;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, n);
  }
  return out;
}

}  // namespace internal

// ---- Event ----------------------------------------------------------------------------------

void Event::post() {
  if (g_current_actor)
    g_current_actor->record(Obs("post").str("event", name_).encode());
  write_all(write_fd_, "!");
}

void Event::wait() {
  // Also woken when every other actor has ended: then nobody is left to post, and waiting out the
  // timeout would only make a crashing backend slow.
  pollfd p[2] = {{read_fd_, POLLIN, 0}, {g_alone_fd, POLLIN, 0}};
  int remaining = context::event_timeout_ms();
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const char* outcome = "timeout";
  for (;;) {
    int r = ::poll(p, g_alone_fd >= 0 && g_live_children == 0 ? 2 : 1, remaining);
    if (r > 0 && p[0].revents) return;  // the latch stays readable: nobody consumes the byte
    if (r > 0) {
      outcome = "no other actor left";
      break;
    }
    if (r < 0 && errno == EINTR) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      remaining = context::event_timeout_ms() - static_cast<int>(elapsed);
      if (remaining > 0) continue;
    }
    break;
  }
  if (g_current_actor)
    g_current_actor->record(Obs("wait").str("event", name_).str("result", outcome).encode());
  _exit(kAbandonedExit);
}

// ---- Scenario -------------------------------------------------------------------------------

Scenario::Scenario() {
  platform::probe();
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  name_ = std::string(info->test_suite_name()) + "." + info->name();
  std::string base = env_or("AFUNIX_WORKDIR", "/tmp");
  std::string templ = base + "/scn-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    std::string why = "cannot create a scenario directory under " + base + ": " + strerror(errno) +
                      " (" + errno_name(errno) + ")";
    batch::harness_error(why);
    ADD_FAILURE() << why;
    return;
  }
  dir_ = buf.data();
  // Test identities must reach the directory: a private ancestor would turn every permission
  // scenario into a silent, wrong EACCES. Checked once per process and base (a batch runs hundreds
  // of scenarios under one base; these syscalls were 4% of a scenario's).
  static std::string reachable_base;
  bool check = base != reachable_base && geteuid() == 0;
  for (std::string up = dir_.substr(0, dir_.rfind('/')); check && !up.empty(); up = up.substr(0, up.rfind('/'))) {
    struct stat st;
    if (::stat(up.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH)) {
      ADD_FAILURE() << "AFUNIX_WORKDIR " << base << ": " << up << " has mode " << octal_mode(st.st_mode)
                    << ", so the test users cannot reach the scenario directory; use a directory every "
                       "user can search (e.g. under /tmp)";
      ::rmdir(dir_.c_str());
      dir_.clear();
      return;
    }
  }
  if (check) reachable_base = base;
  // Like /tmp: every actor, whatever its identity, can create its own files here.
  ::chmod(dir_.c_str(), 01777);
  context::begin(dir_, "afunix-" + dir_.substr(dir_.size() - 6) + "-");
}

Scenario::~Scenario() {
  for (Event& e : events_) {
    ::close(e.read_fd_);
    ::close(e.write_fd_);
  }
  if (!dir_.empty()) remove_tree(dir_);
}

Event& Scenario::event(const std::string& name) {
  events_.emplace_back();
  Event& e = events_.back();
  e.name_ = name;
  int fds[2];
  if (platform::cloexec_pipe(fds) != 0) context::fatal("pipe for an event");
  e.read_fd_ = fds[0];
  e.write_fd_ = fds[1];
  return e;
}

Event& Scenario::ended(const std::string& role) {
  Event& e = event("ended:" + role);
  ended_events_.emplace_back(role, &e);
  return e;
}

void Scenario::actor(const std::string& role, const Identity& who,
                     std::function<void(Actor&)> body) {
  actors_.push_back({role, &who, std::move(body)});
}

void Scenario::attacker(const std::string& role, const Identity& who,
                        std::function<void(Actor&)> body) {
  actors_.push_back({role, &who, std::move(body), false});
}

std::string Scenario::unsupported_reason() const {
  std::vector<const Identity*> needed = extra_identities_;
  for (const ActorSpec& a : actors_) needed.push_back(a.who);
  for (const Identity* who : needed) {
    if (who->is_runner) continue;
    // A backend that lacks a capability by design says so (see docs/backends.md).
    if (const char* why = std::getenv("AFUNIX_UNSUPPORTED_IDENTITIES"))
      return "needs test identity '" + who->name + "': " + why;
    pid_t pid = fork();
    if (pid == 0) _exit(try_identity(*who));
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == kIdentityFaked)
      return "needs test identity '" + who->name + "' (uid " + std::to_string(who->uid) +
             "): setuid() reported success but the kernel still sees the runner's uid "
             "(/proc/self/status): the identity switch is faked here (e.g. by fakeroot)";
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      int err = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
      return "needs test identity '" + who->name + "' (uid " + std::to_string(who->uid) +
             "): switching to it failed with " + errno_name(err) + " (run as root)";
    }
  }
  return "";
}

void Scenario::write_trace(const std::string& status, const std::string& reason,
                           const std::vector<std::string>& actor_json) const {
  const char* trace_dir = std::getenv("AFUNIX_TRACE_DIR");
  if (!trace_dir) return;
  struct utsname u;
  uname(&u);
  Obs run = Obs::object();
  run.str("backend", env_or("AFUNIX_BACKEND", "unspecified"))
      .str("kernel", u.release)
      .str("machine", u.machine)
      .str("abi", compiled_abi())
      .str("system", u.sysname)
      .str("profile", platform::profile())
      .str("suite_revision", env_or("AFUNIX_SUITE_REVISION", "unknown"))
      // The runner accepts a trace only with the nonce it gave the process it started for it.
      .str("nonce", env_or("AFUNIX_NONCE", ""))
      .flag("runner_is_root", getuid() == 0);
  Obs doc = Obs::object();
  doc.num("schema", 1).str("scenario", name_).json("run", run.encode()).str("status", status);
  if (!reason.empty()) doc.str("reason", reason);
  std::string actors = "[";
  for (size_t i = 0; i < actor_json.size(); ++i) actors += (i ? ",\n" : "\n") + actor_json[i];
  doc.json("actors", actors + "\n]");

  // Parameterised scenario names contain '/', which a file name cannot.
  std::string file = name_;
  for (char& c : file)
    if (c == '/') c = '~';
  std::string path = std::string(trace_dir) + "/" + file + ".json";
  std::string tmp = path + ".partial";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool written = fd >= 0 && write_all(fd, doc.encode() + "\n");
  int err = errno;
  if (fd >= 0 && ::close(fd) != 0 && written) {
    written = false;
    err = errno;
  }
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (written) err = errno;
    std::string why = "cannot write trace " + tmp + ": " + strerror(err) + " (" + errno_name(err) + ")";
    ::unlink(tmp.c_str());
    batch::harness_error(why);
    ADD_FAILURE() << why;
  }
}

// ---- Scenario::run, step by step ------------------------------------------------------------

// One run of the scenario's actors, from fork to the last reaped process.
struct Scenario::Run {
  struct Running {
    pid_t pid;
    int trace_fd;    // the actor's scratch trace file, read back once it has ended
    int alone_read_fd;
    int alone_fd;    // posted when this actor is the last one running
    bool alone_posted;
    std::string end;  // how it ended, as traces say it; empty while it runs
  };
  std::vector<Running> actors;  // in the order of Scenario::actors_
  platform::ChildWaiter children;  // how supervise() waits for the actors to end
  bool unsupported = false;         // an actor found a feature missing (platform::require)
  // Attackers linger until every victim has ended: closing their end early would change what a
  // victim observes (a reset instead of data) for reasons that have nothing to do with the attack.
  int victims_done[2] = {-1, -1};
  bool victims_done_posted = false;

  // Kills the actors still running, and says why in how they ended.
  void kill_running(const char* why) {
    for (Running& r : actors) {
      if (!r.end.empty()) continue;
      ::kill(r.pid, SIGKILL);
      waitpid(r.pid, nullptr, 0);
      r.end = why;
    }
  }
};

void Scenario::run() {
  if (dir_.empty()) return;
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < batch::kNeededFds) {
    std::string why = "the descriptor limit (RLIMIT_NOFILE) is " + std::to_string(fds.rlim_cur) +
                      ", the scenarios need at least " + std::to_string(batch::kNeededFds) +
                      " (raise it: ulimit -n " + std::to_string(batch::kNeededFds) + ")";
    batch::harness_error(why);
    GTEST_FAIL() << why;
  }
  // A feature found missing before the actors start (an address built in the scenario's body).
  std::string reason = context::unsupported_feature().empty()
                           ? unsupported_reason()
                           : needs_feature(context::unsupported_feature());
  if (!reason.empty()) {
    write_trace("unsupported", reason, {});
    GTEST_SKIP() << reason;
  }
  Run run;
  start_actors(run);
  supervise(run);
  if (!context::unsupported_feature().empty()) {
    for (Run::Running& r : run.actors) ::close(r.trace_fd);
    std::string why = needs_feature(context::unsupported_feature());
    write_trace("unsupported", why, {});
    GTEST_SKIP() << why;
  }
  write_trace("ran", "", collect_traces(run));
}

// Forks every actor (each switches identity and waits), then starts them all at once.
void Scenario::start_actors(Run& run) {
  run.children.begin();
  context::forget_processes();
  if (platform::cloexec_pipe(run.victims_done) != 0) context::fatal("pipe for the victims' end");
  std::vector<int> go_fds;
  for (const ActorSpec& spec : actors_) {
    int trace_fd = context::scratch_file();
    if (trace_fd < 0) context::fatal("scratch file for an actor's trace in AFUNIX_WORKDIR");
    int go[2];
    if (platform::cloexec_pipe(go) != 0) context::fatal("pipe to start an actor");
    int alone[2];
    if (platform::cloexec_pipe(alone) != 0) context::fatal("pipe for an actor left alone");
    pid_t pid = fork();
    if (pid < 0) context::fatal("fork an actor");
    if (pid == 0) {
      run.children.in_child();
      ::close(go[1]);
      g_alone_fd = alone[0];
      if (!spec.judged) setenv("AFUNIX_ATTACKER", "1", 1);
      Actor actor(spec.role, trace_fd);
      g_current_actor = &actor;
      if (switch_identity(*spec.who) != 0) _exit(kAbandonedExit);
      char c;
      if (::read(go[0], &c, 1) != 1) _exit(kAbandonedExit);  // the runner went away
      if (::chdir(dir_.c_str()) != 0) _exit(kAbandonedExit);
      ::umask(022);  // the modes of files the actors create must not depend on who runs the suite
      spec.body(actor);
      if (!spec.judged) {
        pollfd p{run.victims_done[0], POLLIN, 0};
        ::poll(&p, 1, context::event_timeout_ms());
      }
      _exit(0);
    }
    ::close(go[0]);
    context::register_process(pid, spec.role);
    // The runner keeps both ends open: posting to an actor that just ended must not raise SIGPIPE.
    run.actors.push_back({pid, trace_fd, alone[0], alone[1], false, ""});
    go_fds.push_back(go[1]);
  }
  for (int go : go_fds) {
    write_all(go, "g");
    ::close(go);
  }
}

// Reaps the actors as they end, posting the events that wait on their end, until every one has
// ended or the scenario's deadline kills the rest; then kills whatever they left behind.
void Scenario::supervise(Run& run) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    bool all_done = true;
    for (size_t i = 0; i < run.actors.size(); ++i) {
      Run::Running& r = run.actors[i];
      if (!r.end.empty()) continue;
      int status;
      if (waitpid(r.pid, &status, WNOHANG) == r.pid) {
        r.end = internal::end_of(status);
        if (WIFEXITED(status) && WEXITSTATUS(status) == internal::kUnsupportedExit) run.unsupported = true;
        for (auto& [ended_role, event] : ended_events_)
          if (ended_role == actors_[i].role) event->post();
      } else {
        all_done = false;
      }
    }
    if (all_done) break;
    if (run.unsupported) {  // the story cannot go on here: nobody waits out an event for it
      run.kill_running("killed: the scenario is unsupported here");
      break;
    }
    bool victims_running = false;
    for (size_t i = 0; i < run.actors.size(); ++i)
      if (actors_[i].judged && run.actors[i].end.empty()) victims_running = true;
    if (!victims_running && !run.victims_done_posted) {
      write_all(run.victims_done[1], "!");
      run.victims_done_posted = true;
    }
    std::vector<Run::Running*> still;
    for (Run::Running& r : run.actors)
      if (r.end.empty()) still.push_back(&r);
    if (still.size() == 1 && !still[0]->alone_posted) {
      write_all(still[0]->alone_fd, "!");
      still[0]->alone_posted = true;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    long left = context::scenario_timeout_ms() - elapsed;
    if (left <= 0) {
      run.kill_running("killed at the scenario deadline");
      break;
    }
    run.children.wait(left);
  }
  ::close(run.victims_done[0]);
  ::close(run.victims_done[1]);
  for (Run::Running& r : run.actors) {
    ::close(r.alone_fd);
    ::close(r.alone_read_fd);
  }
  // Anything the actors forked and left behind goes too.
  context::kill_registered_processes();
  run.children.end();
}

// Each actor's entry of the trace, in the order they were declared, each followed by the entries
// of the children it forked and joined.
std::vector<std::string> Scenario::collect_traces(Run& run) const {
  std::vector<std::string> actor_json;
  for (size_t i = 0; i < run.actors.size(); ++i) {
    internal::ActorLines lines = internal::split_trace(internal::read_from_start(run.actors[i].trace_fd));
    ::close(run.actors[i].trace_fd);
    std::string obs;
    for (const std::string& line : lines.observations) obs += (obs.empty() ? "\n  " : ",\n  ") + line;
    Obs a = Obs::object();
    a.str("role", actors_[i].role).str("identity", actors_[i].who->name);
    if (!actors_[i].judged) a.flag("judged", false);
    a.json("observations", "[" + obs + "]").str("end", run.actors[i].end);
    actor_json.push_back(a.encode());
    for (const std::string& child : lines.children) actor_json.push_back(child.substr(1));
  }
  return actor_json;
}

}  // namespace afunix
