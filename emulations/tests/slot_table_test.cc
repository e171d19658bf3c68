// proposal-2's connection table: the fixed-width format, strict validation of malformed tables,
// slot allocation, and the locked file operations (including an interrupted lock wait).
#include "slot_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

using namespace afunix_emu;

namespace {

const Cred kServer{4242, 61001, 61001};
const Cred kClient{5353, 61003, 61003};

std::string Header(int type = SOCK_STREAM) {
  char buf[64];
  size_t n = format_table_header(type, buf, sizeof buf);
  return std::string(buf, n);
}

std::string Line(const Slot& s) {
  char buf[kSlotLen];
  format_slot(s, buf);
  return std::string(buf, kSlotLen);
}

std::string Table(std::vector<Slot> slots, int type = SOCK_STREAM) {
  std::string t = Header(type);
  for (const Slot& s : slots) t += Line(s);
  return t;
}

int Parse(const std::string& t, int* type = nullptr, size_t* n = nullptr) {
  int ty;
  size_t ns;
  std::vector<char> copy(t.begin(), t.end());
  return parse_table(copy.data(), copy.size(), type ? type : &ty, n ? n : &ns);
}

class TableFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/afunix-emu-table-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/srv.sock";
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Contents() const {
    std::string out;
    FILE* f = fopen(path_.c_str(), "rb");
    if (!f) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    fclose(f);
    return out;
  }
  void Write(const std::string& content) {
    FILE* f = fopen(path_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(content.data(), 1, content.size(), f);
    fclose(f);
  }
  std::string dir_, path_;
};

}  // namespace

TEST(SlotTableFormat, FixedWidthLines) {
  EXPECT_EQ(Header(SOCK_STREAM), "!<socket-table> s\n");
  EXPECT_EQ(Header(SOCK_DGRAM), "!<socket-table> d\n");
  EXPECT_EQ(Header(SOCK_STREAM).size(), kTableHeaderLen);
  EXPECT_EQ(Line(Slot{40123, kServer, 1700000000}),
            "40123 0000004242 0000061001 0000061001 00000000001700000000\n");
  EXPECT_EQ(Line(Slot{0, Cred{0, 0, 0}, 0}).size(), kSlotLen);
  Slot big{65535, Cred{0x7fffffff, 0xffffffffu, 0xffffffffu}, 0x7fffffffffffffffLL};
  EXPECT_EQ(Line(big).size(), kSlotLen);
  std::string t = Table({big});
  ASSERT_EQ(Parse(t), 0);
  Slot back = table_slot(t.data(), 0);
  EXPECT_EQ(back.port, 65535);
  EXPECT_EQ(back.cred, big.cred);
  EXPECT_EQ(back.stamp, big.stamp);
  char buf[64];
  EXPECT_EQ(format_table_header(SOCK_SEQPACKET, buf, sizeof buf), 0u);
  EXPECT_EQ(format_table_header(SOCK_STREAM, buf, 4), 0u);
}

TEST(SlotTableParse, Valid) {
  int type;
  size_t n;
  std::string t = Table({{40123, kServer, 1}, {50000, kClient, 2}, {0, {0, 0, 0}, 0}}, SOCK_DGRAM);
  ASSERT_EQ(Parse(t, &type, &n), 0);
  EXPECT_EQ(type, SOCK_DGRAM);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(table_slot(t.data(), 1).cred, kClient);
}

TEST(SlotTableParse, Malformed) {
  std::string good = Table({{40123, kServer, 1}, {50000, kClient, 2}});
  ASSERT_EQ(Parse(good), 0);
  for (size_t n = 0; n < good.size(); ++n) {
    if (n == kTableHeaderLen + kSlotLen) continue;  // a whole table of one slot
    int r = Parse(good.substr(0, n));
    EXPECT_EQ(r, EBADF) << "truncated to " << n;
  }
  EXPECT_EQ(Parse("!<socket >40123 s 01234567-89ABCDEF-DEADBEEF-00000001"), EBADF);
  std::string wrong_magic = good;
  wrong_magic[2] = 'S';
  EXPECT_EQ(Parse(wrong_magic), EBADF);
  std::string letter = good;
  letter[kTableMagicLen] = 'x';
  EXPECT_EQ(Parse(letter), EPROTOTYPE);
  std::string no_newline = good;
  no_newline[kTableHeaderLen - 1] = ' ';
  EXPECT_EQ(Parse(no_newline), EBADF);
  std::string digit = good;
  digit[kTableHeaderLen + 3] = 'z';
  EXPECT_EQ(Parse(digit), EBADF);
  std::string sep = good;
  sep[kTableHeaderLen + 5] = '-';
  EXPECT_EQ(Parse(sep), EBADF);
  std::string port = good;
  port.replace(kTableHeaderLen, 5, "70000");
  EXPECT_EQ(Parse(port), EBADF);
  EXPECT_EQ(Parse(Header()), EBADF);  // no slot 0
  EXPECT_EQ(Parse(Table({{0, kServer, 1}})), EBADF);  // slot 0 without a port
  EXPECT_EQ(Parse(good + "x"), EBADF);
  std::vector<Slot> many(1 + kMaxClientSlots + 1, Slot{1, kClient, 1});
  EXPECT_EQ(Parse(Table(many)), EBADF);
  many.pop_back();
  EXPECT_EQ(Parse(Table(many)), 0);
}

TEST(SlotTablePlan, Allocation) {
  int64_t now = 1000000;
  std::string t = Table({{40123, kServer, now}, {50000, kClient, now}, {0, {0, 0, 0}, 0}});
  size_t n = 3;
  EXPECT_EQ(plan_client_slot(t.data(), n, 50000, now), 1);  // the same port: overwrite
  EXPECT_EQ(plan_client_slot(t.data(), n, 50001, now), 2);  // the free slot
  std::string full = Table({{40123, kServer, now}, {50000, kClient, now}});
  EXPECT_EQ(plan_client_slot(full.data(), 2, 50001, now), 2);  // append
  EXPECT_EQ(find_client_slot(t.data(), n, 50000), 1);
  EXPECT_EQ(find_client_slot(t.data(), n, 40123), -1);  // never the server's slot
  EXPECT_EQ(find_client_slot(t.data(), n, 0), -1);

  std::vector<Slot> max(1 + kMaxClientSlots, Slot{0, kClient, now});
  max[0] = Slot{40123, kServer, now};
  for (size_t i = 1; i < max.size(); ++i) max[i].port = static_cast<uint16_t>(1000 + i);
  max[7].stamp = now - kSlotTtlSeconds - 5;  // abandoned long ago
  max[9].stamp = now - kSlotTtlSeconds - 1;
  std::string m = Table(max);
  EXPECT_EQ(plan_client_slot(m.data(), max.size(), 60000, now), 7);  // the oldest expired one
  max[7].stamp = max[9].stamp = now;
  m = Table(max);
  EXPECT_EQ(plan_client_slot(m.data(), max.size(), 60000, now), -1);  // full
}

TEST_F(TableFile, ConnectAcceptLifecycle) {
  ASSERT_EQ(table_create(path_.c_str(), 0640, SOCK_STREAM, Slot{40123, kServer, 10}), 0);
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Contents(), Table({{40123, kServer, 10}}));
  EXPECT_EQ(table_create(path_.c_str(), 0640, SOCK_STREAM, Slot{1, kServer, 10}), EEXIST);

  Slot server;
  ASSERT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{50000, kClient, 11}, &server), 0);
  EXPECT_EQ(server.port, 40123);
  EXPECT_EQ(server.cred, kServer);
  ASSERT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{50001, kServer, 12}, &server), 0);
  EXPECT_EQ(table_register(path_.c_str(), SOCK_DGRAM, Slot{50002, kClient, 12}, &server), EPROTOTYPE);

  Slot client;
  ASSERT_EQ(table_claim(path_.c_str(), 50000, &client), 0);
  EXPECT_EQ(client.cred, kClient);
  EXPECT_EQ(client.stamp, 11);
  EXPECT_EQ(table_claim(path_.c_str(), 50000, &client), ESRCH);  // claimed once
  ASSERT_EQ(table_release(path_.c_str(), 50001), 0);
  EXPECT_EQ(table_claim(path_.c_str(), 50001, &client), ESRCH);
  EXPECT_EQ(table_release(path_.c_str(), 12345), 0);
  // Freed slots are reused rather than appended.
  ASSERT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{50003, kClient, 13}, &server), 0);
  EXPECT_EQ(Contents().size(), kTableHeaderLen + 3 * kSlotLen);

  int type;
  ASSERT_EQ(table_read_server(path_.c_str(), &type, &server), 0);
  EXPECT_EQ(type, SOCK_STREAM);
  EXPECT_EQ(server.port, 40123);
}

TEST_F(TableFile, FullTable) {
  ASSERT_EQ(table_create(path_.c_str(), 0600, SOCK_STREAM, Slot{40123, kServer, 10}), 0);
  int64_t now = static_cast<int64_t>(time(nullptr));
  Slot server;
  for (size_t i = 0; i < kMaxClientSlots; ++i)
    ASSERT_EQ(table_register(path_.c_str(), SOCK_STREAM,
                             Slot{static_cast<uint16_t>(1000 + i), kClient, now}, &server),
              0);
  EXPECT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{60000, kClient, now}, &server), EAGAIN);
}

TEST_F(TableFile, MalformedFilesGiveClearErrors) {
  Slot s;
  int type;
  EXPECT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{1, kClient, 1}, &s), ENOENT);
  Write("");
  EXPECT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{1, kClient, 1}, &s), EBADF);
  Write("!<socket >40123 s 01234567-89ABCDEF-DEADBEEF-00000001");
  EXPECT_EQ(table_claim(path_.c_str(), 1, &s), EBADF);
  Write(Table({{40123, kServer, 1}}).substr(0, 40));
  EXPECT_EQ(table_read_server(path_.c_str(), &type, &s), EBADF);
  std::string bad = Table({{40123, kServer, 1}});
  bad[kTableMagicLen] = 'q';
  Write(bad);
  EXPECT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{1, kClient, 1}, &s), EPROTOTYPE);
  Write(std::string(kTableMax + 1, 'x'));
  EXPECT_EQ(table_read_server(path_.c_str(), &type, &s), EBADF);
  ::unlink(path_.c_str());
  ASSERT_EQ(::mkfifo(path_.c_str(), 0666), 0);  // must not block in open()
  EXPECT_EQ(table_read_server(path_.c_str(), &type, &s), EBADF);
  ::unlink(path_.c_str());
  ASSERT_EQ(::mkdir(path_.c_str(), 0755), 0);
  EXPECT_EQ(table_read_server(path_.c_str(), &type, &s), EBADF);
}

namespace {
volatile sig_atomic_t g_alarms = 0;
void OnAlarm(int) { g_alarms = g_alarms + 1; }
}  // namespace

TEST_F(TableFile, InterruptedLockWaitReturnsEintr) {
  ASSERT_EQ(table_create(path_.c_str(), 0600, SOCK_STREAM, Slot{40123, kServer, 10}), 0);
  int holder = ::open(path_.c_str(), O_RDWR);
  ASSERT_GE(holder, 0);
  ASSERT_EQ(flock(holder, LOCK_EX), 0);  // someone else holds the table, forever
  struct sigaction sa {}, old {};
  sa.sa_handler = OnAlarm;
  sigemptyset(&sa.sa_mask);  // no SA_RESTART, like the harness's watchdog
  sigaction(SIGALRM, &sa, &old);
  itimerval t{{0, 0}, {0, 100000}};
  setitimer(ITIMER_REAL, &t, nullptr);
  Slot s;
  EXPECT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{1, kClient, 1}, &s), EINTR);
  EXPECT_EQ(g_alarms, 1);
  sigaction(SIGALRM, &old, nullptr);
  close(holder);
  EXPECT_EQ(table_register(path_.c_str(), SOCK_STREAM, Slot{1, kClient, 1}, &s), 0);
}
