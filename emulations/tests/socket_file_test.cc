// The cygwin-2014 / proposal-1 socket file: format, strict parsing (a clear errno for every
// malformed file, never a read past the end), file creation and reading, address rules.
#include "socket_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace afunix_emu;

namespace {

SocketFile Sample(int type = SOCK_STREAM) {
  SocketFile f;
  f.port = 40123;
  f.type = type;
  f.secret = Secret{{0x01234567u, 0x89abcdefu, 0xdeadbeefu, 0x00000001u}};
  return f;
}

std::string Format(const SocketFile& f) {
  char buf[kSocketFileMax];
  size_t n = format_socket_file(f, buf, sizeof buf);
  EXPECT_GT(n, 0u);
  return std::string(buf, n);
}

int Parse(const std::string& s, SocketFile* out = nullptr) {
  SocketFile f;
  // A heap copy of exactly s.size() bytes, so reading past the end is caught by sanitizers/valgrind.
  std::vector<char> copy(s.begin(), s.end());
  return parse_socket_file(copy.data(), copy.size(), out ? out : &f);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/afunix-emu-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

}  // namespace

TEST(SocketFileFormat, CygwinLayout) {
  EXPECT_EQ(Format(Sample()),
            std::string("!<socket >40123 s 01234567-89ABCDEF-DEADBEEF-00000001") + '\0');
  EXPECT_EQ(Format(Sample(SOCK_DGRAM)),
            std::string("!<socket >40123 d 01234567-89ABCDEF-DEADBEEF-00000001") + '\0');
}

TEST(SocketFileFormat, Proposal1CarriesTwoSecrets) {
  SocketFile f = Sample();
  f.has_client_secret = true;
  f.client_secret = Secret{{1, 2, 3, 0xffffffffu}};
  EXPECT_EQ(Format(f), std::string("!<socket >40123 s 01234567-89ABCDEF-DEADBEEF-00000001 "
                                   "00000001-00000002-00000003-FFFFFFFF") +
                           '\0');
  SocketFile back;
  ASSERT_EQ(Parse(Format(f), &back), 0);
  EXPECT_TRUE(back.has_client_secret);
  EXPECT_EQ(back.client_secret, f.client_secret);
  EXPECT_EQ(back.secret, f.secret);
}

TEST(SocketFileFormat, RefusesUnknownTypeAndShortBuffer) {
  SocketFile f = Sample(SOCK_SEQPACKET);
  char buf[kSocketFileMax];
  EXPECT_EQ(format_socket_file(f, buf, sizeof buf), 0u);
  char tiny[10];
  EXPECT_EQ(format_socket_file(Sample(), tiny, sizeof tiny), 0u);
}

TEST(SocketFileParse, RoundTrip) {
  for (uint16_t port : {1, 9, 10, 65535, 40123}) {
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      SocketFile f = Sample(type);
      f.port = port;
      SocketFile back;
      ASSERT_EQ(Parse(Format(f), &back), 0) << port;
      EXPECT_EQ(back.port, port);
      EXPECT_EQ(back.type, type);
      EXPECT_EQ(back.secret, f.secret);
      EXPECT_FALSE(back.has_client_secret);
    }
  }
}

TEST(SocketFileParse, AcceptsLowercaseHexAndMissingNul) {
  SocketFile f;
  EXPECT_EQ(Parse("!<socket >80 s 0123abcd-00000000-ffffffff-12345678", &f), 0);
  EXPECT_EQ(f.port, 80);
  EXPECT_EQ(f.secret.w[0], 0x0123abcdu);
  EXPECT_EQ(f.secret.w[2], 0xffffffffu);
}

TEST(SocketFileParse, EveryTruncationIsNotASocketFile) {
  std::string full = Format(Sample());
  // Every proper prefix up to the end of the secret is truncated: EBADF, never a crash.
  for (size_t n = 0; n + 1 < full.size(); ++n)
    EXPECT_EQ(Parse(full.substr(0, n)), EBADF) << "prefix of " << n << " bytes";
  EXPECT_EQ(Parse(full.substr(0, full.size() - 1)), 0);  // only the NUL missing
}

TEST(SocketFileParse, WrongMagic) {
  EXPECT_EQ(Parse(""), EBADF);
  EXPECT_EQ(Parse("hello, world"), EBADF);
  EXPECT_EQ(Parse("!<symlink>foo"), EBADF);  // Cygwin's other cookie
  EXPECT_EQ(Parse("!<SOCKET >40123 s 01234567-89ABCDEF-DEADBEEF-00000001"), EBADF);
  EXPECT_EQ(Parse(" !<socket >40123 s 01234567-89ABCDEF-DEADBEEF-00000001"), EBADF);
  EXPECT_EQ(Parse(std::string(64, '\0')), EBADF);
}

TEST(SocketFileParse, BadPort) {
  const std::string tail = " s 01234567-89ABCDEF-DEADBEEF-00000001";
  for (const char* port : {"", "0", "00000", "65536", "99999", "123456", "-1", "+80", "0x50",
                           " 80", "8 0", "abc"})
    EXPECT_EQ(Parse(std::string("!<socket >") + port + tail), EBADF) << "port '" << port << "'";
  EXPECT_EQ(Parse("!<socket >00080" + tail), 0);  // leading zeros are digits
}

TEST(SocketFileParse, WrongTypeLetterIsATypeMismatch) {
  const std::string secret = "01234567-89ABCDEF-DEADBEEF-00000001";
  for (char letter : {'x', 'S', 'D', 'q', '-', '0'})
    EXPECT_EQ(Parse(std::string("!<socket >80 ") + letter + " " + secret), EPROTOTYPE) << letter;
  // ... but only in an otherwise well-formed file.
  EXPECT_EQ(Parse("!<socket >80 x 0123"), EBADF);
  // A missing or doubled letter is malformed, not a type.
  EXPECT_EQ(Parse("!<socket >80  " + secret), EBADF);
  EXPECT_EQ(Parse("!<socket >80 ss " + secret), EBADF);
  EXPECT_EQ(Parse("!<socket >80 s"), EBADF);
  EXPECT_EQ(Parse("!<socket >80s " + secret), EBADF);
}

TEST(SocketFileParse, BadSecret) {
  for (const char* secret : {"0123456-89ABCDEF-DEADBEEF-00000001", "01234567-89ABCDEF-DEADBEEF",
                             "01234567_89ABCDEF_DEADBEEF_00000001", "0123456G-89ABCDEF-DEADBEEF-00000001",
                             "01234567-89ABCDEF-DEADBEEF-000000012", "01234567-89ABCDEF-DEADBEEF-00000001 junk",
                             "01234567-89ABCDEF-DEADBEEF-00000001 0123"})
    EXPECT_EQ(Parse(std::string("!<socket >80 s ") + secret), EBADF) << secret;
  // Anything after the NUL is ignored, as Cygwin reads a C string.
  EXPECT_EQ(Parse(std::string("!<socket >80 s 01234567-89ABCDEF-DEADBEEF-00000001") + '\0' + "xyz"),
            0);
}

TEST(SocketFileParse, BinaryGarbageNeverCrashes) {
  std::string s = "!<socket >";
  unsigned seed = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string t = s;
    size_t len = seed % 90;
    for (size_t i = 0; i < len; ++i) {
      seed = seed * 1103515245u + 12345u;
      t += static_cast<char>(seed >> 16);
    }
    int r = Parse(t);
    EXPECT_TRUE(r == 0 || r == EBADF || r == EPROTOTYPE);
  }
}

TEST(SocketFileMode, ReadBitWhereverWriteBit) {
  EXPECT_EQ(adjust_socket_mode(0755), 0755u);
  EXPECT_EQ(adjust_socket_mode(0222), 0666u);
  EXPECT_EQ(adjust_socket_mode(0733), 0777u);  // umask 044
  EXPECT_EQ(adjust_socket_mode(0333), 0777u);  // umask 444
  EXPECT_EQ(adjust_socket_mode(0700), 0700u);
  EXPECT_EQ(adjust_socket_mode(0), 0u);
  EXPECT_EQ(adjust_socket_mode(0466), 0466u);
}

TEST_F(TempDir, CreateWritesContentAndExactMode) {
  std::string p = Path("srv.sock");
  std::string content = Format(Sample());
  ASSERT_EQ(create_socket_file(p.c_str(), 0751, content.data(), content.size()), 0);
  struct stat st;
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0751u);
  char buf[kSocketFileMax];
  size_t len = 0;
  ASSERT_EQ(read_socket_file(p.c_str(), O_RDONLY, buf, sizeof buf, &len), 0);
  EXPECT_EQ(std::string(buf, len), content);
  EXPECT_EQ(create_socket_file(p.c_str(), 0751, content.data(), content.size()), EEXIST);
}

TEST_F(TempDir, CreateInMissingDirectory) {
  std::string p = Path("missing/srv.sock");
  EXPECT_EQ(create_socket_file(p.c_str(), 0755, "x", 1), ENOENT);
}

TEST_F(TempDir, ReadRefusesWhatIsNotARegularFile) {
  char buf[kSocketFileMax];
  size_t len;
  EXPECT_EQ(read_socket_file(Path("missing").c_str(), O_RDONLY, buf, sizeof buf, &len), ENOENT);
  ASSERT_EQ(::mkdir(Path("dir").c_str(), 0755), 0);
  EXPECT_EQ(read_socket_file(Path("dir").c_str(), O_RDONLY, buf, sizeof buf, &len), EBADF);
  // A FIFO with no writer: opening it must not block.
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0666), 0);
  EXPECT_EQ(read_socket_file(Path("fifo").c_str(), O_RDONLY, buf, sizeof buf, &len), EBADF);
  EXPECT_EQ(read_socket_file("/dev/null", O_RDONLY, buf, sizeof buf, &len), EBADF);
}

TEST_F(TempDir, ReadIsBounded) {
  std::string p = Path("big");
  std::string big(100000, 'a');
  ASSERT_EQ(create_socket_file(p.c_str(), 0644, big.data(), big.size()), 0);
  char buf[kSocketFileMax];
  size_t len = 0;
  ASSERT_EQ(read_socket_file(p.c_str(), O_RDONLY, buf, sizeof buf, &len), 0);
  EXPECT_EQ(len, sizeof buf);
  SocketFile f;
  EXPECT_EQ(parse_socket_file(buf, len, &f), EBADF);
}

// ---- addresses ----------------------------------------------------------------------------------

namespace {

sockaddr_un Un(const std::string& bytes) {
  sockaddr_un u;
  std::memset(&u, 0, sizeof u);
  u.sun_family = AF_UNIX;
  std::memcpy(u.sun_path, bytes.data(), std::min(bytes.size(), sizeof u.sun_path));
  return u;
}

socklen_t Len(size_t path_bytes) {
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_bytes);
}

}  // namespace

TEST(Addresses, BindRules) {
  UnixAddr a;
  sockaddr_un u = Un("srv.sock");
  ASSERT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&u), Len(9), &a), 0);
  EXPECT_STREQ(a.path, "srv.sock");
  // addrlen not covering the NUL is accepted (Cygwin: "projects out there" do that).
  ASSERT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&u), Len(8), &a), 0);
  EXPECT_STREQ(a.path, "srv.sock");
  EXPECT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&u), Len(0), &a), EINVAL);  // autobind
  EXPECT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&u), Len(1), &a), ENOENT);
  EXPECT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&u), 1, &a), EINVAL);
  sockaddr_un abs = Un(std::string("\0name", 5));
  EXPECT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&abs), Len(5), &a), ENOENT);
  sockaddr_un inet = u;
  inet.sun_family = AF_INET;
  EXPECT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&inet), Len(9), &a), EINVAL);
  // A full 108-byte path without NUL.
  sockaddr_un longest = Un(std::string(sizeof u.sun_path, 'p'));
  ASSERT_EQ(parse_bind_addr(reinterpret_cast<sockaddr*>(&longest), sizeof longest, &a), 0);
  EXPECT_EQ(std::strlen(a.path), sizeof u.sun_path);
}

TEST(Addresses, ConnectRules) {
  UnixAddr a;
  sockaddr_un u = Un("dir/srv.sock");
  ASSERT_EQ(parse_connect_addr(reinterpret_cast<sockaddr*>(&u), Len(13), &a), 0);
  EXPECT_EQ(a.kind, AddrKind::kPath);
  EXPECT_STREQ(a.path, "dir/srv.sock");
  sockaddr_un abs = Un(std::string("\0name", 5));
  EXPECT_EQ(parse_connect_addr(reinterpret_cast<sockaddr*>(&abs), Len(5), &a), ENOENT);
  EXPECT_EQ(parse_connect_addr(reinterpret_cast<sockaddr*>(&u), Len(0), &a), ENOENT);
  EXPECT_EQ(parse_connect_addr(reinterpret_cast<sockaddr*>(&u), 1, &a), EINVAL);
  sockaddr_un inet = u;
  inet.sun_family = AF_INET6;
  EXPECT_EQ(parse_connect_addr(reinterpret_cast<sockaddr*>(&inet), Len(13), &a), EAFNOSUPPORT);
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_EQ(parse_connect_addr(&unspec, sizeof unspec, &a), 0);
  EXPECT_EQ(a.kind, AddrKind::kUnspec);
}

TEST(Addresses, MadeUpDatagramNameRoundTrips) {
  for (uint16_t port : {1, 0x1a2b, 65535}) {
    sockaddr_un u;
    socklen_t len = make_dgram_name(port, &u);
    EXPECT_EQ(len, Len(7));
    EXPECT_EQ(u.sun_path[0], '\0');
    EXPECT_EQ(u.sun_path[1], 'd');
    EXPECT_EQ(u.sun_path[6], '\0');
    UnixAddr a;
    ASSERT_EQ(parse_connect_addr(reinterpret_cast<sockaddr*>(&u), len, &a), 0);
    EXPECT_EQ(a.kind, AddrKind::kDgramName);
    EXPECT_EQ(a.port, port);
  }
  sockaddr_un u;
  make_dgram_name(0x1a2b, &u);
  EXPECT_EQ(std::string(u.sun_path + 1, 5), "d1A2B");
  // Too short to hold the name: an (empty) abstract address.
  UnixAddr a;
  EXPECT_EQ(parse_connect_addr(reinterpret_cast<sockaddr*>(&u), Len(6), &a), ENOENT);
}

TEST(Addresses, PathAddressLengthsAndTruncatedCopies) {
  sockaddr_un u;
  EXPECT_EQ(make_path_addr("srv.sock", &u), Len(9));
  EXPECT_EQ(make_path_addr("", &u), sizeof(sa_family_t));
  EXPECT_EQ(make_path_addr(nullptr, &u), sizeof(sa_family_t));
  socklen_t full = make_path_addr("srv.sock", &u);
  char out[4] = {'x', 'x', 'x', 'x'};
  socklen_t len = 3;
  copy_addr_out(u, full, reinterpret_cast<sockaddr*>(out), &len);
  EXPECT_EQ(len, full);
  EXPECT_EQ(out[2], 's');
  EXPECT_EQ(out[3], 'x');  // nothing written past the caller's length
}

// ---- the traverse mirror's names ----------------------------------------------------------------

TEST(TraverseMirror, LexicalAbsolutePaths) {
  char out[256];
  struct Case {
    const char* cwd;
    const char* path;
    const char* want;
  } cases[] = {
      {"/tmp/scn-1", "srv.sock", "/tmp/scn-1/srv.sock"},
      {"/tmp/scn-1", "private/srv.sock", "/tmp/scn-1/private/srv.sock"},
      {"/tmp/scn-1", "./private//./srv.sock", "/tmp/scn-1/private/srv.sock"},
      {"/tmp/scn-1", "a/b/../../srv.sock", "/tmp/scn-1/srv.sock"},
      {"/tmp/scn-1", "/var/run/x.sock", "/var/run/x.sock"},
      {"/", "x", "/x"},
      {"/tmp", "../../..", "/"},
      {"/tmp/", "s", "/tmp/s"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(lexical_absolute(c.cwd, c.path, out, sizeof out)) << c.path;
    EXPECT_STREQ(out, c.want) << c.cwd << " + " << c.path;
  }
  EXPECT_FALSE(lexical_absolute("/tmp", "a-rather-long-name", out, 12));
}

TEST(TraverseMirror, OneNamePerPath) {
  char a[128], b[128], c[128];
  ASSERT_TRUE(traverse_mirror_path("/tmp/m", "/tmp/scn/private/srv.sock", a, sizeof a));
  ASSERT_TRUE(traverse_mirror_path("/tmp/m", "/tmp/scn/private/srv.sock", b, sizeof b));
  ASSERT_TRUE(traverse_mirror_path("/tmp/m", "/tmp/scn/public/srv.sock", c, sizeof c));
  EXPECT_STREQ(a, b);
  EXPECT_STRNE(a, c);
  EXPECT_EQ(std::strlen(a), std::strlen("/tmp/m/") + 16);
  EXPECT_FALSE(traverse_mirror_path("/tmp/m", "/x", a, 10));
}
