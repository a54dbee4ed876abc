#pragma once
// The pluggable dispatcher: every flow the stack terminates (a UDP mapping, a TCP connection) is
// described by a FlowInfo and handed to the Dispatcher, which picks an Outbound that carries it on
// (kernel sockets, a SOCKS5 proxy, an in-process echo, or anything a user registers by name).
//
// The stack side and the outbound side talk through two small interfaces per flow kind:
//   datagram flows: DatagramSession (stack -> outbound), DatagramSink (outbound -> stack)
//   stream flows:   StreamSession   (stack -> outbound), StreamSink   (outbound -> stack)
// Both directions carry back-pressure: a session may refuse data (the stack then counts a drop for
// datagrams, or stops reading for streams) and resumes the other side with a writable callback.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stack/core/addr.hpp"
#include "stack/core/packet_buf.hpp"
#include "stack/core/result.hpp"

namespace tunstack::dispatch {

/// The transport of a flow.
enum class Proto : std::uint8_t { Tcp, Udp, Icmp };
const char* to_string(Proto p);

/// What the dispatcher knows about a flow when it chooses an outbound.
struct FlowInfo {
  Proto proto = Proto::Udp;
  Endpoint src;             ///< the client, as seen on the TUN
  Endpoint dst;             ///< the first destination (for UDP: of the datagram that opened the flow)
  std::string_view inbound_tag;  ///< which inbound (TUN) the flow came from, for routing rules
  std::uint64_t id = 0;     ///< unique per flow, for logs and traces
};

/// Why a datagram was not accepted by a session.
enum class SendError : std::uint8_t {
  QueueFull,     ///< the session's bounded queue toward the remote is full (back-pressure)
  Unreachable,   ///< no route for that destination's family, or the outbound refuses it
  Closed,        ///< the session is closed
};
const char* to_string(SendError e);

/// An ICMP-style error an outbound learned about (e.g. IP_RECVERR on a UDP socket): the stack
/// turns it into the matching ICMP error toward the client.
struct RemoteError {
  enum class Kind : std::uint8_t { PortUnreachable, HostUnreachable, NetUnreachable, AdminProhibited,
                                   PacketTooBig, TimeExceeded, Other };
  Kind kind = Kind::Other;
  Endpoint remote;          ///< the destination the failed datagram was sent to
  IpAddr reporter;          ///< the address that reported the error (the remote or a router)
  std::uint32_t mtu = 0;    ///< for PacketTooBig
};

/// Outbound -> stack, for one datagram flow: replies from *any* remote reach the client (full cone).
class DatagramSink {
 public:
  virtual ~DatagramSink() = default;
  /// A datagram from `from` for the client. The payload buffer has headroom for the IP/UDP header.
  virtual void on_datagram(const Endpoint& from, PacketBuf payload) = 0;
  /// An error about an earlier datagram (ICMP unreachable and friends).
  virtual void on_remote_error(const RemoteError& err) = 0;
  /// The outbound closed the session on its own (socket error, proxy gone).
  virtual void on_session_closed() = 0;
};

/// Stack -> outbound, for one datagram flow (one per client source endpoint).
class DatagramSession {
 public:
  virtual ~DatagramSession() = default;
  /// Sends `payload` to `dst`. Takes ownership; on error the payload is dropped by the caller.
  virtual Status<SendError> send(const Endpoint& dst, PacketBuf payload) = 0;
  /// The endpoint remotes see for this flow (the public side of the mapping), if known.
  virtual std::optional<Endpoint> mapped_endpoint() const { return std::nullopt; }
};

/// Outbound -> stack, for one stream flow.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  /// The outbound connection is established (the stack may now complete the client's handshake).
  virtual void on_connected() = 0;
  /// The outbound connection failed; `refused` distinguishes RST from timeout/unreachable.
  virtual void on_connect_failed(bool refused, const RemoteError& why) = 0;
  /// Bytes from the remote. Returns how many were accepted (0 when the client's window is full);
  /// the outbound keeps the rest and waits for on_writable() on its session.
  virtual std::size_t on_data(Bytes data) = 0;
  /// The remote half-closed (FIN).
  virtual void on_remote_fin() = 0;
  /// The remote reset or the outbound failed.
  virtual void on_reset() = 0;
};

/// Stack -> outbound, for one stream flow.
class StreamSession {
 public:
  virtual ~StreamSession() = default;
  /// Bytes from the client. Returns how many were accepted; the stack keeps the rest in its
  /// receive buffer (so its advertised window shrinks) until on_writable().
  virtual std::size_t send(Bytes data) = 0;
  /// The client half-closed.
  virtual void shutdown_write() = 0;
  /// The client reset or the stack gave up: close without a FIN handshake.
  virtual void abort() = 0;
  /// The stack can accept more bytes from the remote again (after on_data returned short).
  virtual void resume_reading() = 0;
  /// Registers the callback the session calls when send() would accept bytes again.
  void set_on_writable(std::function<void()> f) { on_writable_ = std::move(f); }

 protected:
  void notify_writable() {
    if (on_writable_) on_writable_();
  }

 private:
  std::function<void()> on_writable_;
};

/// An outbound: a way to carry flows on. Implementations do their I/O on the loop they were built
/// with (see dispatch/direct.hpp).
class Outbound {
 public:
  virtual ~Outbound() = default;
  virtual std::string_view name() const = 0;
  /// Opens a datagram session for a new mapping; nullptr (and a log/counter) when it cannot.
  virtual std::unique_ptr<DatagramSession> open_datagram(const FlowInfo& flow, DatagramSink& sink) = 0;
  /// Starts an outbound stream; the result arrives through sink.on_connected / on_connect_failed.
  /// Returns nullptr when the outbound does not carry streams.
  virtual std::unique_ptr<StreamSession> open_stream(const FlowInfo& flow, StreamSink& sink) = 0;
};

/// Picks the outbound for each flow. The simplest dispatcher sends everything to one outbound.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual Outbound& route(const FlowInfo& flow) = 0;
};

/// A dispatcher that sends every flow to one outbound.
class SingleDispatcher final : public Dispatcher {
 public:
  explicit SingleDispatcher(std::unique_ptr<Outbound> out) : out_(std::move(out)) {}
  Outbound& route(const FlowInfo&) override { return *out_; }

 private:
  std::unique_ptr<Outbound> out_;
};

}  // namespace tunstack::dispatch
