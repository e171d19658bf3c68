// Driving the exchange a stream connection runs (drive.cc): how far it has got lives in the
// socket's Exchange (exchange.h, plain data); this moves it on when the design's choices
// (design.h) say so: at connect(), before the first send or recv, before SO_PEERCRED.
#pragma once

#include <fcntl.h>

#include <cerrno>

#include "exchange.h"
#include "shim.h"

namespace afunix_emu {

// The exchange's I/O: the real send and recv on the TCP socket.
extern const ExIo kIo;

bool is_nonblocking(int fd);

// Cygwin's af_local_setblocking: the exchange runs on a blocking socket whatever the application
// chose, and the socket's mode is restored afterwards.
class ForcedBlocking {
 public:
  explicit ForcedBlocking(int fd) : fd_(fd), flags_(real.fcntl(fd, F_GETFL)) {
    if (flags_ >= 0 && (flags_ & O_NONBLOCK)) real.fcntl(fd_, F_SETFL, flags_ & ~O_NONBLOCK);
  }
  ~ForcedBlocking() {
    int saved = errno;
    if (flags_ >= 0 && (flags_ & O_NONBLOCK)) real.fcntl(fd_, F_SETFL, flags_);
    errno = saved;
  }
  ForcedBlocking(const ForcedBlocking&) = delete;
  ForcedBlocking& operator=(const ForcedBlocking&) = delete;

 private:
  int fd_;
  int flags_;
};

// Whether the socket's connection runs an exchange (the design has one, and this socket was not
// made without it: AFUNIX_EMU_NOHANDSHAKE).
bool needs_exchange(const SockState* st);
// Whether a TCP connect or an exchange is still under way.
bool pending(const SockState* st);
// A TCP connect still in progress: wait for it (block) or look (not block). 0 once connected,
// and the exchange's opening bytes are on the wire.
int finish_tcp_connect(int fd, SockState* st, bool block);
// The TCP connection is up: start the design's exchange; what connect() returns.
int after_tcp_connect(int fd, SockState* st, bool nonblocking);
// connect() again on a socket whose earlier connect was interrupted or is still in progress.
int resume_connect(int fd, SockState* st);
// SO_PEERCRED completes a pending exchange, blocking.
int prepare_peercred(int fd, SockState* st);

}  // namespace afunix_emu
