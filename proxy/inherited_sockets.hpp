// Listening sockets vigild binds for the proxy and passes with systemd's
// protocol (LISTEN_PID, LISTEN_FDS, descriptors from 3): a proxy that is
// killed or restarted leaves them open in vigild, so clients wait in the
// backlog instead of being refused. Matched to [proxy:*] listeners by the
// address each socket is bound to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vigil::proxy {

struct InheritedSocket {
    int fd = -1;
    std::string ip;  // numeric, as getsockname reports it
    std::uint16_t port = 0;
    bool v6 = false;
};

// The sockets passed to this process (none when LISTEN_PID is not ours),
// with the variables removed so children of ours do not see them.
std::vector<InheritedSocket> take_inherited_sockets();

// The inherited socket bound to ip:port, or -1.
int find_inherited(const std::vector<InheritedSocket>& sockets, const std::string& ip, std::uint16_t port);

}  // namespace vigil::proxy
