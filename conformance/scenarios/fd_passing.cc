// File-descriptor passing (SCM_RIGHTS): descriptors arrive as the same open files the sender had
// (traces name them after those files: "memo.txt", "y2"), within limits the kernel enforces, and a
// receiver that gives too little room gets MSG_CTRUNC with the extra descriptors closed, not
// leaked. qemu-user translates control messages between the guest's and the host's layout, and
// emulations over TCP must duplicate descriptors across processes themselves: both go wrong here.
//
// Whether a descriptor that did not arrive was closed shows through a probe: the last descriptor
// of a stream socketpair's end is passed and dropped; its peer then reads end of file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include "common.h"
#include "linux_compat.h"
#include "scenario.h"

using namespace afunix;

namespace {

// A regular file with known contents, labelled "memo.txt" in traces.
int Memo(Actor& a) {
  int fd = a.open("memo.txt", O_RDWR | O_CREAT | O_EXCL, 0600);
  a.write(fd, "memo contents");
  return fd;
}

// A file only its owner may open (mode 0600), labelled "secret.txt" in traces.
int Secret(Actor& a) {
  int fd = a.open("secret.txt", O_RDWR | O_CREAT | O_EXCL, 0600);
  a.write(fd, "for your eyes");
  return fd;
}

// The other user's side once a secret is on its way: poll until it arrives, find the file itself
// closed to it, receive the descriptor and read through it.
void ReadPassedSecret(Actor& a, int s) {
  a.poll(s, POLLIN, Wait::UntilReady);
  a.open("secret.txt", O_RDONLY);
  Received got = a.recvmsg(s, Recv(64).room(Room::fds(1)));
  if (!got.fds.empty()) a.pread(got.fds[0], 64, 0);
}

// A stream socketpair whose second end is passed around: when every copy of it is closed, the
// first end reads end of file.
std::pair<int, int> Probe(Actor& a) {
  auto ends = a.socketpair(SOCK_STREAM);
  a.label(ends.first, "probe-peer");
  a.label(ends.second, "probe");
  return ends;
}

}  // namespace

TEST_KINDS(FdPassing, PassOneFile, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.sendmsg(x, Msg("file").rights({memo}));
    Received got = a.recvmsg(y, Recv(64).room(Room::fds(1)));
    if (!got.fds.empty()) a.pread(got.fds[0], 64, 0);
  });
  sc.run();
}

// Three at once, in order, each usable: the passed socket still talks to its peer.
TEST_KINDS(FdPassing, PassThreeDescriptors, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    auto [peer, probe] = Probe(a);
    a.sendmsg(x, Msg("three").rights({memo, probe, x}));
    Received got = a.recvmsg(y, Recv(64).room(Room::fds(3)));
    if (got.fds.size() == 3) {
      a.send(got.fds[1], "through the passed socket");
      a.recv(peer, 64);
    }
  });
  sc.run();
}

// The sender may close its descriptors as soon as sendmsg() returns: the files are in flight.
TEST_KINDS(FdPassing, SenderClosesRightAfterSending, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.sendmsg(x, Msg("file").rights({memo}));
    a.close(memo);
    a.unlink("memo.txt");
    Received got = a.recvmsg(y, Recv(64).room(Room::fds(1)));
    if (!got.fds.empty()) a.pread(got.fds[0], 64, 0);
  });
  sc.run();
}

// Across processes and users: svc passes a file only it may open over a connection; the stranger
// reads it through the descriptor it was given.
TEST_KINDS(FdPassing, PassFileToAnotherUser, KindsOf({SOCK_STREAM, SOCK_SEQPACKET}, {Naming::Pathname, Naming::Abstract})) {
  Scenario sc;
  Event& ready = sc.event("ready");
  Event& received = sc.event("received");
  sc.actor("owner", ServiceOwner(), [&](Actor& a) {
    Bound srv = Listen(a, kind, "srv");
    ChmodSocketFile(a, kind, "srv", 0666);
    ready.post();
    int c = AcceptWhenReady(a, srv.fd);
    int secret = Secret(a);
    a.sendmsg(c, Msg("here").rights({secret}));
    received.wait();
  });
  sc.actor("reader", Stranger(), [&](Actor& a) {
    ready.wait();
    int s = Connect(a, Addr::named(kind.naming, "srv"), kind.type);
    ReadPassedSecret(a, s);
    received.post();
  });
  sc.run();
}

// The same by datagram: svc sends the file to the stranger's bound address.
TEST_KINDS(FdPassing, PassFileToAnotherUserByDatagram, KindsOf({SOCK_DGRAM}, {Naming::Pathname, Naming::Abstract})) {
  Scenario sc;
  Event& ready = sc.event("ready");
  Event& reader_bound = sc.event("reader-bound");
  Event& received = sc.event("received");
  sc.actor("owner", ServiceOwner(), [&](Actor& a) {
    Bound srv = Bind(a, kind, "srv");
    ChmodSocketFile(a, kind, "srv", 0666);
    ready.post();
    reader_bound.wait();
    int secret = Secret(a);
    a.sendmsg(srv.fd, Msg("here").rights({secret}).to(Addr::named(kind.naming, "reader")));
    received.wait();
  });
  sc.actor("reader", Stranger(), [&](Actor& a) {
    ready.wait();
    Bound me = Bind(a, kind, "reader");
    ChmodSocketFile(a, kind, "reader", 0666);
    reader_bound.post();
    ReadPassedSecret(a, me.fd);
    received.post();
  });
  sc.run();
}

TEST_KINDS(FdPassing, BadDescriptor, KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}, {Naming::Socketpair})) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.close(memo);
    a.sendmsg(x, Msg("closed").rights({memo}));
    a.sendmsg(x, Msg("negative").rights({-1}));
    a.recvmsg(y, Recv(64).room(Room::fds(1)).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// Malformed SCM_RIGHTS headers: shorter than a header, and a partial descriptor.
TEST_KINDS(FdPassing, MalformedRightsHeader, KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}, {Naming::Socketpair})) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.sendmsg(x, Msg("short").rights({memo}).rights_cmsg_len(CMSG_LEN(0) - 1, "CMSG_LEN(0)-1"));
    a.sendmsg(x, Msg("partial").rights({memo}).rights_cmsg_len(CMSG_LEN(sizeof(int)) + 2, "CMSG_LEN(sizeof(int))+2"));
    a.sendmsg(x, Msg("less").rights({memo}).rights_cmsg_len(CMSG_LEN(sizeof(int)) - 1, "CMSG_LEN(sizeof(int))-1"));
    a.recvmsg(y, Recv(64).room(Room::fds(2)).flags(MSG_DONTWAIT));
    a.recvmsg(y, Recv(64).room(Room::fds(2)).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// SCM_MAX_FD: 253 descriptors in one message pass, 254 are refused.
TEST_KINDS(FdPassing, AtMost253Descriptors, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    std::vector<int> many = a.dups(memo, 253);
    a.sendmsg(x, Msg("253").rights(many));
    many.push_back(memo);
    a.sendmsg(x, Msg("254").rights(many));
    Received got = a.recvmsg(y, Recv(64).room(Room::fds(254)).flags(MSG_DONTWAIT));
    a.close_all(got.fds);
    a.recvmsg(y, Recv(64).room(Room::fds(254)).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// Room for one descriptor, three sent: the first arrives, MSG_CTRUNC says the rest did not, and
// they are closed (the probe's peer reads end of file), none installed behind the caller's back.
TEST_KINDS(FdPassing, TruncatedRightsCloseTheRest, AllKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    auto [peer, probe] = Probe(a);
    a.sendmsg(x, Msg("three").rights({memo, x, probe}));
    a.close(probe);
    a.recvmsg(y, Recv(64).room(Room::fds(1)));
    a.recv(peer, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// Control buffers that end inside a descriptor, or hold only a header.
TEST_KINDS(FdPassing, RoomForPartOfADescriptor, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    auto [peer, probe] = Probe(a);
    a.sendmsg(x, Msg("one").rights({memo, probe}));
    a.sendmsg(x, Msg("two").rights({memo, probe}));
    a.close(probe);
    a.recvmsg(y, Recv(64).room(Room::fds(2).minus(1)));
    a.recvmsg(y, Recv(64).room(Room::header()));
    a.recv(peer, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// A receiver at its RLIMIT_NOFILE: what fits is installed, the rest closed, MSG_CTRUNC.
TEST_KINDS(FdPassing, ReceiverOutOfDescriptors, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    auto [peer, probe] = Probe(a);
    a.sendmsg(x, Msg("three").rights({memo, x, probe}));
    a.close(probe);
    a.allow_fds(1);
    a.recvmsg(y, Recv(64).room(Room::fds(3)));
    a.recv(peer, 64, MSG_DONTWAIT);
  });
  sc.run();
}

// FD_CLOEXEC belongs to the descriptor, not the file: it does not travel; MSG_CMSG_CLOEXEC sets it.
TEST_KINDS(FdPassing, CloexecIsNotCarried, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.set_cloexec(memo);
    a.sendmsg(x, Msg("plain").rights({memo}));
    a.sendmsg(x, Msg("cloexec").rights({memo}));
    Received plain = a.recvmsg(y, Recv(64).room(Room::fds(1)));
    Received cloexec = a.recvmsg(y, Recv(64).room(Room::fds(1)).flags(MSG_CMSG_CLOEXEC));
    if (!plain.fds.empty()) a.exec_probe(plain.fds[0]);
    if (!cloexec.fds.empty()) a.exec_probe(cloexec.fds[0]);
  });
  sc.run();
}

// Every MSG_PEEK installs new descriptors for the same files.
TEST_KINDS(FdPassing, PeekInstallsDescriptorsEachTime, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.sendmsg(x, Msg("file").rights({memo}));
    Received first = a.recvmsg(y, Recv(64).room(Room::fds(1)).flags(MSG_PEEK));
    Received second = a.recvmsg(y, Recv(64).room(Room::fds(1)).flags(MSG_PEEK));
    bool distinct = first.fds.size() == 1 && second.fds.size() == 1 && first.fds[0] != second.fds[0];
    a.record(Obs("distinct_descriptors").flag("distinct", distinct).encode());
    a.recvmsg(y, Recv(64).room(Room::fds(1)));
  });
  sc.run();
}

// read(2) has nowhere to put descriptors: they are discarded, and closed.
TEST_KINDS(FdPassing, ReadDiscardsDescriptors, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    auto [peer, probe] = Probe(a);
    a.sendmsg(x, Msg("data").rights({probe}));
    a.close(probe);
    a.read(y, 64);
    a.recv(peer, 64, MSG_DONTWAIT);
    a.recvmsg(y, Recv(64).room(Room::fds(1)).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// Stream data that carries descriptors is not merged with the data around it.
TEST_KINDS(FdPassing, StreamDataWithDescriptorsKeptApart, StreamKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.send(x, "before");
    a.sendmsg(x, Msg("with").rights({memo}));
    a.send(x, "after");
    a.sendmsg(x, Msg("again").rights({memo}));
    a.sendmsg(x, Msg("more").rights({memo}));
    for (int i = 0; i < 5; ++i) a.recvmsg(y, Recv(64).room(Room::fds(2)).flags(MSG_DONTWAIT));
  });
  sc.run();
}

// An SCM_RIGHTS message with no descriptors in it.
TEST_KINDS(FdPassing, EmptyRights, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.sendmsg(x, Msg("empty").rights({}));
    a.recvmsg(y, Recv(64).room(Room::fds(1)).flags(MSG_DONTWAIT));
  });
  sc.run();
}

TEST_KINDS(FdPassing, RightsAndCredentialsTogether, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.setsockopt(y, SOL_SOCKET, SO_PASSCRED, 1);
    a.sendmsg(x, Msg("both").own_creds().rights({memo}));
    a.recvmsg(y, Recv(64).room(Room::creds() + Room::fds(1)));
    a.sendmsg(x, Msg("creds room only").rights({memo}));
    a.recvmsg(y, Recv(64).room(Room::creds()));
  });
  sc.run();
}

// A socket sent over itself, and a socket in its own receive queue: a cycle only the garbage
// collector can free. Nothing hangs, and closing everything is clean.
TEST_KINDS(FdPassing, SocketSentOverItself, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    a.sendmsg(x, Msg("x").rights({x}));
    a.sendmsg(y, Msg("y").rights({y}));
    a.close(x);
    a.close(y);
    auto [x2, y2] = a.pair(kind);
    a.send(x2, "still works");
    a.recv(y2, 64);
  });
  sc.run();
}

// SO_PASSRIGHTS off (Linux 6.16+): the receiver refuses descriptors.
TEST_KINDS(FdPassing, PassrightsOffRefusesDescriptors, CoreKinds()) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    auto [x, y] = a.pair(kind);
    int memo = Memo(a);
    a.getsockopt(y, SOL_SOCKET, SO_PASSRIGHTS);
    a.setsockopt(y, SOL_SOCKET, SO_PASSRIGHTS, 0);
    a.sendmsg(x, Msg("file").rights({memo}));
    a.recvmsg(y, Recv(64).room(Room::fds(1)).flags(MSG_DONTWAIT));
  });
  sc.run();
}
