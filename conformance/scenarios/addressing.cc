// Names: what bind() and connect() make of a path or an abstract name, and which errno says what
// went wrong. Cygwin's emulation keeps a TCP port in a regular file, so "not a socket", "nobody
// listening" and "wrong type" come out of different places there (EBADF for a non-socket file,
// where Linux says ECONNREFUSED); path translators (proot, fakechroot) rewrite the names.
#include <gtest/gtest.h>
#include <poll.h>

#include "scenario.h"

using namespace afunix;

TEST(Addressing, ConnectMissingPath) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("missing.sock"));
  });
  sc.run();
}

TEST(Addressing, ConnectMissingAbstractName) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::abstract("missing"));
  });
  sc.run();
}

// The server died and left its socket file behind: the name exists, nobody listens.
TEST(Addressing, ConnectStaleSocketFile) {
  Scenario sc;
  Event& server_gone = sc.ended("server");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.listen(s, 5);
  });
  sc.actor("client", [&](Actor& a) {
    server_gone.wait();
    a.stat("srv.sock");
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("srv.sock"));
  });
  sc.run();
}

TEST(Addressing, ConnectBoundNotListening) {
  Scenario sc;
  Event& bound = sc.event("bound");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    bound.post();
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    bound.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("srv.sock"));
    done.post();
  });
  sc.run();
}

TEST(Addressing, ConnectRegularFile) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    a.create_file("file.sock", 0666);
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("file.sock"));
  });
  sc.run();
}

TEST(Addressing, ConnectDirectory) {
  Scenario sc;
  sc.actor("client", [&](Actor& a) {
    a.mkdir("dir.sock", 0755);
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("dir.sock"));
  });
  sc.run();
}

// The Cygwin socket file records 's' or 'd'; Linux compares the socket types.
TEST(Addressing, ConnectDatagramToStreamListener) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.listen(s, 5);
    listening.post();
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_DGRAM);
    a.connect(s, Addr::path("srv.sock"));
    done.post();
  });
  sc.run();
}

TEST(Addressing, ConnectStreamToDatagramSocket) {
  Scenario sc;
  Event& bound = sc.event("bound");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_DGRAM);
    a.bind(s, Addr::path("srv.sock"));
    bound.post();
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    bound.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("srv.sock"));
    done.post();
  });
  sc.run();
}

TEST(Addressing, BindExistingPath) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int first = a.socket(SOCK_STREAM);
    a.bind(first, Addr::path("srv.sock"));
    a.listen(first, 5);
    int second = a.socket(SOCK_STREAM);
    a.bind(second, Addr::path("srv.sock"));
  });
  sc.run();
}

// Daemons unlink() before bind() because a dead predecessor's file still holds the name.
TEST(Addressing, BindOverStaleSocketFileNeedsUnlink) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int old = a.socket(SOCK_STREAM);
    a.bind(old, Addr::path("srv.sock"));
    a.close(old);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.unlink("srv.sock");
    a.bind(s, Addr::path("srv.sock"));
    a.stat("srv.sock");
  });
  sc.run();
}

TEST(Addressing, BindOverRegularFile) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    a.create_file("srv.sock", 0644);
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.stat("srv.sock");
  });
  sc.run();
}

// A socket has one name: binding it again fails and creates no second file.
TEST(Addressing, RebindFailsAndLeavesNoFile) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("first.sock"));
    a.bind(s, Addr::path("second.sock"));
    a.stat("second.sock");
    a.sockname(s);
  });
  sc.run();
}

TEST(Addressing, BindInMissingDirectory) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("missing/srv.sock"));
    a.stat("missing");
  });
  sc.run();
}

TEST(Addressing, GetsocknameUnbound) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.sockname(s);
  });
  sc.run();
}

TEST(Addressing, GetsocknameAfterBind) {
  Scenario sc;
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.sockname(s);
    a.stat("srv.sock");
  });
  sc.run();
}

TEST(Addressing, GetpeernameUnconnected) {
  Scenario sc;
  sc.actor("owner", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.listen(s, 5);
    a.peername(s);
  });
  sc.run();
}

// Both ends name the listener's path; the client side, never bound, is unnamed.
TEST(Addressing, ClientPeernameIsListenerAddress) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& checked = sc.event("checked");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.listen(s, 5);
    listening.post();
    a.poll(s, POLLIN, Wait::UntilReady);
    int c = a.accept(s);
    a.sockname(c);
    a.peername(c);
    checked.wait();
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("srv.sock"));
    a.peername(s);
    a.sockname(s);
    checked.post();
  });
  sc.run();
}

TEST(Addressing, AbstractNameRoundTrip) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& checked = sc.event("checked");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::abstract("svc"));
    a.sockname(s);
    a.listen(s, 5);
    listening.post();
    a.poll(s, POLLIN, Wait::UntilReady);
    a.accept(s);
    checked.wait();
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::abstract("svc"));
    a.peername(s);
    checked.post();
  });
  sc.run();
}

TEST(Addressing, SecondConnectIsConnected) {
  Scenario sc;
  Event& listening = sc.event("listening");
  Event& done = sc.event("done");
  sc.actor("server", [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.listen(s, 5);
    listening.post();
    a.poll(s, POLLIN, Wait::UntilReady);
    a.accept(s);
    done.wait();
  });
  sc.actor("client", [&](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("srv.sock"));
    a.connect(s, Addr::path("srv.sock"));
    done.post();
  });
  sc.run();
}
