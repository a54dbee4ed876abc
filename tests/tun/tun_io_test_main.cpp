// main() of tun_io_tests: as root, move into a private network namespace before any test runs
// (single-threaded here, as unshare(CLONE_NEWNET) wants), bring its loopback up, and remount
// /sys privately so that /sys/class/net shows this namespace (as `ip netns exec` does), then run.
#include <gtest/gtest.h>
#include <linux/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tests/tun/io_test_util.hpp"

namespace tunstack::tun::testing {
bool g_private_netns = false;
}

namespace {

bool loopback_up() {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  ok = ok && ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  ::close(s);
  return ok;
}

bool private_sysfs() {
  return ::unshare(CLONE_NEWNS) == 0 &&
         ::mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) == 0 &&
         ::umount2("/sys", MNT_DETACH) == 0 && ::mount("sysfs", "/sys", "sysfs", 0, nullptr) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (::geteuid() == 0 && ::unshare(CLONE_NEWNET) == 0 && loopback_up() && private_sysfs())
    tunstack::tun::testing::g_private_netns = true;
  return RUN_ALL_TESTS();
}
