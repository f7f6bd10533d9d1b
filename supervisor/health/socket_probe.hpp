// The base of the probes that speak over one TCP connection (tcp://,
// redis://, postgres://): resolve once, connect to the first address that
// answers, and reset the connection when a run is abandoned.
//
// Internal to supervisor/health: include it from probe .cpp files only.
#pragma once

#include "supervisor/health/probe_base.hpp"

namespace vigil::health {

std::string endpoint_text(const tcp::endpoint& ep);

class SocketProbe : public ProbeBase {
public:
    SocketProbe(asio::io_context& io, const config::HealthCheck& hc)
        : ProbeBase(io, hc.timeout), host_(hc.host), port_(hc.port) {}

protected:
    template <class Then>
    void connect(Then then) {
        resolve(host_, port_, [this, then = std::move(then)](const boost::system::error_code& ec) mutable {
            if (ec) return finish(false, "cannot resolve " + host_ + ": " + ec.message());
            phase_ = "connecting";
            // Each run owns its socket and buffer, and its handlers hold
            // them: an abandoned run's late completions touch only its own.
            // (The previous run's are reused once nothing else holds them.)
            if (!conn_ || conn_.use_count() != 1) conn_ = std::make_shared<Conn>(io_);
            conn_->reset();
            connect_lean(conn_->socket, guard([this, c = conn_, then = std::move(then)](
                                                  const boost::system::error_code& e, const tcp::endpoint& ep) mutable {
                             if (e) return finish(false, "connect to " + host_ + ":" + std::to_string(port_) + ": " +
                                                             e.message());
                             then(ep);
                         }));
        });
    }

    void abort(bool passed) noexcept override {
        if (!conn_) return;
        conn_->parked = end_connection(conn_->socket, passed);
    }

    struct Conn {
        explicit Conn(asio::io_context& io) : socket(io) {}
        void reset() {
            prepare_connection(socket, parked);
            parked = false;
            reply.clear();
        }
        tcp::socket socket;
        std::string reply;
        bool parked = false;  // socket open, its connection reset: the next run connects it again
    };

    std::string host_;
    std::uint16_t port_;
    std::shared_ptr<Conn> conn_;
};

}  // namespace vigil::health
