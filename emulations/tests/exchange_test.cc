// The exchange state machines: cygwin-2014's symmetric handshake and proposal-1's asymmetric
// exchange, run against each other in memory and over a real socketpair, with short reads,
// interruptions, EOF and wrong secrets.
#include "exchange.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>

using namespace afunix_emu;

namespace {

const Secret kS{{0x11111111u, 0x22222222u, 0x33333333u, 0x44444444u}};
const Secret kC{{0xaaaaaaaau, 0xbbbbbbbbu, 0xccccccccu, 0xddddddddu}};
const Cred kClientCred{1001, 61003, 61003};
const Cred kServerCred{2002, 61001, 61001};

// Moves bytes between two machines through in-memory pipes, `chunk` bytes at a time, until
// neither can make progress.
void Pump(Exchange* a, Exchange* b, size_t chunk) {
  std::deque<uint8_t> a_to_b, b_to_a;
  for (int rounds = 0; rounds < 1000; ++rounds) {
    bool progress = false;
    for (auto [ex, out, in] : {std::tuple{a, &a_to_b, &b_to_a}, std::tuple{b, &b_to_a, &a_to_b}}) {
      ExStatus s = ex_status(*ex);
      if (s == ExStatus::kSend) {
        size_t len;
        const uint8_t* p = ex_send_bytes(ex, &len);
        size_t n = std::min(len, chunk);
        out->insert(out->end(), p, p + n);
        ex_sent(ex, n);
        progress = true;
      } else if (s == ExStatus::kRecv && !in->empty()) {
        size_t len;
        uint8_t* p = ex_recv_buffer(ex, &len);
        size_t n = std::min({len, chunk, in->size()});
        for (size_t i = 0; i < n; ++i) {
          p[i] = in->front();
          in->pop_front();
        }
        ex_received(ex, n);
        progress = true;
      }
    }
    if (!progress) return;
  }
}

}  // namespace

TEST(Exchange, Cygwin2014HandshakeSucceeds) {
  for (size_t chunk : {1u, 3u, 16u, 100u}) {
    Exchange client, server;
    ex_init(&client, ExKind::kC14Client, kS, kS, kClientCred);
    ex_init(&server, ExKind::kC14Server, kS, kS, kServerCred);
    EXPECT_EQ(ex_status(client), ExStatus::kSend);  // the client speaks first
    EXPECT_EQ(ex_status(server), ExStatus::kRecv);
    Pump(&client, &server, chunk);
    ASSERT_EQ(ex_status(client), ExStatus::kDone) << chunk;
    ASSERT_EQ(ex_status(server), ExStatus::kDone) << chunk;
    EXPECT_EQ(client.peer, kServerCred);
    EXPECT_EQ(server.peer, kClientCred);
  }
}

TEST(Exchange, Cygwin2014WireFormatIsSecretThenCred) {
  Exchange client;
  ex_init(&client, ExKind::kC14Client, kS, kS, kClientCred);
  size_t len;
  const uint8_t* p = ex_send_bytes(&client, &len);
  ASSERT_EQ(len, kSecretBytes);
  EXPECT_EQ(p[0], 0x11);  // int[4] little-endian
  EXPECT_EQ(p[15], 0x44);
  ex_sent(&client, len);
  EXPECT_EQ(ex_status(client), ExStatus::kRecv);
  uint8_t* r = ex_recv_buffer(&client, &len);
  ASSERT_EQ(len, kSecretBytes);
  encode_secret(kS, r);
  ex_received(&client, len);
  p = ex_send_bytes(&client, &len);
  ASSERT_EQ(len, kCredBytes);
  EXPECT_EQ(decode_cred(p), kClientCred);
}

TEST(Exchange, Cygwin2014WrongSecretFailsTheServer) {
  Exchange client, server;
  ex_init(&client, ExKind::kC14Client, kC, kC, kClientCred);  // read another file's secret
  ex_init(&server, ExKind::kC14Server, kS, kS, kServerCred);
  Pump(&client, &server, 64);
  EXPECT_EQ(ex_status(server), ExStatus::kFailed);
  EXPECT_EQ(server.failure, ExFailure::kSecretMismatch);
  EXPECT_EQ(ex_status(client), ExStatus::kRecv);  // still waiting: the server drops it
  ex_received(&client, 0);                          // ... and the client sees EOF
  EXPECT_EQ(client.failure, ExFailure::kPeerClosed);
}

TEST(Exchange, Cygwin2014ServerWithWrongSecretFailsTheClient) {
  // A squatter on a reused port that answers with its own secret.
  Exchange client, server;
  ex_init(&client, ExKind::kC14Client, kS, kS, kClientCred);
  ex_init(&server, ExKind::kC14Server, kC, kS, kServerCred);  // expects kS, sends kC
  Pump(&client, &server, 64);
  EXPECT_EQ(ex_status(client), ExStatus::kFailed);
  EXPECT_EQ(client.failure, ExFailure::kSecretMismatch);
}

TEST(Exchange, Proposal1ClientSendsEverythingFirst) {
  Exchange client;
  ex_init(&client, ExKind::kP1Client, kC, kS, kClientCred);
  size_t len;
  const uint8_t* p = ex_send_bytes(&client, &len);
  ASSERT_EQ(len, kSecretBytes + kCredBytes);
  EXPECT_EQ(decode_secret(p), kC);
  EXPECT_EQ(decode_cred(p + kSecretBytes), kClientCred);
  ex_sent(&client, len);
  EXPECT_EQ(ex_status(client), ExStatus::kRecv);  // connected_but_secret_missing
}

TEST(Exchange, Proposal1Succeeds) {
  for (size_t chunk : {1u, 5u, 28u}) {
    Exchange client, server;
    ex_init(&client, ExKind::kP1Client, kC, kS, kClientCred);
    ex_init(&server, ExKind::kP1Server, kS, kC, kServerCred);
    Pump(&client, &server, chunk);
    ASSERT_EQ(ex_status(client), ExStatus::kDone);
    ASSERT_EQ(ex_status(server), ExStatus::kDone);
    EXPECT_EQ(client.peer, kServerCred);
    EXPECT_EQ(server.peer, kClientCred);
  }
}

TEST(Exchange, Proposal1DistinctSecretsAreChecked) {
  // A client that only learned the client secret (e.g. sniffed from the wire) and uses it as the
  // server secret cannot pose as the server.
  Exchange client, server;
  ex_init(&client, ExKind::kP1Client, kC, kS, kClientCred);
  ex_init(&server, ExKind::kP1Server, kC, kC, kServerCred);  // sends the client secret back
  Pump(&client, &server, 28);
  EXPECT_EQ(ex_status(server), ExStatus::kDone);
  EXPECT_EQ(ex_status(client), ExStatus::kFailed);
  EXPECT_EQ(client.failure, ExFailure::kSecretMismatch);

  Exchange bad_client, server2;
  ex_init(&bad_client, ExKind::kP1Client, kS, kS, kClientCred);  // sends the server's secret
  ex_init(&server2, ExKind::kP1Server, kS, kC, kServerCred);
  Pump(&bad_client, &server2, 28);
  EXPECT_EQ(ex_status(server2), ExStatus::kFailed);
}

TEST(Exchange, EofMidStepFails) {
  Exchange server;
  ex_init(&server, ExKind::kC14Server, kS, kS, kServerCred);
  size_t len;
  ex_recv_buffer(&server, &len);
  ex_received(&server, 7);  // part of the secret
  ex_received(&server, 0);  // then EOF
  EXPECT_EQ(ex_status(server), ExStatus::kFailed);
  EXPECT_EQ(server.failure, ExFailure::kPeerClosed);
}

TEST(Exchange, UninitialisedKindNeverSucceeds) {
  Exchange ex;
  ex_init(&ex, ExKind::kNone, kS, kS, kClientCred);
  EXPECT_EQ(ex_status(ex), ExStatus::kFailed);
}

// ---- ex_drive with injected I/O -----------------------------------------------------------------

namespace {

// A scripted peer: recv returns scripted results; send records bytes.
struct Script {
  std::deque<int> recv_results;  // >0: deliver that many bytes of `incoming`, 0: EOF, <0: -errno
  std::string incoming;
  std::string sent;
  size_t send_limit = 1000;  // bytes accepted per send call
  int send_errno = 0;
};
Script* g_script;

ssize_t FakeSend(int, const void* buf, size_t len, int flags) {
  EXPECT_TRUE(flags & MSG_NOSIGNAL);
  if (g_script->send_errno) {
    errno = g_script->send_errno;
    return -1;
  }
  size_t n = std::min(len, g_script->send_limit);
  g_script->sent.append(static_cast<const char*>(buf), n);
  return static_cast<ssize_t>(n);
}

ssize_t FakeRecv(int, void* buf, size_t len, int) {
  if (g_script->recv_results.empty()) {
    errno = EAGAIN;
    return -1;
  }
  int r = g_script->recv_results.front();
  g_script->recv_results.pop_front();
  if (r < 0) {
    errno = -r;
    return -1;
  }
  size_t n = std::min({len, static_cast<size_t>(r), g_script->incoming.size()});
  std::memcpy(buf, g_script->incoming.data(), n);
  g_script->incoming.erase(0, n);
  return static_cast<ssize_t>(n);
}

const ExIo kFake = {FakeSend, FakeRecv};

std::string ServerReply(const Secret& s, const Cred& c, bool together) {
  uint8_t sec[kSecretBytes], cred[kCredBytes];
  encode_secret(s, sec);
  encode_cred(c, cred);
  (void)together;
  return std::string(reinterpret_cast<char*>(sec), sizeof sec) +
         std::string(reinterpret_cast<char*>(cred), sizeof cred);
}

}  // namespace

TEST(ExchangeDrive, InterruptedReceiveResumesWhereItStopped) {
  Script s;
  g_script = &s;
  s.incoming = ServerReply(kS, kServerCred, false);
  s.recv_results = {5, -EINTR, 11, -EINTR, 12};
  Exchange ex;
  ex_init(&ex, ExKind::kC14Client, kS, kS, kClientCred);
  errno = 0;
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, false), -1);
  EXPECT_EQ(errno, EINTR);
  EXPECT_EQ(s.sent.size(), kSecretBytes);
  EXPECT_EQ(ex.off, 5);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, false), -1);
  EXPECT_EQ(errno, EINTR);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, false), 0);
  EXPECT_EQ(ex.peer, kServerCred);
  EXPECT_EQ(s.sent.size(), kSecretBytes + kCredBytes);  // nothing sent twice
}

TEST(ExchangeDrive, ShortSendsAreCompleted) {
  Script s;
  g_script = &s;
  s.send_limit = 3;
  Exchange ex;
  ex_init(&ex, ExKind::kP1Client, kC, kS, kClientCred);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kSendsFlushed, false), 0);
  EXPECT_EQ(s.sent.size(), kSecretBytes + kCredBytes);
  EXPECT_EQ(ex_status(ex), ExStatus::kRecv);
}

TEST(ExchangeDrive, WouldBlockKeepsProgress) {
  Script s;
  g_script = &s;
  s.incoming = ServerReply(kS, kServerCred, true);
  s.recv_results = {10};
  Exchange ex;
  ex_init(&ex, ExKind::kP1Client, kC, kS, kClientCred);
  ASSERT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kSendsFlushed, true), 0);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, true), -1);
  EXPECT_EQ(errno, EAGAIN);
  s.recv_results = {100};
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, true), 0);
  EXPECT_EQ(ex.peer, kServerCred);
}

TEST(ExchangeDrive, EofAndErrorsFailForGood) {
  Script s;
  g_script = &s;
  s.recv_results = {0};
  Exchange ex;
  ex_init(&ex, ExKind::kC14Server, kS, kS, kServerCred);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, false), -2);
  EXPECT_EQ(ex.failure, ExFailure::kPeerClosed);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, false), -2);  // stays failed

  s.recv_results = {-ECONNRESET};
  ex_init(&ex, ExKind::kC14Server, kS, kS, kServerCred);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, false), -2);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_EQ(ex.failure, ExFailure::kIoError);

  s.send_errno = EPIPE;
  ex_init(&ex, ExKind::kC14Client, kS, kS, kClientCred);
  EXPECT_EQ(ex_drive(&ex, 3, kFake, DriveGoal::kDone, false), -2);
  EXPECT_EQ(errno, EPIPE);
}

TEST(ExchangeDrive, RealSocketsBothDesigns) {
  for (bool p1 : {false, true}) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const ExIo io = {::send, ::recv};
    Exchange client, server;
    ex_init(&client, p1 ? ExKind::kP1Client : ExKind::kC14Client, p1 ? kC : kS, kS, kClientCred);
    ex_init(&server, p1 ? ExKind::kP1Server : ExKind::kC14Server, kS, p1 ? kC : kS, kServerCred);
    int server_result = -3;
    std::thread t([&] { server_result = ex_drive(&server, sv[1], io, DriveGoal::kDone, false); });
    EXPECT_EQ(ex_drive(&client, sv[0], io, DriveGoal::kDone, false), 0);
    t.join();
    EXPECT_EQ(server_result, 0);
    EXPECT_EQ(client.peer, kServerCred);
    EXPECT_EQ(server.peer, kClientCred);
    // Application data follows the exchange untouched.
    ASSERT_EQ(::send(sv[0], "hello", 5, 0), 5);
    char buf[8];
    ASSERT_EQ(::recv(sv[1], buf, sizeof buf, 0), 5);
    EXPECT_EQ(std::string(buf, 5), "hello");
    close(sv[0]);
    close(sv[1]);
  }
}

TEST(ExchangeDrive, ServerSeesApplicationDataAsAWrongSecret) {
  // Only the client turned the handshake off: its first bytes are read as the secret.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const ExIo io = {::send, ::recv};
  ASSERT_EQ(::send(sv[0], "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
  Exchange server;
  ex_init(&server, ExKind::kC14Server, kS, kS, kServerCred);
  EXPECT_EQ(ex_drive(&server, sv[1], io, DriveGoal::kDone, false), -2);
  EXPECT_EQ(server.failure, ExFailure::kSecretMismatch);
  close(sv[0]);
  close(sv[1]);
}
