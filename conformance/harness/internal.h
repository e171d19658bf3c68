// Between the scenario runner (scenario.cc) and the actor operations that fork (actor_proc.cc).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace afunix {

class Actor;

namespace internal {

constexpr int kAbandonedExit = 97;
// A scenario process that found a feature missing (platform::require) ends with this status.
constexpr int kUnsupportedExit = 96;
// A trace line starting with this byte is the whole actor entry of a child the actor forked and
// joined; Scenario::run lists it after its parent.
constexpr char kChildActorMark = '\x1e';

// In a child an actor forked: `child` records from now on, and the child never gives up an event
// wait because the scenario's other actors have ended (its parent is still there).
void enter_child(Actor* child);
// While an actor has children, it too waits for events they may post even when alone.
void child_started();
void child_ended();

// The scenario needs `feature`, which this platform lacks: noted for Scenario::run, and in a
// scenario's process that process ends (kUnsupportedExit).
void end_unsupported(const char* feature);

// How a scenario process ended, as traces say it: "exit 0", "signal SIGPIPE", "abandoned".
std::string end_of(int status);
// Everything in fd from its start (an actor's scratch trace file).
std::string read_from_start(int fd);

// An actor's scratch trace split into its own observations and the entries of the children it
// joined (each still starting with kChildActorMark), both in the order written.
struct ActorLines {
  std::vector<std::string> observations;
  std::vector<std::string> children;
};
ActorLines split_trace(const std::string& lines);

// After setuid()/setgid() reported success: does the kernel agree? False only when the Uid: or
// Gid: line of /proc/self/status says otherwise, i.e. the calls were faked by an LD_PRELOAD
// library (fakeroot) and the process still has its old identity as far as permissions and peer
// credentials go. (/proc is read with plain open/read, which such libraries do not fake.)
bool kernel_sees_identity(uid_t uid, gid_t gid);

}  // namespace internal
}  // namespace afunix
