#include "tun/device.hpp"
#include "tun/sock_util.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

namespace tunstack::tun {

namespace {


// Kernel rules for interface names (net/core/dev.c dev_valid_name): 1..15 bytes, not "." or "..",
// no '/', ':' or whitespace. Checked here so the error can say which rule was broken.
std::optional<std::string> invalid_name(std::string_view name) {
  if (name.size() >= IFNAMSIZ)
    return "interface name '" + std::string(name) + "' is too long (at most " +
           std::to_string(IFNAMSIZ - 1) + " bytes)";
  if (name == "." || name == "..") return "'" + std::string(name) + "' is not a valid interface name";
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0')
      return "interface name '" + std::string(name) + "' contains '/', ':', NUL or whitespace";
  }
  return std::nullopt;
}

// The text for a failed TUNSETIFF: the errno values the kernel uses and what each means here.
std::string setiff_error(const DeviceConfig& cfg, int e) {
  const std::string who = cfg.name.empty() ? std::string("a new TUN device")
                                           : "TUN device '" + cfg.name + "'";
  switch (e) {
    case EPERM:
    case EACCES:
      return "cannot attach to " + who + ": " + errno_text(e) +
             " (creating or attaching a TUN device needs CAP_NET_ADMIN: run as root, grant the "
             "capability, or use a persistent device owned by this user)";
    case EBUSY:
      return "cannot attach to " + who + ": device busy (another process is attached to it, or "
             "it was created " + (cfg.multi_queue ? "without" : "with") + " IFF_MULTI_QUEUE)";
    case EINVAL:
      return "cannot attach to " + who + ": " + errno_text(e) +
             " (an interface of another kind, such as a TAP or veth, may already use this name, "
             "or the requested flags differ from the persistent device's)";
    default:
      return "cannot attach to " + who + ": TUNSETIFF: " + errno_text(e);
  }
}

// A throwaway datagram socket for interface ioctls, in the calling thread's namespace.
Result<int, std::string> ioctl_socket() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Err{"socket(AF_INET) for interface ioctls: " + errno_text(errno)};
  return s;
}

// The device's real TUN flags from sysfs (nullopt when the interface is not visible in this
// namespace's sysfs). Needed because TUNGETIFF sets 0x1000 (IFF_NOFILTER, which has the same value
// as IFF_NO_PI) whenever no socket filter is attached, so the ioctl alone cannot tell PI mode.
std::optional<unsigned> sysfs_tun_flags(const std::string& name) {
  const std::string path = "/sys/class/net/" + name + "/tun_flags";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  char* end = nullptr;
  const unsigned long v = std::strtoul(buf, &end, 16);
  if (end == buf) return std::nullopt;
  return static_cast<unsigned>(v);
}

ifreq make_ifreq(const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), std::size_t{IFNAMSIZ - 1}));
  return ifr;
}

}  // namespace

Result<Device, std::string> Device::open(const DeviceConfig& cfg) {
  if (!cfg.name.empty()) {
    if (auto why = invalid_name(cfg.name)) return Err{*why};
  }
  int fd = ::open(cfg.clone_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    std::string msg = "cannot open " + cfg.clone_path + ": " + errno_text(e);
    if (e == ENOENT || e == ENODEV || e == ENXIO)
      msg += " (no TUN support: load the module with `modprobe tun`; in a container, pass the "
             "device in, e.g. --device /dev/net/tun)";
    else if (e == EACCES || e == EPERM)
      msg += " (needs read/write permission on the clone device, and CAP_NET_ADMIN to create "
             "interfaces)";
    return Err{msg};
  }
  ifreq ifr = make_ifreq(cfg.name);
  short flags = IFF_TUN | IFF_NO_PI;
  if (cfg.multi_queue) flags = static_cast<short>(flags | IFF_MULTI_QUEUE);
  if (cfg.vnet_hdr) flags = static_cast<short>(flags | IFF_VNET_HDR);
  ifr.ifr_flags = flags;
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    const int e = errno;
    ::close(fd);
    return Err{setiff_error(cfg, e)};
  }
  std::size_t vnet = 0;
  if (cfg.vnet_hdr) {
    // 12 bytes (virtio 1.0 header with num_buffers) rather than the legacy 10, so that the IP
    // header after it stays 4-byte aligned in the pooled buffer.
    int sz = static_cast<int>(kVnetHdrSize);
    if (::ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
      const int e = errno;
      ::close(fd);
      return Err{"TUNSETVNETHDRSZ on '" + cfg.name + "': " + errno_text(e)};
    }
    vnet = kVnetHdrSize;
  }
  Device dev(fd, std::string(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ)), cfg.multi_queue, vnet);
  if (cfg.mtu) {
    if (auto st = dev.set_mtu(*cfg.mtu); !st) return Err{st.error()};
  }
  if (cfg.tx_queue_len) {
    if (auto st = dev.set_tx_queue_len(*cfg.tx_queue_len); !st) return Err{st.error()};
  }
  if (cfg.up) {
    if (auto st = dev.set_up(true); !st) return Err{st.error()};
  }
  return dev;
}

Result<Device, std::string> Device::adopt_fd(int fd) {
  const std::string who = "fd " + std::to_string(fd);
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0) return Err{"cannot adopt " + who + ": " + errno_text(errno) + " (not an open descriptor)"};
  ifreq ifr{};
  if (::ioctl(fd, TUNGETIFF, &ifr) < 0) {
    const int e = errno;
    if (e == EBADFD)
      return Err{"cannot adopt " + who + ": it is a TUN clone descriptor with no interface "
                 "attached (TUNSETIFF was never called on it)"};
    return Err{"cannot adopt " + who + ": not a TUN device (TUNGETIFF: " + errno_text(e) + ")"};
  }
  const int flags = ifr.ifr_flags;
  if ((flags & IFF_TUN) == 0)
    return Err{"cannot adopt " + who + ": it is a TAP device; tunstack needs IFF_TUN (raw IP)"};
  const std::string name(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
  const auto real = sysfs_tun_flags(name);
  if ((flags & IFF_NO_PI) == 0 || (real && (*real & IFF_NO_PI) == 0))
    return Err{"cannot adopt " + who + ": packets carry a packet-information header "
               "(IFF_NO_PI not set); reopen it with IFF_NO_PI"};
  std::size_t vnet = 0;
  if ((flags & IFF_VNET_HDR) != 0) {
    int sz = 0;
    if (::ioctl(fd, TUNGETVNETHDRSZ, &sz) < 0 || sz < 0)
      return Err{"cannot adopt " + who + ": TUNGETVNETHDRSZ: " + errno_text(errno)};
    vnet = static_cast<std::size_t>(sz);
  }
  if ((fl & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return Err{"cannot adopt " + who + ": setting O_NONBLOCK: " + errno_text(errno)};
  const int fdfl = ::fcntl(fd, F_GETFD);
  if (fdfl >= 0) (void)::fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC);  // not fatal: hygiene only
  return Device(fd, name, (flags & IFF_MULTI_QUEUE) != 0, vnet);
}

Device::Device(Device&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      name_(std::move(o.name_)),
      multi_queue_(o.multi_queue_),
      vnet_hdr_size_(o.vnet_hdr_size_) {}

Device& Device::operator=(Device&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    name_ = std::move(o.name_);
    multi_queue_ = o.multi_queue_;
    vnet_hdr_size_ = o.vnet_hdr_size_;
  }
  return *this;
}

Device::~Device() {
  if (fd_ >= 0) ::close(fd_);
}

int Device::release() { return std::exchange(fd_, -1); }

Status<std::string> Device::set_mtu(unsigned mtu) const {
  auto s = ioctl_socket();
  if (!s) return Err{s.error()};
  ifreq ifr = make_ifreq(name_);
  ifr.ifr_mtu = static_cast<int>(mtu);
  const int rc = ::ioctl(*s, SIOCSIFMTU, &ifr);
  const int e = errno;
  ::close(*s);
  if (rc < 0) {
    std::string msg = "setting MTU " + std::to_string(mtu) + " on '" + name_ + "': " + errno_text(e);
    if (e == EPERM) msg += " (needs CAP_NET_ADMIN)";
    if (e == ENODEV) msg += " (no such interface in this network namespace)";
    return Err{msg};
  }
  return {};
}

Status<std::string> Device::set_tx_queue_len(unsigned len) const {
  auto s = ioctl_socket();
  if (!s) return Err{s.error()};
  ifreq ifr = make_ifreq(name_);
  ifr.ifr_qlen = static_cast<int>(len);
  const int rc = ::ioctl(*s, SIOCSIFTXQLEN, &ifr);
  const int e = errno;
  ::close(*s);
  if (rc < 0) {
    std::string msg = "setting txqueuelen " + std::to_string(len) + " on '" + name_ + "': " + errno_text(e);
    if (e == EPERM) msg += " (needs CAP_NET_ADMIN)";
    return Err{msg};
  }
  return {};
}

Result<unsigned, std::string> Device::mtu() const {
  auto s = ioctl_socket();
  if (!s) return Err{s.error()};
  ifreq ifr = make_ifreq(name_);
  const int rc = ::ioctl(*s, SIOCGIFMTU, &ifr);
  const int e = errno;
  ::close(*s);
  if (rc < 0) return Err{"reading the MTU of '" + name_ + "': " + errno_text(e)};
  return static_cast<unsigned>(ifr.ifr_mtu);
}

Status<std::string> Device::set_up(bool up) const {
  auto s = ioctl_socket();
  if (!s) return Err{s.error()};
  ifreq ifr = make_ifreq(name_);
  int rc = ::ioctl(*s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags = static_cast<short>(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
    rc = ::ioctl(*s, SIOCSIFFLAGS, &ifr);
  }
  const int e = errno;
  ::close(*s);
  if (rc < 0) {
    std::string msg = std::string(up ? "bringing up '" : "bringing down '") + name_ + "': " + errno_text(e);
    if (e == EPERM) msg += " (needs CAP_NET_ADMIN)";
    if (e == ENODEV) msg += " (no such interface in this network namespace)";
    return Err{msg};
  }
  return {};
}

}  // namespace tunstack::tun
