#include "stack/wire/error.hpp"

namespace tunstack::wire {

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::Truncated: return "truncated";
    case ParseError::BadVersion: return "bad_version";
    case ParseError::BadHeaderLength: return "bad_header_length";
    case ParseError::BadTotalLength: return "bad_total_length";
    case ParseError::BadChecksum: return "bad_checksum";
    case ParseError::BadOption: return "bad_option";
    case ParseError::BadExtHeader: return "bad_ext_header";
    case ParseError::ExtChainTooLong: return "ext_chain_too_long";
    case ParseError::UnknownExtHeader: return "unknown_ext_header";
    case ParseError::BadFragment: return "bad_fragment";
    case ParseError::BadType: return "bad_type";
    case ParseError::BadField: return "bad_field";
  }
  return "unknown";
}

}  // namespace tunstack::wire
