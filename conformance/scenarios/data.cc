// Data: what a recv() returns after which send()s. A stream is a byte stream (sends merge and
// split), SOCK_DGRAM and SOCK_SEQPACKET keep message boundaries and cut what does not fit, and
// flags (MSG_PEEK, MSG_WAITALL, MSG_TRUNC, MSG_OOB) change what one call takes. Emulations that
// carry AF_UNIX over TCP must rebuild boundaries themselves, and often do not.
//
// One actor holds both ends of a pair, as gVisor's socket tests do: nothing here depends on who
// the peer is, and no call blocks unless blocking is the observation.
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "linux_compat.h"
#include "scenario.h"

using namespace afunix;

namespace {
// Large enough to fill any default send buffer, so a nonblocking send stops part way.
constexpr size_t kMoreThanAnyBuffer = 8 << 20;
}  // namespace

TEST_KINDS(Data, StreamCoalescesSends, StreamKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "one");
    a.send(x, "two");
    a.recv(y, 64);
  });
  sc.run();
}

TEST_KINDS(Data, StreamSplitsSends, StreamKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "abcdef");
    a.recv(y, 4);
    a.recv(y, 4);
  });
  sc.run();
}

TEST_KINDS(Data, MessageBoundaries, MessageKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "one");
    a.send(x, "two");
    a.recv(y, 64);
    a.recv(y, 64);
  });
  sc.run();
}

// What does not fit is dropped, and msg_flags says so; the next message is whole.
TEST_KINDS(Data, TruncatedMessage, MessageKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "abcdef");
    a.send(x, "gh");
    a.recvmsg(y, Recv(4));
    a.recvmsg(y, Recv(4));
  });
  sc.run();
}

// recv(MSG_TRUNC) returns the real length of a message, not what was copied.
TEST_KINDS(Data, RecvTruncReturnsFullLength, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "abcdef");
    a.send(x, "gh");
    a.recv(y, 2, MSG_TRUNC);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// A zero-length datagram is a message; on a stream nothing is queued.
TEST_KINDS(Data, ZeroLengthSend, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "");
    a.recvmsg(y, Recv(64).flags(MSG_DONTWAIT));
    a.send(x, "after");
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// Nothing to read: a blocking socket blocks (the watchdog ends it), a nonblocking one says EAGAIN.
TEST_KINDS(Data, RecvOnEmptySocket, BothBlockingModes(CoreKinds())) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.recv(y, 64);
    a.send(x, "late");
    a.recv(y, 64);
  });
  sc.run();
}

TEST_KINDS(Data, RecvAfterPeerShutdownWrite, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "last");
    a.shutdown(x, SHUT_WR);
    a.recv(y, 64, MSG_DONTWAIT);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// Linux 4.3+: a stream peek may span what several sends wrote; messages are peeked one at a time.
TEST_KINDS(Data, PeekThenRead, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "one");
    a.send(x, "two");
    a.recv(y, 64, MSG_PEEK);
    a.recv(y, 64, MSG_PEEK);
    a.recv(y, 64);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

TEST_KINDS(Data, WaitallFillsBuffer, StreamKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "abc");
    a.send(x, "def");
    a.send(x, "ghi");
    a.recv(y, 6, MSG_WAITALL);
  });
  sc.run();
}

// MSG_WAITALL gives up at SO_RCVTIMEO with what it has: the wait is the observation.
TEST_KINDS(Data, WaitallWithTimeoutReturnsPartial, StreamKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt_timeval(y, SO_RCVTIMEO, 0, 50000);
    a.send(x, "abc");
    a.recv(y, 6, MSG_WAITALL);
  });
  sc.run();
}

// On message sockets MSG_WAITALL still returns one message.
TEST_KINDS(Data, WaitallReturnsOneMessage, MessageKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "abc");
    a.send(x, "def");
    a.recv(y, 6, MSG_WAITALL);
    a.recv(y, 6, MSG_WAITALL);
  });
  sc.run();
}

TEST_KINDS(Data, MessageLargerThanSendBuffer, MessageKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(x, SOL_SOCKET, SO_SNDBUF, 4096);
    a.send_bytes(x, 65536);
    a.send_bytes(x, 1024);
    a.recv(y, 16, MSG_DONTWAIT);
  });
  sc.run();
}

// A nonblocking writer facing a full buffer: a short write, then EAGAIN.
TEST_KINDS(Data, NonblockingShortWrite, KindsOf({SOCK_STREAM}, AllNamings(), {true})) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send_bytes(x, kMoreThanAnyBuffer);
    a.send_bytes(x, 1);
    a.recv(y, 4);
  });
  sc.run();
}

// FIONREAD: every unread byte of a stream, the first message of a datagram socket.
TEST_KINDS(Data, FionreadCountsUnread, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.ioctl(y, FIONREAD);
    a.send(x, "abc");
    a.send(x, "defgh");
    a.ioctl(y, FIONREAD);
    a.recv(y, 2);
    a.ioctl(y, FIONREAD);
  });
  sc.run();
}

// SO_INQ (Linux 6.17+): an SCM_INQ control message with what is left to read.
TEST_KINDS(Data, InqControlMessage, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_INQ, 1);
    a.getsockopt(y, SOL_SOCKET, SO_INQ);
    a.send(x, "abc");
    a.send(x, "def");
    a.recvmsg(y, Recv(2).room(Room::plenty()));
    a.recvmsg(y, Recv(64).room(Room::plenty()));
  });
  sc.run();
}

TEST_KINDS(Data, SendmmsgRecvmmsg, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.sendmmsg(x, {"one", "two", "three"});
    a.recvmmsg(y, 4, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// msg_flags is output only: what the caller left there is cleared.
TEST_KINDS(Data, InputMsgFlagsIgnored, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "abc");
    a.recvmsg(y, Recv(64).preset_msg_flags(MSG_TRUNC | MSG_CTRUNC | MSG_EOR | MSG_OOB));
  });
  sc.run();
}

// Gather on send, scatter on receive: the iovecs do not make boundaries, messages do.
TEST_KINDS(Data, ScatterGather, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.sendmsg(x, Msg().iov({"ab", "cd", "ef"}));
    a.sendmsg(x, Msg().iov({"gh", "ij"}));
    a.recvmsg(y, Recv().iov({3, 2, 4}));
    a.recvmsg(y, Recv().iov({3, 2, 4}).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// MSG_OOB (CONFIG_AF_UNIX_OOB, Linux 5.15+): one urgent byte on streams, refused elsewhere.
TEST_KINDS(Data, OutOfBandByte, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.send(x, "ab");
    a.send(x, "c", MSG_OOB);
    a.send(x, "de");
    a.recv(y, 64, MSG_DONTWAIT);
    a.recv(y, 1, MSG_OOB | MSG_DONTWAIT);
    a.recv(y, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// SO_PEEK_OFF: successive peeks walk forward; a read moves the offset back with the data.
TEST_KINDS(Data, PeekOffset, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.setsockopt(y, SOL_SOCKET, SO_PEEK_OFF, 0);
    a.send(x, "abc");
    a.send(x, "def");
    a.recv(y, 2, MSG_PEEK);
    a.recv(y, 2, MSG_PEEK);
    a.getsockopt(y, SOL_SOCKET, SO_PEEK_OFF);
    a.recv(y, 2);
    a.getsockopt(y, SOL_SOCKET, SO_PEEK_OFF);
    a.recv(y, 64, MSG_PEEK);
  });
  sc.run();
}
