// The scenario harness. A scenario is a short story of actors (server, client, attacker, ...), each
// a separate process with its own identity, synchronised by explicit events, each recording what it
// observed. One scenario and the trace it produces (expected/EarlySend.ClientSendsAndClosesBeforeAccept.json):
//
//   TEST(EarlySend, ClientSendsAndClosesBeforeAccept) {
//     Scenario sc;
//     Event& listening = sc.event("listening");
//     Event& closed = sc.event("closed");
//     sc.actor("server", [&](Actor& a) {
//       int s = a.socket(SOCK_STREAM);          {"op": "socket", "type": "SOCK_STREAM", "result": "ok"}
//       a.bind(s, Addr::path("srv.sock"));      {"op": "bind", "addr": "srv.sock", "result": "ok"}
//       a.listen(s, 5);                         {"op": "listen", "backlog": 5, "result": "ok"}
//       listening.post();                       {"op": "post", "event": "listening"}
//       closed.wait();                          (a wait that returns records nothing)
//       int c = a.accept(s);                    {"op": "accept", "result": "ok", "peer": "unnamed", "addrlen": 2}
//       a.recv(c, 64);                          {"op": "recv", "max": 64, "result": 1, "data": "W"}
//       a.recv(c, 64);                          {"op": "recv", "max": 64, "result": 0}
//     });                                       "end": "exit 0"
//     sc.actor("client", [&](Actor& a) {
//       listening.wait();
//       int s = a.socket(SOCK_STREAM);          {"op": "socket", "type": "SOCK_STREAM", "result": "ok"}
//       a.connect(s, Addr::path("srv.sock"));   {"op": "connect", "addr": "srv.sock", "result": "ok"}
//       a.send(s, "W");                         {"op": "send", "data": "W", "result": 1}
//       a.close(s);                             {"op": "close", "result": "ok"}
//       closed.post();                          {"op": "post", "event": "closed"}
//     });
//     sc.run();
//   }
//
// Every operation is performed for real and recorded as one observation; the runner compares the
// trace with the oracle's (native Linux) in expected/. Observations are semantic and ABI-neutral:
// errno names, paths relative to the scenario directory, pids and uids as role and identity names.
// The steps most stories share (Listen, Connect, Bind, a rendezvous) are in
// conformance/scenarios/common.h; socket kinds and TEST_KINDS in kinds.h; messages with ancillary
// data in message.h; the attackers' means in attack.h. docs/trace-format.md describes a trace.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kinds.h"
#include "platform_compat.h"
#include "message.h"

namespace afunix {

// Who an actor runs as. The test identities are fixed uids/gids that need no /etc/passwd entry: the
// harness switches to them when it runs as root, and reports the scenario UNSUPPORTED when it cannot.
struct Identity {
  std::string name;  // what traces call this uid (and its primary gid)
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;  // supplementary groups
  bool is_runner;             // the user running the suite: no switch needed
};

const Identity& Runner();        // whoever runs the suite
const Identity& ServiceOwner();  // "svc": owns the service's directories (postfix's "postfix")
const Identity& GroupMember();   // "member": in svc's group (postfix's "postdrop" users)
const Identity& Stranger();      // "stranger": another local user with no relation to svc

// A socket address, built the way a program would build it.
class Addr {
 public:
  static Addr path(const std::string& path);      // pathname; addrlen covers the path and its NUL
  // The same path made absolute, as programs name their sockets: the scenario directory's own path,
  // then `path`. Traces name it "<scenario-dir>/path" (the directory is a temporary path).
  static Addr absolute(const std::string& path);
  static Addr abstract(const std::string& name);  // abstract name, unique to this scenario run
  static Addr autobind();                         // addrlen == sizeof(sa_family_t)
  // Exact sun_path bytes and addrlen, for edge cases (overlong, missing NUL, ...).
  static Addr raw(const std::string& sun_path_bytes, socklen_t addrlen, const std::string& label);
  // An address as the kernel reported it (getsockname), labelled as traces name it.
  static Addr from_kernel(const sockaddr* sa, socklen_t len);
  // `name` the way a kind names its sockets: "name.sock", "@name", or autobind.
  static Addr named(Naming naming, const std::string& name);
  // An abstract name of "n"s taking `bytes` bytes of sun_path (its leading NUL and the run's tag
  // included): sizeof(sun_path) fills it exactly; one more is labelled "@<108-byte name>", with
  // the addrlen that covers it.
  static Addr abstract_of_size(size_t bytes);
  // The same address with another sun_family, for the wrong-family edge case.
  Addr with_family(int family) const;
  // The same name written into a sockaddr_un that held `stale` before, as a program that reuses
  // one does: the name's bytes copied without a NUL and addrlen counting them only (SUN_LEN), so
  // the bytes just past addrlen are what is left of the stale address. Traces add "stale": its
  // label. The kernel reads addrlen bytes; a backend that reads on sees another name.
  Addr over(const Addr& stale) const;

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t len() const { return len_; }
  const std::string& label() const { return label_; }
  const std::string& stale() const { return stale_; }  // "" unless built over() a stale address

 private:
  // Large enough for addrlen > sizeof(sockaddr_un) edge cases without reading past the object.
  struct Storage {
    sockaddr_un un;
    char slack[16];
  } storage_{};
  socklen_t len_ = 0;
  std::string label_;
  std::string stale_;
};

// A buffer for a returned address (accept, getsockname, getpeername, recvfrom, recvmsg's
// msg_name), as a program hands it in: `bytes` long (a whole sockaddr_un, 110 bytes on every ABI,
// unless said), holding what an earlier call left there (its address, `len` bytes of it, over
// filler). Traces record "buffer" and "held"; after the call, what the kernel defines about the
// address it wrote (docs/trace-format.md, "Returned addresses").
class AddrBuf {
 public:
  explicit AddrBuf(socklen_t bytes = sizeof(sockaddr_un)) : bytes_(bytes) {}
  AddrBuf& holding(const Addr& old) {
    held_ = old;
    holds_ = true;
    return *this;
  }
  socklen_t bytes() const { return bytes_; }
  bool holds() const { return holds_; }
  const Addr& held() const { return held_; }

 private:
  socklen_t bytes_;
  Addr held_;
  bool holds_ = false;
};

// How long poll() may wait: Now checks readiness as it is; UntilReady waits for another actor to
// make the socket ready (bounded by the event timeout, and "timeout" is then the observation).
enum class Wait { Now, UntilReady };

class Scenario;
class Event;

// The two ends of a connected pair (Actor::pair): x connected, y accepted (or bound).
struct Pair {
  int x = -1;
  int y = -1;
};

// A process an actor forked (Actor::fork); it is an actor of its own in the trace once joined.
struct Child {
  std::string role;
  std::string identity;
  pid_t pid = -1;
  int trace_fd = -1;
  int done_fd = -1;
};

// What an actor can do. Every operation is performed for real and recorded as one observation in
// the actor's trace; operations that may block run under a watchdog and record "blocked" when it
// fires. The raw result is returned so the story can go on with it.
class Actor {
 public:
  const std::string& role() const { return role_; }

  // ---- Sockets (actor_sockets.cc): AF_UNIX unless the domain is given.
  int socket(int type);
  int socket_in_domain(int domain, int type);
  std::pair<int, int> socketpair(int type);
  int bind(int fd, const Addr& addr);
  int listen(int fd, int backlog);
  int connect(int fd, const Addr& addr);
  int accept(int fd);  // records the peer address and the length the kernel reported
  long send(int fd, const std::string& data, int flags = 0);
  std::string recv(int fd, size_t max, int flags = 0);
  int shutdown(int fd, int how);
  int close(int fd);
  int set_nonblocking(int fd);
  // Who the peer is (pid as a role, uid and gid as identity names), by the platform's own API:
  // SO_PEERCRED on Linux and Cygwin, LOCAL_PEERCRED/getpeereid elsewhere (platform/*.cc), so one
  // story runs on every platform. The SO_PEERCRED option itself, for its buffer-length cases, is
  // getsockopt(fd, SOL_SOCKET, SO_PEERCRED, optlen).
  void peercred(int fd);
  // The address it reports (what the buffer holds, and the length the kernel reported), to connect
  // or bind to it.
  Addr getsockname(int fd);
  Addr getpeername(int fd);
  // Calls that return an address also take an explicit buffer size, for short buffers (the size is
  // then recorded as "buffer"; sizeof(sockaddr_un) is 110 on every ABI). Without one the buffer is a
  // whole sockaddr_un.
  int accept(int fd, socklen_t buffer);
  Addr getsockname(int fd, socklen_t buffer);
  Addr getpeername(int fd, socklen_t buffer);
  // The same into a buffer as a program hands it in: sized, holding an earlier address.
  int accept(int fd, const AddrBuf& buffer);
  Addr getsockname(int fd, const AddrBuf& buffer);
  Addr getpeername(int fd, const AddrBuf& buffer);
  int poll(int fd, short events, Wait wait = Wait::Now);
  // Waits until the socket is ready or `until` is posted, whichever comes first; when both are,
  // the socket's readiness wins. Lets an event-loop server accept a connection that may or may not
  // come: "result" is "ready", "not-ready" (the event came first) or "timeout" (neither came).
  int poll(int fd, short events, Event& until);

  // ---- Files and identity (actor_files.cc).
  int mkdir(const std::string& path, unsigned mode);
  int create_file(const std::string& path, unsigned mode);  // an empty regular file (O_EXCL)
  int chmod(const std::string& path, unsigned mode);
  int unlink(const std::string& path);
  int symlink(const std::string& target, const std::string& path);  // path -> target
  void stat(const std::string& path);  // file type and permission bits
  void umask(unsigned mask);
  int become(const Identity& who);  // switch uid/gids mid-story (declare it with Scenario::uses)

  // ---- Pairs (actor_pairs.cc; kinds in kinds.h): a connected pair of the kind. x connected, y accepted; datagram ends are both
  // named and connected to each other. One "pair" observation; its steps are the portable recipe
  // (nonblocking connect, poll, accept) and are not recorded one by one. The ends are labelled "x"
  // and "y" ("x2", "y2" for the scenario's second pair) and named after their labels ("y.sock").
  Pair pair(const SocketKind& kind);

  // ---- Messages (actor_msg.cc; message.h). Buffers the kernel fills have guard bytes: "overrun" lists any written
  // past. Control buffers are sized by Room, ABI-neutrally; received descriptors are described by
  // the file they refer to (label()), and any the call installed but did not report are
  // "leaked_fds".
  long sendto(int fd, const std::string& data, const Addr& to, int flags = 0);
  std::string recvfrom(int fd, size_t max, size_t name_bytes, int flags = 0);
  std::string recvfrom(int fd, size_t max, const AddrBuf& name, int flags = 0);
  long sendmsg(int fd, const Msg& msg);
  Received recvmsg(int fd, const Recv& how);
  int sendmmsg(int fd, const std::vector<std::string>& messages, int flags = 0);
  int recvmmsg(int fd, unsigned count, size_t max, int flags = 0);
  long send_bytes(int fd, size_t n, int flags = 0);  // n filler bytes: "all", "partial", errno
  void fill(int fd, size_t chunk = 1024);  // send(MSG_DONTWAIT) until it fails
  void drain(int fd);                      // recv(MSG_DONTWAIT) until it fails or ends
  std::string read(int fd, size_t max);
  long write(int fd, const std::string& data);

  // ---- Socket options and ioctls (actor_opts.cc), values decoded by name (SO_TYPE "SOCK_STREAM", SO_PEERCRED roles).
  int getsockopt(int fd, int level, int option);
  // With an explicit optlen, for short buffers: records optlen and optlen_out. ABI-neutral sizes
  // only (ints, struct ucred, gid_t arrays), never sizes of structs that differ between ABIs.
  int getsockopt(int fd, int level, int option, socklen_t optlen);
  // An int option compared with a bound instead of recorded: for values the kernel derives from its
  // own struct sizes (the SO_SNDBUF floor), which differ between kernels and architectures.
  int getsockopt_at_least(int fd, int level, int option, int minimum);
  int setsockopt(int fd, int level, int option, int value);
  int setsockopt_bytes(int fd, int level, int option, const std::string& optval, const std::string& label);
  int setsockopt_timeval(int fd, int option, long sec, long usec);
  int setsockopt_linger(int fd, int onoff, int seconds);
  int ioctl(int fd, unsigned long request);  // FIONREAD, SIOCOUTQ: the int it reports

  // ---- Descriptors and files (actor_fds.cc).
  void label(int fd, const std::string& name);  // unrecorded: what fd's file is called in traces
  void describe(int fd);                         // what fd refers to: a label, "unknown socket", "closed"
  void fd_flags(int fd);                         // FD_CLOEXEC and O_NONBLOCK
  int set_cloexec(int fd);
  int dup(int fd);
  std::vector<int> dups(int fd, int n);    // n duplicates, one observation
  void close_all(const std::vector<int>& fds);  // one observation
  int open(const std::string& path, int flags, unsigned mode = 0644);  // labels the fd with path
  std::string pread(int fd, size_t max, long offset);
  int allow_fds(int n);  // RLIMIT_NOFILE so that exactly n more descriptors fit
  int mknod(const std::string& path, unsigned mode);
  void proc_net_unix(int fd);  // the socket's line in /proc/net/unix, normalised

  // ---- Signals (actor_signals.cc).
  void catch_signal(int sig);  // count deliveries instead of the default action
  void caught(int sig);        // how many have been delivered
  int set_async(int fd);       // O_ASYNC and F_SETOWN to this process: SIGIO on activity

  // ---- epoll (actor_epoll.cc): registrations are named, and epoll_wait records events by name.
  int epoll_create();
  int epoll_add(int ep, int fd, unsigned events, const std::string& label);
  int epoll_wait(int ep, Wait wait = Wait::Now);

  // ---- Processes and the trace (actor_proc.cc). fork() runs body in a child named `role` that inherits this actor's descriptors;
  // join() waits for it (bounded) and adds it to the trace as an actor of its own, after this one.
  Child fork(const std::string& role, std::function<void(Actor&)> body);
  void join(Child& child);
  void exec_probe(int fd);  // is fd open in a program this actor execs (/bin/sh)?
  pid_t reaped_pid();       // the pid of a child already reaped (named "reaped")
  // Unrecorded: the pid of the scenario's actor `role` (0 if none), e.g. to claim its credentials.
  pid_t pid_of(const std::string& role) const;

  // Free-form observation for things no operation above covers.
  void record(const std::string& encoded_json_line);

 private:
  friend class Scenario;
  int accept(int fd, const AddrBuf& buffer, bool record_buffer);
  Actor(std::string role, int trace_fd) : role_(std::move(role)), trace_fd_(trace_fd) {}
  void write_line(const std::string& line);
  std::string role_;
  int trace_fd_;
};

// A one-shot latch between actors: once posted it stays posted, so any number of actors may wait.
class Event {
 public:
  void post();
  // Returns when posted. If the event is not posted within the event timeout the waiting actor
  // records it and ends, so a broken backend costs time, never a hang.
  void wait();
  const std::string& name() const { return name_; }
  // Readable once posted: to poll for the event together with sockets.
  int pollable_fd() const { return read_fd_; }

 private:
  friend class Scenario;
  friend class Actor;
  std::string name_;
  int read_fd_ = -1;
  int write_fd_ = -1;
};

class Scenario {
 public:
  Scenario();  // named after the running GoogleTest test
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  Event& event(const std::string& name);
  // Posted by the harness once the actor `role` has ended and been reaped, so every descriptor it
  // held is closed: how a story says "after the peer exited" without guessing how long that takes.
  Event& ended(const std::string& role);
  // Each actor starts in the scenario directory with umask 022, whatever the caller's umask.
  void actor(const std::string& role, const Identity& who, std::function<void(Actor&)> body);
  void actor(const std::string& role, std::function<void(Actor&)> body) {
    actor(role, Runner(), std::move(body));
  }
  // An attacker: its observations are kept in the trace as evidence but never compared with the
  // oracle, so a verdict rests on what the victims observed, not on the attacker's own report.
  void attacker(const std::string& role, const Identity& who, std::function<void(Actor&)> body);
  // An identity an actor switches to mid-story; the scenario needs it to be available.
  void uses(const Identity& who) { extra_identities_.push_back(&who); }

  // Forks the actors, waits for them (bounded), writes the trace, removes the directory.
  // Marks the GoogleTest test skipped when the scenario is UNSUPPORTED here.
  void run();

 private:
  struct ActorSpec {
    std::string role;
    const Identity* who;
    std::function<void(Actor&)> body;
    bool judged = true;
  };
  struct Run;
  std::string unsupported_reason() const;
  void start_actors(Run& run);
  void supervise(Run& run);
  std::vector<std::string> collect_traces(Run& run) const;
  void write_trace(const std::string& status, const std::string& reason,
                   const std::vector<std::string>& actor_json) const;

  std::string name_;
  std::string dir_;
  std::deque<Event> events_;
  std::vector<std::pair<std::string, Event*>> ended_events_;  // role -> event posted at its end
  std::vector<ActorSpec> actors_;
  std::vector<const Identity*> extra_identities_;
};

}  // namespace afunix
