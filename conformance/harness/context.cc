#include "context.h"

#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "batch.h"
#include "names.h"
#include "scenario.h"

namespace afunix {
namespace context {
namespace {

std::string g_dir;
std::string g_tag;

struct ProcessTable {
  std::atomic<int> count;
  struct Entry {
    pid_t pid;
    char role[48];
  } entries[128];
  std::atomic<int> serial;
  std::atomic<int> object_count;
  struct Object {
    dev_t dev;
    ino_t ino;
    char label[48];
  } objects[256];
  char unsupported[96];
  pid_t supervisor;
};
ProcessTable* g_table = nullptr;

ProcessTable* table() {
  if (!g_table) {
    void* mem = mmap(nullptr, sizeof(ProcessTable), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) fatal("shared memory for the process table");
    g_table = new (mem) ProcessTable();
  }
  return g_table;
}

double timeout_scale() {
  const char* s = std::getenv("AFUNIX_TIMEOUT_SCALE");
  double v = s ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

int scaled(int base_ms) { return static_cast<int>(base_ms * timeout_scale()); }

const Identity* const kIdentities[] = {&ServiceOwner(), &GroupMember(), &Stranger()};

}  // namespace

void begin(const std::string& scenario_dir, const std::string& run_tag) {
  g_dir = scenario_dir;
  g_tag = run_tag;
  table()->unsupported[0] = '\0';
}

void set_unsupported_feature(const std::string& feature) {
  ProcessTable* t = table();
  if (t->unsupported[0]) return;  // the first one found is the one to name
  std::strncpy(t->unsupported, feature.c_str(), sizeof t->unsupported - 1);
  t->unsupported[sizeof t->unsupported - 1] = '\0';
}

std::string unsupported_feature() { return table()->unsupported; }

const std::string& scenario_dir() { return g_dir; }
const std::string& run_tag() { return g_tag; }

void register_process(pid_t pid, const std::string& role) {
  ProcessTable* t = table();
  int i = t->count.fetch_add(1);
  if (i >= static_cast<int>(sizeof t->entries / sizeof t->entries[0])) return;
  t->entries[i].pid = pid;
  std::strncpy(t->entries[i].role, role.c_str(), sizeof t->entries[i].role - 1);
}

void forget_processes() {
  table()->supervisor = getpid();
  table()->count = 0;
  table()->serial = 0;
  table()->object_count = 0;
}

pid_t supervisor_pid() { return table()->supervisor; }

pid_t pid_of(const std::string& role) {
  ProcessTable* t = table();
  for (int i = 0; i < t->count && i < 128; ++i)
    if (role == t->entries[i].role) return t->entries[i].pid;
  return 0;
}

void label_object(dev_t dev, ino_t ino, const std::string& label) {
  ProcessTable* t = table();
  int i = t->object_count.fetch_add(1);
  if (i >= static_cast<int>(sizeof t->objects / sizeof t->objects[0])) return;
  t->objects[i].dev = dev;
  t->objects[i].ino = ino;
  std::strncpy(t->objects[i].label, label.c_str(), sizeof t->objects[i].label - 1);
}

std::string object_label(dev_t dev, ino_t ino) {
  ProcessTable* t = table();
  // The latest label wins: a name given again means the scenario renamed the object.
  for (int i = std::min<int>(t->object_count, 256) - 1; i >= 0; --i)
    if (t->objects[i].dev == dev && t->objects[i].ino == ino) return t->objects[i].label;
  return "";
}

int next_serial() { return ++table()->serial; }

void kill_registered_processes() {
  ProcessTable* t = table();
  for (int i = 0; i < t->count && i < 128; ++i)
    if (t->entries[i].pid > 0 && t->entries[i].pid != getpid()) ::kill(t->entries[i].pid, SIGKILL);
}

std::string pid_name(pid_t pid) {
  if (pid == 0) return "0";
  ProcessTable* t = table();
  for (int i = 0; i < t->count && i < 128; ++i)
    if (t->entries[i].pid == pid) return t->entries[i].role;
  return "foreign-pid";
}

std::string uid_name(uid_t uid) {
  if (uid == Runner().uid) return Runner().name;
  for (const Identity* id : kIdentities)
    if (id->uid == uid) return id->name;
  if (uid == 65534) return "overflow";
  if (uid == static_cast<uid_t>(-1)) return "-1";
  return "foreign-uid";
}

std::string gid_name(gid_t gid) {
  if (gid == Runner().gid) return Runner().name;
  for (const Identity* id : kIdentities)
    if (id->gid == gid) return id->name;
  if (gid == 65534) return "overflow";
  if (gid == static_cast<gid_t>(-1)) return "-1";
  return "foreign-gid";
}

std::string address_name(const sockaddr* sa, socklen_t len) {
  const size_t path_offset = offsetof(sockaddr_un, sun_path);
  if (len <= path_offset) return "unnamed";
  const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
  size_t n = len - path_offset;
  if (n > sizeof un->sun_path) n = sizeof un->sun_path;
  std::string bytes(un->sun_path, n);
  if (bytes[0] == '\0') {
    std::string name = bytes.substr(1);
    if (!g_tag.empty() && name.compare(0, g_tag.size(), g_tag) == 0)
      return "@" + escape_bytes(name.substr(g_tag.size()));
    // Linux autobind: five hex digits, different every run.
    if (name.size() == 5 && name.find_first_not_of("0123456789abcdef") == std::string::npos)
      return "@<autobind>";
    return "@<foreign>" + escape_bytes(name);
  }
  std::string path = bytes.substr(0, bytes.find('\0'));
  if (!g_dir.empty() && path.compare(0, g_dir.size() + 1, g_dir + "/") == 0)
    return "<scenario-dir>/" + escape_bytes(path.substr(g_dir.size() + 1));
  if (!path.empty() && path[0] == '/') return "<outside>/" + escape_bytes(path.substr(path.rfind('/') + 1));
  return escape_bytes(path);
}

socklen_t address_length(const sockaddr* sa, socklen_t len) {
  const size_t path_offset = offsetof(sockaddr_un, sun_path);
  const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
  if (len > path_offset + g_tag.size() && un->sun_path[0] == '\0' &&
      std::memcmp(un->sun_path + 1, g_tag.data(), g_tag.size()) == 0)
    return len - static_cast<socklen_t>(g_tag.size());
  return len;
}

int scratch_file() {
  const char* base = std::getenv("AFUNIX_WORKDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/.trace-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  int fd = mkstemp(buf.data());
  if (fd >= 0) ::unlink(buf.data());
  return fd;
}

void fatal(const char* what) {
  // The runner reports this as the harness's own failure (a limit it hit), not the backend's.
  batch::harness_error(std::string(what) + ": " + std::strerror(errno) + " (" + errno_name(errno) + ")");
  std::abort();
}

// The watchdog defines "blocked": an operation that has not returned after 200 ms, once the rest
// of the scenario is asleep, will not (natively the slowest wake-up under overload is 2.1 ms,
// docs/triage/timeouts.md; watchdog.cc waits on while another process runs). The two deadlines are
// derived from what scenarios take: natively the slowest scenario takes 0.22 s from start to end,
// most of it watchdog waits, so an actor that waited 2 s for another one (9x that) waits for
// something that is not coming, and a scenario still running at 4 s has hung. The backend's
// multiplier scales all three (README "Deadlines").
int op_timeout_ms() { return scaled(200); }
int event_timeout_ms() { return scaled(2000); }
int scenario_timeout_ms() { return scaled(4000); }

}  // namespace context
}  // namespace afunix
