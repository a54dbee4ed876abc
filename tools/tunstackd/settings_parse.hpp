#pragma once
// Internal to the settings: value parsers and the setter types that settings.cpp and the
// per-section files (settings_tcp.cpp) share. Not part of the daemon's interface.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "tools/tunstackd/settings.hpp"

namespace tunstack::daemon::detail {

std::optional<std::uint64_t> parse_uint(const std::string& v, std::uint64_t max);
std::optional<bool> parse_bool(const std::string& v);
std::optional<double> parse_real(const std::string& v);
/// "250ms", "30s", "5m": the largest unit that divides the duration exactly (as parse_duration reads).
std::string duration_text(Duration d);

using Kind = SettingSpec::Kind;
using Apply = std::function<std::optional<std::string>(Settings&, const std::string&)>;
/// Declares one setting: TOML key, flag, kind, help, setter.
using AddSetting = std::function<void(std::string key, std::string flag, Kind kind, std::string help, Apply apply)>;

/// The [tcp] section (settings_tcp.cpp).
void add_tcp_settings(const AddSetting& add);
/// The [tcp] rules that involve more than one key.
std::optional<std::string> validate_tcp(const Settings& s);

}  // namespace tunstack::daemon::detail
