// The https checks' TLS, through vigil-tls.so (tls_plugin_api.h): loaded on
// first use, so a vigild without https checks never maps OpenSSL.
//
// TlsClientStream is an asio/Beast AsyncReadStream + AsyncWriteStream over a
// connected tcp::socket: each operation asks the plugin, and when it wants
// the socket readable or writable, waits for that on the event loop and asks
// again.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "supervisor/tls/tls_plugin_api.h"

namespace vigil::tls {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

// The plugin's API, loaded once; null with `error` set when it cannot be.
const vigil_tls_api* client_api(std::string& error);

// Errors of the plugin, carried in error_codes with its text.
const boost::system::error_category& plugin_category();

class TlsClientStream {
public:
    using executor_type = asio::ip::tcp::socket::executor_type;

    // `socket` must outlive the stream; the stream never closes it.
    TlsClientStream(const vigil_tls_api& api, asio::ip::tcp::socket& socket, const char* sni, error_code& ec);
    ~TlsClientStream();
    TlsClientStream(const TlsClientStream&) = delete;
    TlsClientStream& operator=(const TlsClientStream&) = delete;

    executor_type get_executor() { return socket_.get_executor(); }
    // The plugin's text for the last failure of this stream.
    std::string last_error() const;

    template <class Token>
    auto async_handshake(Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler) {
                step([this] { return static_cast<long>(api_.handshake(session_)); },
                     [h = std::move(handler)](error_code ec, std::size_t) mutable { std::move(h)(ec); });
            },
            token);
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, asio::mutable_buffer b) {
                step([this, b] { return api_.read(session_, b.data(), b.size()); }, std::move(handler), true);
            },
            token, first_buffer(buffers));
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, asio::const_buffer b) {
                step([this, b] { return api_.write(session_, b.data(), b.size()); }, std::move(handler));
            },
            token, first_const_buffer(buffers));
    }

private:
    template <class Buffers>
    static asio::mutable_buffer first_buffer(const Buffers& buffers) {
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            if (asio::mutable_buffer(*it).size() > 0) return *it;
        return {};
    }
    template <class Buffers>
    static asio::const_buffer first_const_buffer(const Buffers& buffers) {
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            if (asio::const_buffer(*it).size() > 0) return *it;
        return {};
    }

    // Runs `attempt` until it moves bytes, ends or fails, waiting on the
    // socket in between; completes through the handler's executor, never
    // inside the initiating call. `eof_is_end`: 0 from a read is the end of
    // the stream (asio::error::eof), from a handshake or write it is done.
    template <class Attempt, class Handler>
    void step(Attempt attempt, Handler handler, bool eof_is_end = false) {
        const long r = attempt();
        if (r == VIGIL_TLS_WANT_READ || r == VIGIL_TLS_WANT_WRITE) {
            const auto want = r == VIGIL_TLS_WANT_READ ? asio::ip::tcp::socket::wait_read
                                                       : asio::ip::tcp::socket::wait_write;
            socket_.async_wait(want, [this, attempt, eof_is_end, h = std::move(handler)](error_code ec) mutable {
                if (ec) return std::move(h)(ec, std::size_t{0});
                step(std::move(attempt), std::move(h), eof_is_end);
            });
            return;
        }
        error_code ec;
        std::size_t n = 0;
        if (r == VIGIL_TLS_ERROR)
            ec = error_code(1, plugin_category());
        else if (r == 0 && eof_is_end)
            ec = asio::error::eof;
        else
            n = static_cast<std::size_t>(r);
        asio::post(socket_.get_executor(), asio::append(std::move(handler), ec, n));
    }

    const vigil_tls_api& api_;
    asio::ip::tcp::socket& socket_;
    vigil_tls_session* session_ = nullptr;
};

}  // namespace vigil::tls
