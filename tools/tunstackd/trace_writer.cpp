#include "tools/tunstackd/trace_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

#include "stack/core/text.hpp"

namespace tunstack::daemon {
namespace {

constexpr const char* kCsvHeader =
    "t_us,flow,client,server,event,recovery,cc_phase,snd_una,snd_nxt,seg_seq,seg_len,cwnd,ssthresh,"
    "in_flight,sacked,lost,snd_wnd,pacing_rate,delivery_rate,delivered,srtt_us,rttvar_us,rto_us,"
    "min_rtt_us,rtt_us\n";

std::int64_t us(Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

Result<TraceTerm, std::string> parse_term(std::string_view t) {
  const auto bad = [&](std::string_view why) {
    return Err{"trace filter term '" + std::string(t) + "': " + std::string(why)};
  };
  TraceTerm term;
  if (t.rfind("host=", 0) == 0) {
    auto p = IpPrefix::parse(t.substr(5));
    if (!p) return bad("expects host=ADDRESS or host=ADDRESS/LENGTH");
    term.kind = TraceTerm::Kind::Host;
    term.prefix = *p;
    return term;
  }
  if (t.rfind("port=", 0) == 0) {
    std::string_view v = t.substr(5);
    const auto dash = v.find('-');
    auto lo = parse_port(v.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : parse_port(v.substr(dash + 1));
    if (!lo || !hi || *lo > *hi) return bad("expects port=N or port=N-M within 0..65535");
    term.kind = TraceTerm::Kind::Port;
    term.port_lo = *lo;
    term.port_hi = *hi;
    return term;
  }
  return bad("expects host=CIDR or port=N[-M]");
}

/// Microseconds of `d`, or null when it is negative ("no value").
std::string_view us_or_null(Duration d, std::string& tmp) {
  if (d < Duration{0}) return "null";
  tmp = std::to_string(us(d));
  return tmp;
}

}  // namespace

bool TraceTerm::matches(const Endpoint& e) const {
  if (kind == Kind::Port) return e.port.value >= port_lo && e.port.value <= port_hi;
  return prefix.contains(e.addr);
}

Result<std::vector<TraceTerm>, std::string> parse_trace_filter(const std::string& filter) {
  std::vector<TraceTerm> terms;
  std::string error;
  for_each_token(filter, [&](std::string_view t) {
    auto term = parse_term(t);
    if (!term) error = term.error();
    else terms.push_back(*term);
    return term.ok();
  });
  if (!error.empty()) return Err{error};
  return terms;
}

Result<std::unique_ptr<TraceWriter>, std::string> TraceWriter::open(const TraceOptions& o) {
  auto terms = parse_trace_filter(o.filter);
  if (!terms) return Err{terms.error()};
  if (o.sample == 0) return Err{std::string("trace sample must be at least 1")};
  const int fd = ::open(o.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Err{"cannot open trace file '" + o.path + "': " + std::strerror(errno)};
  std::unique_ptr<TraceWriter> w(new TraceWriter(o, std::move(*terms), fd));
  if (o.format == TraceOptions::Format::Csv) w->buf_ = kCsvHeader;
  return w;
}

TraceWriter::TraceWriter(const TraceOptions& o, std::vector<TraceTerm> terms, int fd)
    : opts_(o), terms_(std::move(terms)), fd_(fd) {
  buf_.reserve(opts_.max_buffer + 1024);
}

TraceWriter::~TraceWriter() {
  flush();
  if (fd_ >= 0) ::close(fd_);
}

bool TraceWriter::select(std::uint64_t flow_id, const Endpoint& client, const Endpoint& server) {
  for (const TraceTerm& t : terms_)
    if (!t.matches(client) && !t.matches(server)) return false;
  if (opts_.sample > 1 && hash_mix(flow_id) % opts_.sample != 0) return false;
  ++stats_.flows;
  flows_[flow_id] = client.to_string() + "," + server.to_string();
  return true;
}

void TraceWriter::end(std::uint64_t flow_id) { flows_.erase(flow_id); }

void TraceWriter::record(const tcp::TraceSample& s) {
  const std::int64_t ns = s.at.time_since_epoch().count();
  if (t0_ns_ < 0) t0_ns_ = ns;
  const auto it = flows_.find(s.flow_id);
  static const std::string kUnknown = ",";
  const std::string& flow = it != flows_.end() ? it->second : kUnknown;
  if (opts_.format == TraceOptions::Format::Csv) append_csv(s, flow);
  else append_json(s, flow);
  ++stats_.samples;
  ++pending_;
  if (buf_.size() >= opts_.max_buffer) flush();
}

void TraceWriter::append_csv(const tcp::TraceSample& s, const std::string& flow) {
  auto out = std::back_inserter(buf_);
  fmt::format_to(out, "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},", 
                 (s.at.time_since_epoch().count() - t0_ns_) / 1000, s.flow_id, flow, tcp::to_string(s.event),
                 tcp::to_string(s.recovery), s.cc_phase, s.snd_una, s.snd_nxt, s.seg_seq, s.seg_len, s.cwnd,
                 s.ssthresh, s.in_flight, s.sacked, s.lost, s.snd_wnd, s.pacing_rate, s.delivery_rate, s.delivered,
                 us(s.srtt), us(s.rttvar), us(s.rto));
  if (s.min_rtt >= Duration{0}) fmt::format_to(out, "{}", us(s.min_rtt));
  buf_.push_back(',');
  if (s.rtt >= Duration{0}) fmt::format_to(out, "{}", us(s.rtt));
  buf_.push_back('\n');
}

void TraceWriter::append_json(const tcp::TraceSample& s, const std::string& flow) {
  const auto comma = flow.find(',');
  std::string a, b;
  fmt::format_to(std::back_inserter(buf_),
                 R"({{"t_us":{},"flow":{},"client":"{}","server":"{}","event":"{}","recovery":"{}","cc_phase":"{}",)"
                 R"("snd_una":{},"snd_nxt":{},"seg_seq":{},"seg_len":{},"cwnd":{},"ssthresh":{},"in_flight":{},)"
                 R"("sacked":{},"lost":{},"snd_wnd":{},"pacing_rate":{},"delivery_rate":{},"delivered":{},)"
                 R"("srtt_us":{},"rttvar_us":{},"rto_us":{},"min_rtt_us":{},"rtt_us":{}}})"
                 "\n",
                 (s.at.time_since_epoch().count() - t0_ns_) / 1000, s.flow_id, flow.substr(0, comma),
                 comma == std::string::npos ? "" : flow.substr(comma + 1), tcp::to_string(s.event),
                 tcp::to_string(s.recovery), s.cc_phase, s.snd_una, s.snd_nxt, s.seg_seq, s.seg_len, s.cwnd,
                 s.ssthresh, s.in_flight, s.sacked, s.lost, s.snd_wnd, s.pacing_rate, s.delivery_rate, s.delivered,
                 us(s.srtt), us(s.rttvar), us(s.rto), us_or_null(s.min_rtt, a), us_or_null(s.rtt, b));
}

void TraceWriter::flush() {
  if (buf_.empty() || fd_ < 0) return;
  const ssize_t n = ::write(fd_, buf_.data(), buf_.size());
  if (n == static_cast<ssize_t>(buf_.size())) {
    stats_.bytes_written += static_cast<std::uint64_t>(n);
  } else {  // short or failed: the block is dropped, memory stays bounded
    ++stats_.write_errors;
    stats_.samples_dropped += pending_;
  }
  buf_.clear();
  pending_ = 0;
}

}  // namespace tunstack::daemon
