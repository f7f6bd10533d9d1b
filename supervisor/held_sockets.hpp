// Listening sockets vigild binds on behalf of programs (`sockets =`,
// [fcgi-program:x]) and keeps open for as long as some configured program
// lists them: a program that crashes, restarts or is replaced never closes
// its port, so clients wait in the kernel's backlog instead of being
// refused (systemd's socket activation, supervisord's fcgi sockets).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "supervisor/reexec_state.hpp"

namespace vigil::supervisor {

class HeldSockets {
public:
    HeldSockets() = default;
    HeldSockets(const HeldSockets&) = delete;
    HeldSockets& operator=(const HeldSockets&) = delete;
    ~HeldSockets();

    // The programs now configured: opens what they list (a failure is
    // logged; the program's next start reports it again), refreshes the
    // owner, mode and backlog of what stays, and closes (and unlinks) what
    // no program lists any more. An address kept across an update keeps its
    // socket, and with it every connection waiting in its backlog.
    void sync(const std::vector<config::Program>& programs);

    // The descriptors for `p`, in the order of p.sockets, opening any that
    // are not open yet. Empty with `error` set when one cannot be opened.
    std::vector<int> fds_for(const config::Program& p, std::string& error);

    std::size_t size() const { return held_.size(); }

    // vigild's re-exec: what is held, descriptors included, and taking it
    // over in the new image (before the first sync(), which then keeps
    // every address still listed: nothing is closed, unlinked or rebound).
    std::vector<reexec::CarriedSocket> carry() const;
    void adopt(const std::vector<reexec::CarriedSocket>& carried);

private:
    struct Held {
        int fd = -1;
        std::string unix_path;  // to unlink on close; empty for tcp
        std::string owner;
        unsigned mode = 0;
        int backlog = 0;
    };
    bool open(const config::Program& p, const std::string& url, std::string& error);
    void close(Held& h);

    std::map<std::string, Held> held_;  // by canonical URL
};

}  // namespace vigil::supervisor
