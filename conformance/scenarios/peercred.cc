// SO_PEERCRED: who each end of a connection says the other is. The kernel records the client's
// credentials at connect() and the server's at listen(); emulations that exchange credentials over
// the wire report whatever the peer claims, or nothing at all.
#include <gtest/gtest.h>

#include "scenario.h"

using namespace afunix;

TEST(Peercred, ServerSeesClientCredsAfterAccept) {
  Scenario sc;
  Event listening = sc.event("listening");
  Event connected = sc.event("connected");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.chmod("srv.sock", 0666);
    a.listen(s, 5);
    listening.post();
    connected.wait();
    int c = a.accept(s);
    a.peercred(c);
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("srv.sock"));
    connected.post();
  });
  sc.run();
}

TEST(Peercred, ClientSeesListenerCreds) {
  Scenario sc;
  Event listening = sc.event("listening");
  Event accepted = sc.event("accepted");
  sc.actor("server", ServiceOwner(), [&](Actor& a) {
    int s = a.socket(SOCK_STREAM);
    a.bind(s, Addr::path("srv.sock"));
    a.chmod("srv.sock", 0666);
    a.listen(s, 5);
    listening.post();
    a.accept(s);
    accepted.post();
  });
  sc.actor("client", Stranger(), [&](Actor& a) {
    listening.wait();
    int s = a.socket(SOCK_STREAM);
    a.connect(s, Addr::path("srv.sock"));
    a.peercred(s);
    accepted.wait();
  });
  sc.run();
}
