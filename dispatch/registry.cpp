#include "dispatch/registry.hpp"

namespace tunstack::dispatch {

OutboundRegistry& OutboundRegistry::instance() {
  static OutboundRegistry r;
  return r;
}

bool OutboundRegistry::add(std::string name, std::string description, OutboundFactory factory) {
  return entries_.emplace(std::move(name), Entry{std::move(description), std::move(factory)}).second;
}

Result<std::unique_ptr<Outbound>, std::string> OutboundRegistry::create(
    const std::string& name, const OutboundContext& ctx) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::string msg = "unknown outbound '" + name + "'; available:";
    for (auto& [n, e] : entries_) msg += " " + n;
    return Err{msg};
  }
  return it->second.factory(ctx);
}

std::vector<std::pair<std::string, std::string>> OutboundRegistry::list() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [n, e] : entries_) out.emplace_back(n, e.description);
  return out;
}

const char* to_string(Proto p) {
  switch (p) {
    case Proto::Tcp: return "tcp";
    case Proto::Udp: return "udp";
    case Proto::Icmp: return "icmp";
  }
  return "?";
}

const char* to_string(SendError e) {
  switch (e) {
    case SendError::QueueFull: return "queue_full";
    case SendError::Unreachable: return "unreachable";
    case SendError::Closed: return "closed";
  }
  return "?";
}

}  // namespace tunstack::dispatch
