#pragma once
// A Linux TUN device: the file descriptor that carries raw IP packets between the kernel and
// tunstack. Opened by name (attaching to a persistent device or creating one) or adopted from a
// descriptor someone else opened (Android's VpnService, a privileged parent process).
//
// The descriptor stays valid when the interface is later moved to another network namespace
// (`ip link set tunX netns other`): the loop keeps reading and writing it. Only the by-name
// configuration helpers (set_mtu, set_up) act in the namespace of the calling thread, so call them
// before the move or from inside the target namespace.
#include <cstdint>
#include <optional>
#include <string>

#include "stack/core/result.hpp"

namespace tunstack::tun {

/// How to open a TUN device; every field has a safe default.
struct DeviceConfig {
  std::string name;                ///< interface name; empty lets the kernel pick "tunN"
  bool multi_queue = false;        ///< IFF_MULTI_QUEUE: one Device per queue, one loop per thread
  bool vnet_hdr = false;           ///< IFF_VNET_HDR: packets carry a 12-byte virtio_net_hdr
  std::optional<unsigned> mtu;     ///< when set, SIOCSIFMTU after opening
  bool up = false;                 ///< when true, set IFF_UP (SIOCSIFFLAGS) after opening
  /// When set, the interface's transmit queue length (SIOCSIFTXQLEN): packets the kernel queues
  /// for us before it drops. The kernel's 500 overflows when a client's TCP sends a full window
  /// while the daemon is busy (dropped packets cost the client retransmissions).
  std::optional<unsigned> tx_queue_len;
  std::string clone_path = "/dev/net/tun";  ///< the clone device (tests point it elsewhere)
};

/// An open TUN queue (IFF_TUN | IFF_NO_PI), non-blocking, closed on destruction.
class Device {
 public:
  /// The virtio_net_hdr size this Device asks for when vnet_hdr is on (with num_buffers).
  static constexpr std::size_t kVnetHdrSize = 12;

  /// Opens (or creates) the device named in `cfg` and applies mtu/up. The error text says what
  /// went wrong and what to do (CAP_NET_ADMIN, modprobe tun, device busy, ...).
  [[nodiscard]] static Result<Device, std::string> open(const DeviceConfig& cfg);
  /// Takes ownership of an already-open TUN descriptor and learns its name with TUNGETIFF.
  /// Refuses TAP and packet-information (no IFF_NO_PI) descriptors; PI mode is read from sysfs
  /// (TUNGETIFF cannot report it) and so is only checked when the interface is visible there.
  /// On failure the descriptor is left open and still belongs to the caller.
  [[nodiscard]] static Result<Device, std::string> adopt_fd(int fd);

  Device(Device&& o) noexcept;
  Device& operator=(Device&& o) noexcept;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device();

  int fd() const { return fd_; }
  /// The interface name the kernel reports (as of opening/adoption).
  const std::string& name() const { return name_; }
  bool multi_queue() const { return multi_queue_; }
  /// Bytes of virtio_net_hdr in front of every packet read or written (0 when off).
  std::size_t vnet_hdr_size() const { return vnet_hdr_size_; }

  /// Sets the interface MTU (SIOCSIFMTU) in the calling thread's network namespace.
  [[nodiscard]] Status<std::string> set_mtu(unsigned mtu) const;
  /// Reads the interface MTU (SIOCGIFMTU) in the calling thread's network namespace.
  [[nodiscard]] Result<unsigned, std::string> mtu() const;
  /// Sets or clears IFF_UP (SIOCSIFFLAGS) in the calling thread's network namespace.
  [[nodiscard]] Status<std::string> set_up(bool up) const;
  /// Sets the transmit queue length (packets toward the reader of the TUN).
  [[nodiscard]] Status<std::string> set_tx_queue_len(unsigned len) const;

  /// Gives up ownership: returns the descriptor and leaves this Device empty.
  int release();

 private:
  Device(int fd, std::string name, bool mq, std::size_t vnet) noexcept
      : fd_(fd), name_(std::move(name)), multi_queue_(mq), vnet_hdr_size_(vnet) {}

  int fd_ = -1;
  std::string name_;
  bool multi_queue_ = false;
  std::size_t vnet_hdr_size_ = 0;
};

}  // namespace tunstack::tun
