// The systemd notify protocol from the service side, for vigild and
// vigil-proxy alike: one datagram per message to $NOTIFY_SOCKET (an
// abstract socket when it starts with '@'). Fifteen lines
// of protocol do not justify libsystemd and its eight upgraded packages
// (docs/dependencies.md).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vigil::supervisor {

class SdNotify {
public:
    // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID from the environment.
    SdNotify();
    bool enabled() const { return !path_.empty(); }
    // Sends "READY=1", "STATUS=…", "STOPPING=1", "WATCHDOG=1", … as given.
    bool send(const std::string& message) const;
    // The interval systemd expects WATCHDOG=1 at (half its timeout), if any.
    std::optional<std::chrono::milliseconds> watchdog_interval() const { return watchdog_; }

private:
    std::string path_;
    std::optional<std::chrono::milliseconds> watchdog_;
};

}  // namespace vigil::supervisor
