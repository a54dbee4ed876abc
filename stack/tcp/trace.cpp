#include "stack/tcp/trace.hpp"

namespace tunstack::tcp {

std::string_view to_string(TraceEvent e) {
  switch (e) {
    case TraceEvent::Ack: return "ack";
    case TraceEvent::Send: return "send";
    case TraceEvent::Retransmit: return "retransmit";
    case TraceEvent::RecoveryEnter: return "recovery_enter";
    case TraceEvent::RecoveryExit: return "recovery_exit";
    case TraceEvent::Rto: return "rto";
    case TraceEvent::Tlp: return "tlp";
    case TraceEvent::Undo: return "undo";
    case TraceEvent::Established: return "established";
    case TraceEvent::Closed: return "closed";
  }
  return "?";
}

std::string_view to_string(RecoveryState s) {
  switch (s) {
    case RecoveryState::Open: return "open";
    case RecoveryState::Disorder: return "disorder";
    case RecoveryState::Recovery: return "recovery";
    case RecoveryState::Loss: return "loss";
  }
  return "?";
}

}  // namespace tunstack::tcp
