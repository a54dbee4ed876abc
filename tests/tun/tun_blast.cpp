// tun_blast: a UDP load generator for measuring tun_echo. One thread sends fixed-size datagrams
// with sendmmsg for a bounded time (optionally paced), another counts the echoes with recvmmsg.
// Prints one line: sent, received, seconds, and the rates. Traffic goes only to the address given
// (the test's TUN prefix inside a network namespace).
//
// usage: tun_blast --dst ADDR [--port N] [--seconds S] [--size N] [--batch N] [--rate PPS]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct Args {
  std::string dst;
  int port = 9;
  double seconds = 3.0;
  std::size_t size = 64;
  unsigned batch = 32;
  double rate = 0;  // 0: as fast as the socket takes them
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--dst") a.dst = v;
    else if (k == "--port") a.port = std::atoi(v);
    else if (k == "--seconds") a.seconds = std::atof(v);
    else if (k == "--size") a.size = std::strtoul(v, nullptr, 10);
    else if (k == "--batch") a.batch = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (k == "--rate") a.rate = std::atof(v);
    else return false;
  }
  return !a.dst.empty() && a.batch > 0 && a.batch <= 1024 && a.seconds > 0 && a.seconds <= 60;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc % 2 == 0 || !parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: %s --dst ADDR [--port N] [--seconds S<=60] [--size N] [--batch N] [--rate PPS]\n",
                 argv[0]);
    return 2;
  }
  sockaddr_storage dst{};
  socklen_t dlen = 0;
  int af = AF_INET;
  sockaddr_in sin{};
  sockaddr_in6 sin6{};
  if (inet_pton(AF_INET, a.dst.c_str(), &sin.sin_addr) == 1) {
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(a.port));
    std::memcpy(&dst, &sin, sizeof sin);
    dlen = sizeof sin;
  } else if (inet_pton(AF_INET6, a.dst.c_str(), &sin6.sin6_addr) == 1) {
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(static_cast<std::uint16_t>(a.port));
    std::memcpy(&dst, &sin6, sizeof sin6);
    dlen = sizeof sin6;
    af = AF_INET6;
  } else {
    std::fprintf(stderr, "tun_blast: bad address %s\n", a.dst.c_str());
    return 2;
  }
  const int fd = ::socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int big = 32 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  const timeval tv{0, 200000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  std::atomic<bool> sending{true};
  std::atomic<std::uint64_t> received{0};
  std::thread rx([&] {
    std::vector<char> bufs(static_cast<std::size_t>(a.batch) * 2048);
    std::vector<iovec> iov(a.batch);
    std::vector<mmsghdr> msgs(a.batch);
    for (unsigned i = 0; i < a.batch; ++i) {
      iov[i] = {bufs.data() + i * 2048, 2048};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int idle = 0;
    while (idle < 5) {  // stop after ~1 s without echoes once sending ended
      const int n = ::recvmmsg(fd, msgs.data(), a.batch, 0, nullptr);
      if (n > 0) {
        received += static_cast<std::uint64_t>(n);
        idle = 0;
      } else if (!sending.load()) {
        ++idle;
      }
    }
  });

  std::vector<char> payload(a.size, 'b');
  std::vector<iovec> iov(a.batch, iovec{payload.data(), payload.size()});
  std::vector<mmsghdr> msgs(a.batch);
  for (unsigned i = 0; i < a.batch; ++i) {
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_name = &dst;
    msgs[i].msg_hdr.msg_namelen = dlen;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto end = start + std::chrono::duration<double>(a.seconds);
  std::uint64_t sent = 0;
  while (clock::now() < end) {
    if (a.rate > 0) {
      const double due = std::chrono::duration<double>(clock::now() - start).count() * a.rate;
      if (static_cast<double>(sent) >= due) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
    }
    const int n = ::sendmmsg(fd, msgs.data(), a.batch, 0);
    if (n > 0) sent += static_cast<std::uint64_t>(n);
  }
  const double secs = std::chrono::duration<double>(clock::now() - start).count();
  sending = false;
  rx.join();
  ::close(fd);
  std::printf("sent=%llu received=%llu seconds=%.3f sent_pps=%.0f echoed_pps=%.0f\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received.load()), secs,
              static_cast<double>(sent) / secs, static_cast<double>(received.load()) / secs);
  return 0;
}
