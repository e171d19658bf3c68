// Actor, "Messages" (scenario.h): send/recv beyond the basics, sendto/recvfrom, sendmsg/recvmsg
// with ancillary data, sendmmsg/recvmmsg, filling or draining a socket, read/write.
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <future>
#include <thread>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "actor_util.h"
#include "context.h"
#include "guard.h"
#include "kinds.h"
#include "platform_compat.h"
#include "message.h"
#include "names.h"
#include "observation.h"
#include "platform.h"
#include "scenario.h"
#include "watchdog.h"

namespace afunix {

using util::count_or_error;
using util::outcome;

// ---- Room -----------------------------------------------------------------------------------

Room Room::none() { return Room(0, "none"); }
Room Room::fds(int n) {
  return Room(CMSG_LEN(n * sizeof(int)), "fds(" + std::to_string(n) + ")");
}
Room Room::creds() { return Room(CMSG_SPACE(sizeof(CredentialsLayout)), "creds"); }
Room Room::creds_exact() { return Room(CMSG_LEN(sizeof(CredentialsLayout)), "creds_exact"); }
Room Room::header() { return Room(CMSG_LEN(0), "header"); }
Room Room::plenty() { return Room(4096, "plenty"); }
Room Room::operator+(const Room& more) const {
  // The kernel advances by CMSG_SPACE after each cmsg it writes: the first room is rounded up.
  return Room(CMSG_ALIGN(bytes_) + more.bytes_, label_ + "+" + more.label_);
}
Room Room::minus(size_t bytes) const {
  return Room(bytes_ > bytes ? bytes_ - bytes : 0, label_ + "-" + std::to_string(bytes));
}

Msg& Msg::own_creds() { return creds({getpid(), geteuid(), getegid()}); }

Recv& Recv::name(size_t bytes, const Addr& held) {
  name_ = bytes;
  name_held_ = std::make_shared<const Addr>(held);
  return *this;
}

Msg& Msg::to(const Addr& addr) {
  to_ = std::make_shared<const Addr>(addr);
  return *this;
}

// ---- sendto / recvfrom ----------------------------------------------------------------------

long Actor::sendto(int fd, const std::string& data, const Addr& to, int flags) {
  platform::require_msg_flags(flags);
  Returned r = under_watchdog([&] { return ::sendto(fd, data.data(), data.size(), flags, to.sa(), to.len()); });
  Obs o("sendto");
  o.str("data", escape_bytes(data)).str("to", to.label());
  if (!to.stale().empty()) o.str("stale", to.stale());
  if (flags) o.str("flags", msg_flags_name(flags));
  record(count_or_error(o, r).encode());
  return r.ret;
}

std::string Actor::recvfrom(int fd, size_t max, size_t name_bytes, int flags) {
  return recvfrom(fd, max, AddrBuf(static_cast<socklen_t>(name_bytes)), flags);
}

std::string Actor::recvfrom(int fd, size_t max, const AddrBuf& how, int flags) {
  platform::require_msg_flags(flags);
  const size_t name_bytes = how.bytes();
  Guarded buf(max);
  Guarded name(name_bytes, 0x5a);
  util::prefill(name.data(), name_bytes, how);
  const std::string before(name.data(), name_bytes);
  socklen_t namelen = static_cast<socklen_t>(name_bytes);
  Returned r = under_watchdog([&] { return ::recvfrom(fd, buf.data_or_null(), max, flags,
                   name_bytes ? reinterpret_cast<sockaddr*>(name.data()) : nullptr,
                   name_bytes ? &namelen : nullptr); });
  Obs o("recvfrom");
  o.num("max", static_cast<long long>(max)).num("name", static_cast<long long>(name_bytes));
  if (how.holds()) o.str("held", how.held().label());
  if (flags) o.str("flags", msg_flags_name(flags));
  count_or_error(o, r);
  std::string data = r.ret > 0 ? std::string(buf.data(), std::min<size_t>(r.ret, max)) : "";
  if (r.ret > 0) o.str("data", escape_bytes(data));
  if (r.ok() && name_bytes) util::record_address(o, "from", "fromlen", name.data(), name_bytes, namelen, before);
  Overruns().check(buf, "data").check(name, "name").add_to(o);
  record(o.encode());
  return data;
}

// ---- sendmsg / recvmsg ----------------------------------------------------------------------

long Actor::sendmsg(int fd, const Msg& m) {
  std::vector<iovec> iov;
  for (const std::string& part : m.iov_)
    iov.push_back({const_cast<char*>(part.data()), part.size()});
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  if (m.to_) {
    msg.msg_name = const_cast<sockaddr*>(m.to_->sa());
    msg.msg_namelen = m.to_->len();
  }
  platform::require_msg_flags(m.flags_);
  if (m.has_creds_) platform::require(platform::Feature::ScmCredentials);
  size_t creds_space = m.has_creds_ ? CMSG_SPACE(sizeof(CredentialsLayout)) : 0;
  size_t rights_data = m.rights_.size() * sizeof(int);
  size_t rights_space = m.has_rights_ ? std::max(CMSG_SPACE(rights_data), CMSG_SPACE(m.cmsg_len_)) : 0;
  std::vector<char> control(creds_space + rights_space + 64, 0);
  // The union keeps the buffer aligned for cmsghdr, as CMSG_FIRSTHDR needs.
  std::vector<cmsghdr> aligned((control.size() + sizeof(cmsghdr) - 1) / sizeof(cmsghdr) + 1);
  char* ctl = reinterpret_cast<char*>(aligned.data());
  size_t controllen = 0;
#if AFUNIX_HAVE_SCM_CREDENTIALS
  if (m.has_creds_) {
    cmsghdr* c = reinterpret_cast<cmsghdr*>(ctl);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(ucred));
    ucred cred{m.creds_.pid, m.creds_.uid, m.creds_.gid};
    std::memcpy(CMSG_DATA(c), &cred, sizeof cred);
    controllen = creds_space;
  }
#endif
  if (m.has_rights_) {
    cmsghdr* c = reinterpret_cast<cmsghdr*>(ctl + controllen);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(rights_data);
    if (rights_data) std::memcpy(CMSG_DATA(c), m.rights_.data(), rights_data);
    if (m.cmsg_len_label_.empty()) {
      controllen += CMSG_SPACE(rights_data);
    } else {
      c->cmsg_len = m.cmsg_len_;
      // The header itself is always inside the buffer, so the kernel judges cmsg_len.
      controllen += std::max(m.cmsg_len_, CMSG_LEN(0));
    }
  }
  if (controllen) {
    msg.msg_control = ctl;
    msg.msg_controllen = controllen;
  }
  Returned r = under_watchdog([&] { return ::sendmsg(fd, &msg, m.flags_); });
  Obs o("sendmsg");
  if (m.iov_.size() == 1) {
    o.str("data", escape_bytes(m.iov_[0]));
  } else {
    std::vector<std::string> parts;
    for (const std::string& part : m.iov_) parts.push_back(escape_bytes(part));
    o.json("data", util::json_list(parts));
  }
  if (m.to_) o.str("to", m.to_->label());
  if (m.to_ && !m.to_->stale().empty()) o.str("stale", m.to_->stale());
  if (m.has_creds_) {
    o.json("creds", Obs::object()
                        .str("pid", context::pid_name(m.creds_.pid))
                        .str("uid", context::uid_name(m.creds_.uid))
                        .str("gid", context::gid_name(m.creds_.gid))
                        .encode());
  }
  if (m.has_rights_) o.json("rights", util::describe_fds(m.rights_, false));
  if (!m.cmsg_len_label_.empty()) o.str("cmsg_len", m.cmsg_len_label_);
  if (m.flags_) o.str("flags", msg_flags_name(m.flags_));
  record(count_or_error(o, r).encode());
  return r.ret;
}

Received Actor::recvmsg(int fd, const Recv& how) {
  platform::require_msg_flags(how.flags_);
  std::vector<Guarded> bufs;
  for (size_t size : how.iov_) bufs.emplace_back(size);
  std::vector<iovec> iov;
  for (Guarded& g : bufs) iov.push_back({g.data_or_null(), g.size()});
  Guarded name(how.name_, 0x5a);
  if (how.name_held_) util::prefill(name.data(), how.name_, AddrBuf(static_cast<socklen_t>(how.name_)).holding(*how.name_held_));
  const std::string name_before(name.data(), how.name_);
  Guarded control(how.room_.bytes(), 0x5a);
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  if (how.name_) {
    msg.msg_name = name.data();
    msg.msg_namelen = static_cast<socklen_t>(how.name_);
  }
  if (!how.room_.is_none()) {
    msg.msg_control = control.data_or_null();
    msg.msg_controllen = control.size();
  }
  msg.msg_flags = how.preset_;
  const bool track_fds = !how.room_.is_none();
  int open_before = track_fds ? util::count_open_fds() : 0;
  Returned r = under_watchdog([&] { return ::recvmsg(fd, &msg, how.flags_); });
  int installed = track_fds ? util::count_open_fds() - open_before : 0;

  Received got;
  got.result = r.blocked ? -1 : r.ret;
  got.msg_flags = msg.msg_flags;
  Obs o("recvmsg");
  if (how.iov_.size() == 1) {
    o.num("max", static_cast<long long>(how.iov_[0]));
  } else {
    std::string sizes = "[";
    for (size_t i = 0; i < how.iov_.size(); ++i) sizes += (i ? "," : "") + std::to_string(how.iov_[i]);
    o.json("iov", sizes + "]");
  }
  if (how.name_) o.num("name", static_cast<long long>(how.name_));
  if (how.name_held_) o.str("held", how.name_held_->label());
  if (!how.room_.is_none()) o.str("room", how.room_.label());
  if (how.flags_) o.str("flags", msg_flags_name(how.flags_));
  if (how.preset_) o.str("preset_msg_flags", msg_flags_name(how.preset_));
  count_or_error(o, r);
  if (r.ok()) {
    // The data as it landed in each buffer.
    size_t left = static_cast<size_t>(r.ret);
    std::vector<std::string> parts;
    for (Guarded& g : bufs) {
      size_t n = std::min(left, g.size());
      parts.push_back(std::string(g.data(), n));
      got.data += parts.back();
      left -= n;
    }
    if (bufs.size() == 1) {
      if (r.ret > 0) o.str("data", escape_bytes(got.data));
    } else {
      std::vector<std::string> escaped;
      for (const std::string& part : parts) escaped.push_back(escape_bytes(part));
      o.json("data", util::json_list(escaped));
    }
    o.str("msg_flags", msg_flags_name(msg.msg_flags));
    if (how.name_) util::record_address(o, "from", "fromlen", name.data(), how.name_, msg.msg_namelen, name_before);

    std::vector<std::string> cmsgs;
    int reported_fds = 0;
    if (msg.msg_control && msg.msg_controllen >= sizeof(cmsghdr)) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        Obs cm = Obs::object();
        cm.str("type", cmsg_type_name(c->cmsg_level, c->cmsg_type));
        size_t avail = reinterpret_cast<char*>(msg.msg_control) + msg.msg_controllen -
                       reinterpret_cast<char*>(CMSG_DATA(c));
        size_t data = c->cmsg_len >= CMSG_LEN(0) ? std::min<size_t>(c->cmsg_len - CMSG_LEN(0), avail) : 0;
        const unsigned char* d = CMSG_DATA(c);
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          std::vector<int> fds(data / sizeof(int));
          if (!fds.empty()) std::memcpy(fds.data(), d, fds.size() * sizeof(int));
          cm.json("fds", util::describe_fds(fds, true));
          if (data % sizeof(int)) cm.num("partial_bytes", static_cast<long long>(data % sizeof(int)));
          reported_fds += static_cast<int>(fds.size());
          got.fds.insert(got.fds.end(), fds.begin(), fds.end());
#if AFUNIX_HAVE_SCM_CREDENTIALS
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
          ucred cred{};
          std::memcpy(&cred, d, std::min(data, sizeof cred));
          if (data >= offsetof(ucred, pid) + sizeof cred.pid) cm.str("pid", context::pid_name(cred.pid));
          if (data >= offsetof(ucred, uid) + sizeof cred.uid) cm.str("uid", context::uid_name(cred.uid));
          if (data >= offsetof(ucred, gid) + sizeof cred.gid) cm.str("gid", context::gid_name(cred.gid));
          if (data < sizeof cred) cm.num("bytes", static_cast<long long>(data));
#endif
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_PIDFD && data >= sizeof(int)) {
          int pidfd;
          std::memcpy(&pidfd, d, sizeof pidfd);
          cm.str("process", util::pidfd_process(pidfd));
          ++reported_fds;  // installed, reported, and closed here
          if (pidfd >= 0) ::close(pidfd);
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_INQ && data >= sizeof(int)) {
          int inq;
          std::memcpy(&inq, d, sizeof inq);
          cm.num("value", inq);
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_SECURITY) {
          cm.str("label", escape_bytes(std::string(reinterpret_cast<const char*>(d), data)));
        } else {
          cm.num("bytes", static_cast<long long>(data));
        }
        cmsgs.push_back(cm.encode());
      }
    }
    if (!cmsgs.empty()) {
      std::string list = "[";
      for (size_t i = 0; i < cmsgs.size(); ++i) list += (i ? "," : "") + cmsgs[i];
      o.json("control", list + "]");
    }
    if (track_fds && installed != reported_fds) o.num("leaked_fds", installed - reported_fds);
  }
  Overruns over;
  // One buffer is "data"; several are named by their place, so each keeps its own count.
  for (size_t i = 0; i < bufs.size(); ++i)
    over.check(bufs[i], bufs.size() == 1 ? "data" : "data[" + std::to_string(i) + "]");
  over.check(name, "name").check(control, "control").add_to(o);
  record(o.encode());
  return got;
}

// ---- sendmmsg / recvmmsg --------------------------------------------------------------------

int Actor::sendmmsg(int fd, const std::vector<std::string>& messages, int flags) {
  platform::require(platform::Feature::Sendmmsg);
  platform::require_msg_flags(flags);
#if AFUNIX_HAVE_SENDMMSG
  std::vector<iovec> iov(messages.size());
  std::vector<mmsghdr> hdrs(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    iov[i] = {const_cast<char*>(messages[i].data()), messages[i].size()};
    hdrs[i] = {};
    hdrs[i].msg_hdr.msg_iov = &iov[i];
    hdrs[i].msg_hdr.msg_iovlen = 1;
  }
  Returned r = under_watchdog([&] { return ::sendmmsg(fd, hdrs.data(), static_cast<unsigned>(hdrs.size()), flags); });
  Obs o("sendmmsg");
  std::vector<std::string> escaped;
  for (const std::string& m : messages) escaped.push_back(escape_bytes(m));
  o.json("messages", util::json_list(escaped));
  if (flags) o.str("flags", msg_flags_name(flags));
  count_or_error(o, r);
  if (r.ret > 0 && !r.blocked) {
    std::string sent = "[";
    for (int i = 0; i < r.ret; ++i) sent += (i ? "," : "") + std::to_string(hdrs[i].msg_len);
    o.json("sent", sent + "]");
  }
  record(o.encode());
  return r.ret;
#else
  (void)fd, (void)messages;
  return -1;
#endif
}

int Actor::recvmmsg(int fd, unsigned count, size_t max, int flags) {
  platform::require(platform::Feature::Sendmmsg);
  platform::require_msg_flags(flags);
#if AFUNIX_HAVE_SENDMMSG
  std::vector<Guarded> bufs;
  for (unsigned i = 0; i < count; ++i) bufs.emplace_back(max);
  std::vector<iovec> iov(count);
  std::vector<mmsghdr> hdrs(count);
  for (unsigned i = 0; i < count; ++i) {
    iov[i] = {bufs[i].data(), max};
    hdrs[i] = {};
    hdrs[i].msg_hdr.msg_iov = &iov[i];
    hdrs[i].msg_hdr.msg_iovlen = 1;
  }
  Returned r = under_watchdog([&] { return ::recvmmsg(fd, hdrs.data(), count, flags, nullptr); });
  Obs o("recvmmsg");
  o.num("count", count).num("max", static_cast<long long>(max));
  if (flags) o.str("flags", msg_flags_name(flags));
  count_or_error(o, r);
  if (r.ret > 0 && !r.blocked) {
    std::vector<std::string> got;
    for (int i = 0; i < r.ret; ++i) {
      got.push_back(Obs::object()
                        .str("data", escape_bytes(std::string(bufs[i].data(), std::min<size_t>(hdrs[i].msg_len, max))))
                        .str("msg_flags", msg_flags_name(hdrs[i].msg_hdr.msg_flags))
                        .encode());
    }
    std::string list = "[";
    for (size_t i = 0; i < got.size(); ++i) list += (i ? "," : "") + got[i];
    o.json("messages", list + "]");
  }
  Overruns over;
  for (size_t i = 0; i < bufs.size(); ++i)
    over.check(bufs[i], bufs.size() == 1 ? "data" : "data[" + std::to_string(i) + "]");
  over.add_to(o);
  record(o.encode());
  return r.ret;
#else
  (void)fd, (void)count, (void)max;
  return -1;
#endif
}

// ---- bulk -----------------------------------------------------------------------------------

long Actor::send_bytes(int fd, size_t n, int flags) {
  platform::require_msg_flags(flags);
  std::string data = util::filler(n);
  Returned r = under_watchdog([&] { return ::send(fd, data.data(), n, flags); });
  Obs o("send_bytes");
  o.num("bytes", static_cast<long long>(n));
  if (flags) o.str("flags", msg_flags_name(flags));
  if (r.blocked || r.ret < 0) o.str("result", outcome(r));
  else o.str("result", static_cast<size_t>(r.ret) == n ? "all" : "partial");
  record(o.encode());
  return r.ret;
}

// How much fill() sends before it says "never stopped": 300 times the default AF_UNIX send buffer
// (212992 bytes) and six times what loopback TCP's autotuned buffers take (4 + 6 MiB), so every
// full buffer, emulated over TCP too, says EAGAIN first. An emulation over UDP never refuses a
// datagram: 1 GiB of them kept the CPU busy for seconds and the scenario ran into its deadline.
constexpr long kFillLimitBytes = 64L << 20;

void Actor::fill(int fd, size_t chunk) {
  std::string data = util::filler(chunk);
  long sent = 0;
  int err = 0;
  for (int i = 0; i < 1000000 && sent < kFillLimitBytes; ++i) {
    long r = ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0) {
      err = errno;
      break;
    }
    sent += r;
  }
  record(Obs("fill")
             .num("chunk", static_cast<long long>(chunk))
             .str("sent", sent ? "some" : "none")
             .str("result", err ? errno_name(err) : "never stopped")
             .encode());
}

void Actor::drain(int fd) {
  std::vector<char> buf(65536);
  long got = 0;
  std::string stop = "never stopped";
  for (int i = 0; i < 1000000; ++i) {
    long r = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (r < 0) {
      stop = errno_name(errno);
      break;
    }
    if (r == 0) {
      // A zero-length datagram is a message; on a connection 0 is the end.
      int type = 0;
      socklen_t len = sizeof type;
      ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
      if (type != SOCK_DGRAM) {
        stop = "eof";
        break;
      }
    }
    got += r + 1;
  }
  record(Obs("drain").str("received", got ? "some" : "none").str("result", stop).encode());
}

// ---- read / write ---------------------------------------------------------------------------

std::string Actor::read(int fd, size_t max) {
  Guarded buf(max);
  Returned r = under_watchdog([&] { return ::read(fd, buf.data_or_null(), max); });
  Obs o("read");
  o.num("max", static_cast<long long>(max));
  util::count_or_error(o, r);
  std::string data = r.ret > 0 ? std::string(buf.data(), std::min<size_t>(r.ret, max)) : "";
  if (r.ret > 0) o.str("data", escape_bytes(data));
  Overruns().check(buf, "data").add_to(o);
  record(o.encode());
  return data;
}

long Actor::write(int fd, const std::string& data) {
  Returned r = under_watchdog([&] { return ::write(fd, data.data(), data.size()); });
  Obs o("write");
  o.str("data", escape_bytes(data));
  record(util::count_or_error(o, r).encode());
  return r.ret;
}

}  // namespace afunix
