#pragma once
// The sans-IO outbounds: `echo` (in-process: datagrams come back from their destination, stream
// bytes come back to the client; for tests and benchmarks) and `reject` (every flow refused).
#include <memory>

#include "dispatch/registry.hpp"

namespace tunstack::dispatch {

/// Limits of the echo outbound.
struct EchoConfig {
  std::size_t max_queued = 256;  ///< datagrams per session awaiting the deferred echo
};

std::unique_ptr<Outbound> make_echo_outbound(TaskQueue& tasks, EchoConfig cfg = {});
std::unique_ptr<Outbound> make_reject_outbound(TaskQueue& tasks);
/// A stream session that fails as "refused, administratively prohibited" from the task queue
/// (after the call that opened it returned): the client's SYN gets a RST.
std::unique_ptr<StreamSession> make_refused_stream(StreamSink& sink, TaskQueue& tasks, const Endpoint& dst);

/// Registers echo and reject in OutboundRegistry::instance().
void register_builtin_sans_io_outbounds();

}  // namespace tunstack::dispatch
