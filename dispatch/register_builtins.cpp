#include "dispatch/builtin.hpp"
#include "dispatch/registry.hpp"

namespace tunstack::dispatch {

void register_direct_outbound();  // dispatch/direct.cpp

void register_builtin_outbounds() {
  static bool done = false;
  if (done) return;
  done = true;
  register_builtin_sans_io_outbounds();
  register_direct_outbound();
}

}  // namespace tunstack::dispatch
