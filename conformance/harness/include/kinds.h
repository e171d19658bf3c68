// Socket kinds as data: one scenario body runs over every kind it applies to, each instance named
// after its kind ("Kinds/Data.MessageBoundaries/seqpacket_pathname"). A kind says which type the
// sockets have, how the connected pair is made (like gVisor's SocketPairKind) and whether its ends
// are nonblocking:
//
//   TEST_KINDS(Data, MessageBoundaries, MessageKinds()) {
//     Scenario sc;
//     sc.actor("owner", [&](Actor& a) {
//       auto [x, y] = a.pair(kind);
//       a.send(x, "one");
//       a.recv(y, 64);
//     });
//     sc.run();
//   }
//
// Why not TEST_P: GoogleTest ties the parameter list to the fixture, and the fixture's name is the
// suite's name, so every TEST_P of suite `Data` would run over the same kinds. Bodies apply to
// different kinds (message boundaries mean nothing on a stream), so TEST_KINDS registers exactly
// the instances a body declares with testing::RegisterTest; the names and the --gtest_list_tests
// output ("# GetParam() = <kind>") are those TEST_P would give.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <functional>
#include <string>
#include <vector>

namespace afunix {

// How the two ends of a pair find each other.
enum class Naming {
  None,        // no pair: a bare socket type for bodies that build their own sockets
  Pathname,    // a socket file in the scenario directory
  Abstract,    // an abstract name
  Autobind,    // bind(addrlen == sizeof(sa_family_t)): the kernel picks an abstract name
  Socketpair,  // socketpair(2)
};

struct SocketKind {
  std::string name;  // "stream_pathname", "dgram_socketpair_nonblocking", or just "seqpacket"
  int type;          // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
  Naming naming;
  bool nonblocking;  // both ends of the pair have O_NONBLOCK

  bool stream() const { return type == SOCK_STREAM; }
  bool dgram() const { return type == SOCK_DGRAM; }
  bool seqpacket() const { return type == SOCK_SEQPACKET; }
  bool connection_oriented() const { return type != SOCK_DGRAM; }  // listen/accept/EOF
  bool keeps_boundaries() const { return type != SOCK_STREAM; }    // one message per recv
  bool named() const { return naming != Naming::Socketpair && naming != Naming::None; }
};

using Kinds = std::vector<SocketKind>;

// Every combination of the given types, namings and blocking modes, in that order of nesting.
Kinds KindsOf(const std::vector<int>& types, const std::vector<Naming>& namings,
              const std::vector<bool>& nonblocking = {false});

const std::vector<Naming>& AllNamings();    // pathname, abstract, autobind, socketpair
const std::vector<Naming>& BoundNamings();  // pathname, abstract, autobind
// The two ways a pair comes to be that differ most: through a socket file, or socketpair(2).
const std::vector<Naming>& CoreNamings();   // pathname, socketpair

Kinds AllKinds();         // the three types over all namings, blocking (12)
Kinds StreamKinds();      // SOCK_STREAM over all namings (4)
Kinds SeqpacketKinds();   // SOCK_SEQPACKET over all namings (4)
Kinds DatagramKinds();    // SOCK_DGRAM over all namings (4)
Kinds ConnectionKinds();  // SOCK_STREAM and SOCK_SEQPACKET over all namings (8)
Kinds MessageKinds();     // SOCK_SEQPACKET and SOCK_DGRAM over all namings (8)
Kinds ListenerKinds();    // SOCK_STREAM and SOCK_SEQPACKET, named (6): bodies that need the listener
Kinds CoreKinds();        // the three types, pathname and socketpair (6)
Kinds CoreConnectionKinds();  // SOCK_STREAM and SOCK_SEQPACKET, pathname and socketpair (4)
Kinds SocketTypes();      // "stream", "seqpacket", "dgram": bodies that make their own sockets
Kinds ConnectionTypes();  // "stream", "seqpacket"
Kinds BothBlockingModes(const Kinds& kinds);  // each kind blocking, then nonblocking
Kinds Concat(const Kinds& a, const Kinds& b);

// The fixture of every TEST_KINDS instance: `kind` is the instance's socket kind.
class KindTest : public ::testing::Test {
 protected:
  explicit KindTest(SocketKind k) : kind(std::move(k)) {}
  const SocketKind kind;
};

// Registers `Kinds/<area>.<name>/<kind>` for each kind; used by TEST_KINDS.
bool RegisterKindScenarios(const char* area, const char* name, const Kinds& kinds, const char* file,
                           int line, std::function<KindTest*(const SocketKind&)> factory);

}  // namespace afunix

#define AFUNIX_KIND_CLASS_(area, name) area##_##name##_Kinds

// A scenario body run once per kind of `kind_list`, as Kinds/<area>.<name>/<kind name>.
#define TEST_KINDS(area, name, kind_list)                                                       \
  class AFUNIX_KIND_CLASS_(area, name) : public ::afunix::KindTest {                            \
   public:                                                                                      \
    explicit AFUNIX_KIND_CLASS_(area, name)(::afunix::SocketKind k) : KindTest(std::move(k)) {} \
    void TestBody() override;                                                                   \
  };                                                                                            \
  [[maybe_unused]] static const bool area##_##name##_registered =                               \
      ::afunix::RegisterKindScenarios(#area, #name, kind_list, __FILE__, __LINE__,              \
                                      [](const ::afunix::SocketKind& k) -> ::afunix::KindTest* { \
                                        return new AFUNIX_KIND_CLASS_(area, name)(k);           \
                                      });                                                       \
  void AFUNIX_KIND_CLASS_(area, name)::TestBody()
