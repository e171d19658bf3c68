// Harness internals shared by the scenario runner and the actors: the run's directory and tag, the
// table of scenario processes, timeouts, and the normalisation that turns what the kernel reports
// (pids, uids, paths, addresses) into ABI- and run-independent names.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <string>

namespace afunix {

namespace context {

// Set once per scenario run, before actors fork.
void begin(const std::string& scenario_dir, const std::string& run_tag);
const std::string& scenario_dir();
const std::string& run_tag();  // makes abstract names unique to this run

// Processes of the scenario by role, in memory shared by every actor (it survives setuid).
void register_process(pid_t pid, const std::string& role);
// A new scenario starts in this process (its supervisor): every process of it descends from this one.
void forget_processes();
pid_t supervisor_pid();

std::string pid_name(pid_t pid);  // role name, "0", or "foreign-pid"
pid_t pid_of(const std::string& role);  // the process registered as `role`, or 0
std::string uid_name(uid_t uid);  // identity name, "overflow" (65534), "-1", or "foreign-uid"
std::string gid_name(gid_t gid);

// An address as the kernel reported it: "srv.sock" (a relative path, as it was bound),
// "<scenario-dir>/srv.sock" (an absolute one inside the scenario directory), "<outside>/name",
// "@name" (abstract, run tag removed), "@<autobind>", or "unnamed".
std::string address_name(const sockaddr* sa, socklen_t len);

// Objects (sockets, files) by what the scenario calls them, in memory shared by every actor, so a
// descriptor received over SCM_RIGHTS can be named after the file it refers to ("memo", "y").
void label_object(dev_t dev, ino_t ino, const std::string& label);
std::string object_label(dev_t dev, ino_t ino);  // "" when unknown

// A number unique within the scenario run, shared by every actor (the n-th pair made gets n).
int next_serial();

// The address length a program would see had the abstract name not carried the run tag.
socklen_t address_length(const sockaddr* sa, socklen_t len);

// Timeouts, already scaled by AFUNIX_TIMEOUT_SCALE (the backend's multiplier).
int op_timeout_ms();        // the watchdog on operations that may block
int event_timeout_ms();     // how long an actor waits for an event
int scenario_timeout_ms();  // how long all actors together may take

void kill_registered_processes();

// The feature a process of this scenario found missing ("" when none), in shared memory: any actor
// or child may find it, and Scenario::run reports the scenario UNSUPPORTED naming it.
void set_unsupported_feature(const std::string& feature);
std::string unsupported_feature();

// An unlinked scratch file for an actor's observations, in the scenario's work directory (which
// every backend provides, unlike /tmp: a sandbox may have none). Returns the fd, or -1 with errno.
int scratch_file();

// Prints what the harness could not do and aborts: a harness fault, reported as such.
[[noreturn]] void fatal(const char* what);

}  // namespace context
}  // namespace afunix
