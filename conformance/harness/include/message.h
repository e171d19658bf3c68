// What sendmsg() sends and how recvmsg() receives, described the way a scenario reads: data, the
// descriptors and credentials attached, the room given for ancillary data. Every size that reaches
// a trace is ABI-neutral: control buffers are sized with CMSG_LEN/CMSG_SPACE of this ABI and named
// by what they hold ("fds(2)", "creds-1"), never by their byte count, which differs between 32- and
// 64-bit programs.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace afunix {

class Addr;

// SCM_CREDENTIALS as a sender states them.
struct Creds {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

// A message to send: data (one string per iovec), ancillary data, destination, flags.
class Msg {
 public:
  Msg() = default;
  explicit Msg(std::string data) { iov_.push_back(std::move(data)); }

  Msg& iov(std::vector<std::string> parts) { iov_ = std::move(parts); return *this; }
  Msg& rights(std::vector<int> fds) { rights_ = std::move(fds); has_rights_ = true; return *this; }
  Msg& creds(Creds c) { creds_ = c; has_creds_ = true; return *this; }
  Msg& own_creds();  // this process's pid, uid and gid, as a program fills them in
  Msg& to(const Addr& addr);  // a copy: the message may outlive the address it was given
  Msg& flags(int f) { flags_ = f; return *this; }
  // Sets the SCM_RIGHTS header's cmsg_len (and msg_controllen) to `len`, for malformed messages;
  // `label` is how the trace names it, e.g. "CMSG_LEN(sizeof(int))+2".
  Msg& rights_cmsg_len(size_t len, std::string label) {
    cmsg_len_ = len;
    cmsg_len_label_ = std::move(label);
    return *this;
  }

 private:
  friend class Actor;
  std::vector<std::string> iov_;
  std::vector<int> rights_;
  bool has_rights_ = false;
  Creds creds_{};
  bool has_creds_ = false;
  std::shared_ptr<const Addr> to_;
  int flags_ = 0;
  size_t cmsg_len_ = 0;
  std::string cmsg_len_label_;
};

// Room for ancillary data in a recvmsg() control buffer, built from CMSG_LEN/CMSG_SPACE of this ABI.
class Room {
 public:
  static Room none();           // msg_control NULL, msg_controllen 0
  static Room fds(int n);       // CMSG_LEN(n * sizeof(int)): exactly n descriptors on every ABI
  static Room creds();          // CMSG_SPACE(sizeof(struct ucred))
  static Room creds_exact();    // CMSG_LEN(sizeof(struct ucred)): no trailing padding
  static Room header();         // CMSG_LEN(0): a header and no data
  static Room plenty();         // 4096 bytes
  Room operator+(const Room& more) const;  // one cmsg's room after another's
  Room minus(size_t bytes) const;          // `bytes` short of this room ("creds-1")

  size_t bytes() const { return bytes_; }
  const std::string& label() const { return label_; }
  bool is_none() const { return label_ == "none"; }

 private:
  Room(size_t bytes, std::string label) : bytes_(bytes), label_(std::move(label)) {}
  size_t bytes_;
  std::string label_;
};

// How to receive: buffer sizes (one per iovec), room for the source address and ancillary data,
// flags, and the msg_flags the caller leaves in the header before the call.
class Recv {
 public:
  explicit Recv(size_t max = 64) { iov_.push_back(max); }
  Recv& iov(std::vector<size_t> sizes) { iov_ = std::move(sizes); return *this; }
  Recv& name(size_t bytes) { name_ = bytes; return *this; }  // msg_name buffer of `bytes`
  Recv& name(size_t bytes, const Addr& held);  // ... holding an earlier address (AddrBuf)
  Recv& room(const Room& r) { room_ = r; return *this; }
  Recv& flags(int f) { flags_ = f; return *this; }
  Recv& preset_msg_flags(int f) { preset_ = f; return *this; }

 private:
  friend class Actor;
  std::vector<size_t> iov_;
  size_t name_ = 0;
  std::shared_ptr<const Addr> name_held_;
  Room room_ = Room::none();
  int flags_ = 0;
  int preset_ = 0;
};

// What recvmsg() gave: the result, the data, the descriptors it installed (in order; the caller
// owns them) and msg_flags.
struct Received {
  long result = -1;
  std::string data;
  std::vector<int> fds;
  int msg_flags = 0;
};

}  // namespace afunix
