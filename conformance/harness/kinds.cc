#include "kinds.h"

namespace afunix {
namespace {

std::string type_word(int type) {
  switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    default: return "type" + std::to_string(type);
  }
}

std::string naming_word(Naming n) {
  switch (n) {
    case Naming::Pathname: return "pathname";
    case Naming::Abstract: return "abstract";
    case Naming::Autobind: return "autobind";
    case Naming::Socketpair: return "socketpair";
    case Naming::None: return "";
  }
  return "";
}

}  // namespace

Kinds KindsOf(const std::vector<int>& types, const std::vector<Naming>& namings,
              const std::vector<bool>& nonblocking) {
  Kinds out;
  for (bool nb : nonblocking)
    for (int type : types)
      for (Naming n : namings) {
        std::string name = type_word(type);
        if (n != Naming::None) name += "_" + naming_word(n);
        if (nb) name += "_nonblocking";
        out.push_back({name, type, n, nb});
      }
  return out;
}

const std::vector<Naming>& AllNamings() {
  static const std::vector<Naming> all = {Naming::Pathname, Naming::Abstract, Naming::Autobind,
                                          Naming::Socketpair};
  return all;
}

const std::vector<Naming>& BoundNamings() {
  static const std::vector<Naming> bound = {Naming::Pathname, Naming::Abstract, Naming::Autobind};
  return bound;
}

const std::vector<Naming>& CoreNamings() {
  static const std::vector<Naming> core = {Naming::Pathname, Naming::Socketpair};
  return core;
}

Kinds CoreKinds() { return KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}, CoreNamings()); }
Kinds CoreConnectionKinds() { return KindsOf({SOCK_STREAM, SOCK_SEQPACKET}, CoreNamings()); }
Kinds AllKinds() { return KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}, AllNamings()); }
Kinds StreamKinds() { return KindsOf({SOCK_STREAM}, AllNamings()); }
Kinds SeqpacketKinds() { return KindsOf({SOCK_SEQPACKET}, AllNamings()); }
Kinds DatagramKinds() { return KindsOf({SOCK_DGRAM}, AllNamings()); }
Kinds ConnectionKinds() { return KindsOf({SOCK_STREAM, SOCK_SEQPACKET}, AllNamings()); }
Kinds MessageKinds() { return KindsOf({SOCK_SEQPACKET, SOCK_DGRAM}, AllNamings()); }
Kinds ListenerKinds() { return KindsOf({SOCK_STREAM, SOCK_SEQPACKET}, BoundNamings()); }
Kinds SocketTypes() { return KindsOf({SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}, {Naming::None}); }
Kinds ConnectionTypes() { return KindsOf({SOCK_STREAM, SOCK_SEQPACKET}, {Naming::None}); }

Kinds BothBlockingModes(const Kinds& kinds) {
  Kinds out = kinds;
  for (SocketKind k : kinds) {
    k.name += "_nonblocking";
    k.nonblocking = true;
    out.push_back(k);
  }
  return out;
}

Kinds Concat(const Kinds& a, const Kinds& b) {
  Kinds out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

bool RegisterKindScenarios(const char* area, const char* name, const Kinds& kinds, const char* file,
                           int line, std::function<KindTest*(const SocketKind&)> factory) {
  const std::string suite = std::string("Kinds/") + area;
  for (const SocketKind& kind : kinds) {
    const std::string test = std::string(name) + "/" + kind.name;
    ::testing::RegisterTest(suite.c_str(), test.c_str(), nullptr, kind.name.c_str(), file, line,
                            [factory, kind]() -> KindTest* { return factory(kind); });
  }
  return true;
}

}  // namespace afunix
