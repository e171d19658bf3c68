// What a client can do between connect() and the server's accept(). On Linux connect() completes
// as soon as the connection is queued on the listener: the client may send, close or wait for a
// greeting before anyone accepts. Cygwin's 2014 emulation runs a secret+creds handshake that needs
// the server inside accept(), so there connect() returns only once the server has accepted (or,
// nonblocking, the handshake waits in the first poll/recv/send); the seed thread's first proposal
// exists to allow "client send() before server accept()".
#include <gtest/gtest.h>
#include <poll.h>

#include "common.h"
#include "scenario.h"

using namespace afunix;

TEST(EarlySend, DataSentBeforeAcceptIsReadAfter) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& sent = sc.event("sent");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    sent.wait();
    a.poll(s, POLLIN);
    int c = a.accept(s);
    a.poll(c, POLLIN);
    a.recv(c, 64);
    done.post();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.send(s, "EHLO client\r\n");
    sent.post();
    done.wait();
  });
  sc.run();
}

TEST(EarlySend, ClientSendsBeforeServersFirstRecv) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& accepted = sc.event("accepted");
  Event& sent = sc.event("sent");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    int c = AcceptWhenReady(a, s);
    accepted.post();
    sent.wait();
    a.recv(c, 64);
    done.post();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    accepted.wait();
    a.send(s, "EHLO client\r\n");
    sent.post();
    done.wait();
  });
  sc.run();
}

// The connection outlives the client's descriptor: accept() still returns it, and it reads EOF.
TEST(EarlySend, ClientClosesBeforeAccept) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& closed = sc.event("closed");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    closed.wait();
    int c = a.accept(s);
    a.poll(c, POLLIN);
    a.recv(c, 64);
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.close(s);
    closed.post();
  });
  sc.run();
}

// Fire and forget, like postfix's wakeup triggers (one byte, then close): the data survives.
TEST(EarlySend, ClientSendsAndClosesBeforeAccept) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& closed = sc.event("closed");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    closed.wait();
    int c = a.accept(s);
    a.recv(c, 64);
    a.recv(c, 64);
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.send(s, "W");
    a.close(s);
    closed.post();
  });
  sc.run();
}

// Postfix's client: connect, then poll() for the server's greeting; the server accepts later.
TEST(EarlySend, ClientPollsForGreetingBeforeAccept) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& connected = sc.event("connected");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    connected.wait();
    int c = a.accept(s);
    a.send(c, "220 ready\r\n");
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.poll(s, POLLIN);
    connected.post();
    a.poll(s, POLLIN, Wait::UntilReady);
    a.recv(s, 64);
    done.post();
  });
  sc.run();
}

TEST(EarlySend, ServerGreetsBeforeClientRecv) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& greeted = sc.event("greeted");
  Event& replied = sc.event("replied");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    int c = AcceptWhenReady(a, s);
    a.send(c, "220 ready\r\n");
    greeted.post();
    replied.wait();
    a.recv(c, 64);
    done.post();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    greeted.wait();
    a.recv(s, 64);
    a.send(s, "QUIT\r\n");
    replied.post();
    done.wait();
  });
  sc.run();
}

// Linux completes a nonblocking AF_UNIX connect() at once (no EINPROGRESS); Cygwin returns
// EINPROGRESS and runs its handshake in the first poll/recv/send.
TEST(EarlySend, NonblockingConnectThenSendBeforeAccept) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& sent = sc.event("sent");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    sent.wait();
    int c = a.accept(s);
    a.recv(c, 64);
    done.post();
  });
  sc.actor("client", [&](Actor& a) {
    rv.wait_ready();
    int s = a.socket(SOCK_STREAM);
    a.set_nonblocking(s);
    a.connect(s, Addr::path("srv.sock"));
    a.poll(s, POLLOUT);
    a.send(s, "EHLO client\r\n");
    sent.post();
    done.wait();
  });
  sc.run();
}

// Nothing to read before the server accepts and writes: the client's recv() blocks (the watchdog
// records "blocked") and the connection still works afterwards.
TEST(EarlySend, RecvBeforeAcceptBlocks) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& waited = sc.event("waited");
  Event& sent = sc.event("sent");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    waited.wait();
    int c = a.accept(s);
    a.send(c, "220 ready\r\n");
    sent.post();
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.recv(s, 64);
    waited.post();
    sent.wait();
    a.recv(s, 64);
    done.post();
  });
  sc.run();
}

TEST(EarlySend, NonblockingRecvBeforeAccept) {
  Scenario sc;
  Rendezvous rv(sc);
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    rv.wait_tried();
    a.accept(s);
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.set_nonblocking(s);
    a.recv(s, 64);
    rv.tried();
  });
  sc.run();
}

// The server goes away without accepting: what the client sent is lost and it learns so.
TEST(EarlySend, ListenerClosedBeforeAccept) {
  Scenario sc;
  Rendezvous rv(sc);
  Event& sent = sc.event("sent");
  Event& closed = sc.event("closed");
  sc.actor("server", [&](Actor& a) {
    int s = rv.listen(a, Addr::path("srv.sock"));
    sent.wait();
    a.close(s);
    closed.post();
  });
  sc.actor("client", [&](Actor& a) {
    int s = rv.connect(a, Addr::path("srv.sock"));
    a.send(s, "EHLO client\r\n");
    sent.post();
    closed.wait();
    a.poll(s, POLLIN | POLLOUT);
    a.recv(s, 64);
    a.send(s, "QUIT\r\n", MSG_NOSIGNAL);
  });
  sc.run();
}
