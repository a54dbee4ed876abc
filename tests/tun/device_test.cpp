// tun::Device: opening, attaching, adopting, configuring, and the error messages for each way
// that can fail. Runs inside the test binary's private network namespace.
#include "tun/device.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "tests/tun/io_test_util.hpp"

namespace tunstack::tun {
namespace {

using testing::sh;

// Opens the clone device and attaches it with raw flags (for the adoption error cases).
int raw_tun(const char* name, short flags) {
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  if (name == nullptr) return fd;  // unattached clone descriptor
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = flags;
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool link_is_up(const std::string& name) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  const bool up = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) != 0;
  ::close(s);
  return up;
}

int tx_queue_len(const std::string& name) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  const int rc = ::ioctl(s, SIOCGIFTXQLEN, &ifr);
  ::close(s);
  return rc == 0 ? ifr.ifr_qlen : -1;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

TEST(TunDevice, CreatesNamedDeviceWithMtuAndUp) {
  TUNSTACK_REQUIRE_NETNS();
  DeviceConfig cfg;
  cfg.name = "tsdev0";
  cfg.mtu = 1280;
  cfg.up = true;
  cfg.tx_queue_len = 3000;
  auto dev = Device::open(cfg);
  ASSERT_TRUE(dev.ok()) << dev.error();
  EXPECT_EQ(dev->name(), "tsdev0");
  EXPECT_GE(dev->fd(), 0);
  EXPECT_NE(::fcntl(dev->fd(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(dev->fd(), F_GETFD) & FD_CLOEXEC, 0);
  auto mtu = dev->mtu();
  ASSERT_TRUE(mtu.ok()) << mtu.error();
  EXPECT_EQ(*mtu, 1280u);
  EXPECT_TRUE(link_is_up("tsdev0"));
  EXPECT_EQ(tx_queue_len("tsdev0"), 3000);
  ASSERT_TRUE(dev->set_up(false).ok());
  EXPECT_FALSE(link_is_up("tsdev0"));
  EXPECT_EQ(dev->vnet_hdr_size(), 0u);
}

TEST(TunDevice, KernelPicksNameWhenEmpty) {
  TUNSTACK_REQUIRE_NETNS();
  auto dev = Device::open(DeviceConfig{});
  ASSERT_TRUE(dev.ok()) << dev.error();
  EXPECT_EQ(dev->name().rfind("tun", 0), 0u) << dev->name();
}

TEST(TunDevice, ClosesOnDestructionAndMoves) {
  TUNSTACK_REQUIRE_NETNS();
  DeviceConfig cfg;
  cfg.name = "tsdev1";
  int fd = -1;
  {
    auto dev = Device::open(cfg);
    ASSERT_TRUE(dev.ok()) << dev.error();
    Device moved = std::move(*dev);
    EXPECT_EQ(dev->fd(), -1);
    fd = moved.fd();
    EXPECT_GE(::fcntl(fd, F_GETFD), 0);
  }
  EXPECT_LT(::fcntl(fd, F_GETFD), 0);  // closed: a non-persistent device is gone with it
  EXPECT_FALSE(sh("ip link show dev tsdev1"));
}

TEST(TunDevice, AttachesToPersistentDevice) {
  TUNSTACK_REQUIRE_NETNS();
  ASSERT_TRUE(sh("ip tuntap add mode tun name tspers0"));
  {
    DeviceConfig cfg;
    cfg.name = "tspers0";
    auto dev = Device::open(cfg);
    ASSERT_TRUE(dev.ok()) << dev.error();
    EXPECT_EQ(dev->name(), "tspers0");
  }
  EXPECT_TRUE(sh("ip link show dev tspers0"));  // still there: it is persistent
  EXPECT_TRUE(sh("ip link del dev tspers0"));
}

TEST(TunDevice, BusyDeviceSaysSo) {
  TUNSTACK_REQUIRE_NETNS();
  DeviceConfig cfg;
  cfg.name = "tsbusy0";
  auto first = Device::open(cfg);
  ASSERT_TRUE(first.ok()) << first.error();
  auto second = Device::open(cfg);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(contains(second.error(), "busy")) << second.error();
}

TEST(TunDevice, MultiQueueOpensSeveralQueues) {
  TUNSTACK_REQUIRE_NETNS();
  DeviceConfig cfg;
  cfg.name = "tsmq0";
  cfg.multi_queue = true;
  auto q0 = Device::open(cfg);
  auto q1 = Device::open(cfg);
  ASSERT_TRUE(q0.ok()) << q0.error();
  ASSERT_TRUE(q1.ok()) << q1.error();
  EXPECT_TRUE(q0->multi_queue());
  EXPECT_NE(q0->fd(), q1->fd());
  // A single-queue open of a multi-queue device is refused with the hint about the flag.
  cfg.multi_queue = false;
  auto single = Device::open(cfg);
  ASSERT_FALSE(single.ok());
  EXPECT_TRUE(contains(single.error(), "IFF_MULTI_QUEUE") || contains(single.error(), "Invalid"))
      << single.error();
}

TEST(TunDevice, VnetHeaderOption) {
  TUNSTACK_REQUIRE_NETNS();
  DeviceConfig cfg;
  cfg.name = "tsvnet0";
  cfg.vnet_hdr = true;
  auto dev = Device::open(cfg);
  ASSERT_TRUE(dev.ok()) << dev.error();
  EXPECT_EQ(dev->vnet_hdr_size(), Device::kVnetHdrSize);
  const int dup = ::dup(dev->fd());
  auto adopted = Device::adopt_fd(dup);
  ASSERT_TRUE(adopted.ok()) << adopted.error();
  EXPECT_EQ(adopted->vnet_hdr_size(), Device::kVnetHdrSize);
}

TEST(TunDevice, BadNamesAreRefusedWithTheRule) {
  DeviceConfig cfg;
  cfg.name = "this-name-is-far-too-long";
  auto r = Device::open(cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "too long")) << r.error();
  cfg.name = "a/b";
  r = Device::open(cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "'/'")) << r.error();
  cfg.name = "..";
  r = Device::open(cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "not a valid interface name")) << r.error();
}

TEST(TunDevice, NameTakenByAnotherKindOfInterface) {
  TUNSTACK_REQUIRE_NETNS();
  DeviceConfig cfg;
  cfg.name = "lo";
  auto r = Device::open(cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "TUNSETIFF") || contains(r.error(), "another kind")) << r.error();
}

TEST(TunDevice, MissingCloneDeviceSuggestsModprobe) {
  DeviceConfig cfg;
  cfg.name = "tsnone0";
  cfg.clone_path = "/nonexistent/net/tun";
  auto r = Device::open(cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "modprobe tun")) << r.error();
  EXPECT_TRUE(contains(r.error(), "/nonexistent/net/tun")) << r.error();
}

TEST(TunDevice, WithoutPrivilegeNamesTheCapability) {
  TUNSTACK_REQUIRE_NETNS();
  // A child that gives up root (and with it CAP_NET_ADMIN) reports the error through a pipe.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(p[0]);
    std::string msg = "setuid failed";
    if (::setgid(65534) == 0 && ::setuid(65534) == 0) {
      DeviceConfig cfg;
      cfg.name = "tsperm0";
      auto r = Device::open(cfg);
      msg = r.ok() ? std::string("opened") : r.error();
    }
    [[maybe_unused]] auto n = ::write(p[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(contains(got, "CAP_NET_ADMIN")) << got;
}

TEST(TunDevice, AdoptsAnOpenDescriptorAndLearnsItsName) {
  TUNSTACK_REQUIRE_NETNS();
  const int fd = raw_tun("tsadopt0", IFF_TUN | IFF_NO_PI);  // blocking, as a parent might hand it
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  auto dev = Device::adopt_fd(fd);
  ASSERT_TRUE(dev.ok()) << dev.error();
  EXPECT_EQ(dev->name(), "tsadopt0");
  EXPECT_EQ(dev->fd(), fd);
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_FALSE(dev->multi_queue());
}

TEST(TunDevice, AdoptionErrors) {
  TUNSTACK_REQUIRE_NETNS();
  auto r = Device::adopt_fd(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "not an open descriptor")) << r.error();

  const int closed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ::close(closed);
  r = Device::adopt_fd(closed);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "not an open descriptor")) << r.error();

  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  r = Device::adopt_fd(null_fd);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "not a TUN device")) << r.error();
  EXPECT_GE(::fcntl(null_fd, F_GETFD), 0);  // still the caller's, still open
  ::close(null_fd);

  const int clone = raw_tun(nullptr, 0);
  r = Device::adopt_fd(clone);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "no interface attached")) << r.error();
  ::close(clone);

  const int tap = raw_tun("tstap0", IFF_TAP | IFF_NO_PI);
  ASSERT_GE(tap, 0);
  r = Device::adopt_fd(tap);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "TAP")) << r.error();
  ::close(tap);

  const int with_pi = raw_tun("tspi0", IFF_TUN);
  ASSERT_GE(with_pi, 0);
  r = Device::adopt_fd(with_pi);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "IFF_NO_PI")) << r.error();
  ::close(with_pi);
}

}  // namespace
}  // namespace tunstack::tun
