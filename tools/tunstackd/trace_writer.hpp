#pragma once
// Writes the TCP sender's per-connection trace samples (stack/tcp/trace.hpp) to a file as CSV or
// JSON lines, for the flows a filter selects. Samples are formatted into memory and written in
// blocks of max_buffer bytes (one write(2) then), so tracing costs the loop no syscall per
// sample and a bounded amount of memory; a write that fails drops its block, counted.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "stack/core/addr.hpp"
#include "stack/core/counters.hpp"
#include "stack/core/result.hpp"
#include "stack/tcp/trace.hpp"

namespace tunstack::daemon {

/// What to trace and where.
struct TraceOptions {
  std::string path;  ///< output file (truncated at start); empty: tracing off
  enum class Format : std::uint8_t { Csv, Jsonl } format = Format::Csv;
  /// Space-separated terms, all of which must match; empty: every flow.
  ///   host=CIDR   the client's or the server's address is in the prefix (a bare address: /32, /128)
  ///   port=N | port=N-M   the client's or the server's port is in the range
  std::string filter;
  std::uint32_t sample = 1;            ///< trace one in N matching flows (by flow id); 1: all
  /// Formatted bytes held in memory: one write(2) each time this much has gathered (and every
  /// 200 ms from the gateway); it bounds the writer's memory and sets how often the loop writes.
  std::size_t max_buffer = 64u << 10;
};

/// One parsed filter term.
struct TraceTerm {
  enum class Kind : std::uint8_t { Host, Port } kind = Kind::Host;
  IpPrefix prefix;
  std::uint16_t port_lo = 0, port_hi = 0;
  bool matches(const Endpoint& e) const;
};

/// Parses a filter; the error names the bad term.
Result<std::vector<TraceTerm>, std::string> parse_trace_filter(const std::string& filter);

/// The trace sink the daemon installs on its TCP layer: see the file comment.
class TraceWriter final : public tcp::TraceSink {
 public:
  struct Stats {
    Counter flows = 0;            ///< connections selected for tracing
    Counter samples = 0;          ///< samples formatted
    Counter samples_dropped = 0;  ///< samples lost with a failed or short write
    Counter bytes_written = 0;
    Counter write_errors = 0;     ///< failed or short writes (their bytes are dropped)
    template <class F>
    void visit(F&& f) const {
      f("trace_flows", flows);
      f("trace_samples", samples);
      f("trace_samples_dropped", samples_dropped);
      f("trace_bytes_written", bytes_written);
      f("trace_write_errors", write_errors);
    }
  };

  /// Opens (truncates) the file and writes the CSV header; errors name the file or filter term.
  static Result<std::unique_ptr<TraceWriter>, std::string> open(const TraceOptions& o);
  ~TraceWriter() override;
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  bool select(std::uint64_t flow_id, const Endpoint& client, const Endpoint& server) override;
  void record(const tcp::TraceSample& s) override;
  void end(std::uint64_t flow_id) override;
  /// Writes what is buffered (the gateway calls it every stats interval and at exit).
  void flush();
  const Stats& stats() const { return stats_; }

 private:
  TraceWriter(const TraceOptions& o, std::vector<TraceTerm> terms, int fd);
  void append_csv(const tcp::TraceSample& s, const std::string& flow);
  void append_json(const tcp::TraceSample& s, const std::string& flow);

  TraceOptions opts_;
  std::vector<TraceTerm> terms_;
  int fd_ = -1;
  std::string buf_;
  std::unordered_map<std::uint64_t, std::string> flows_;  ///< traced flow id -> "client,server" text
  std::uint64_t pending_ = 0;  ///< samples in buf_
  std::int64_t t0_ns_ = -1;  ///< the first sample's time: rows carry microseconds since it
  Stats stats_;
};

}  // namespace tunstack::daemon
