// A small HTTP/1.1 upstream for the proxy tests, with behaviour chosen by
// path. Prints "PORT <n>" on stdout once listening (port 0 = ephemeral), so
// tests wait on that line instead of sleeping.
//
//   /slow/<ms>     answer after <ms> milliseconds
//   /status/<code> answer with that status
//   /big/<n>       <n> bytes, chunked
//   /echo          the request head as received (X-Forwarded-* checks)
//   /reset         close with RST, no response
//   /close         answer with Connection: close
//   /drop          answer as if keeping the connection, then close it (an
//                  upstream's keep-alive timeout, at a moment tests choose)
//   /early-reset   answer 401 before reading the body, then reset
//   anything else  "<name> <path>\n"
// With --echo, a raw TCP server instead (the mode = tcp tests): it greets
// each connection with "HELLO <name>\n", echoes every byte, answers the
// client's EOF with its own (half-close), and prints "CONN <n>", "EOF <n>"
// and "CLOSED <n>" for the tests to wait on.
//
// Every response carries X-Backend: <name> and X-Conn: <connection number>,
// so tests can see balancing and keep-alive reuse, and X-Requests: how many
// requests this backend has read so far (smuggling tests count them). A
// request body is read (Content-Length or chunked) and its size returned in
// X-Body-Bytes.
#include <boost/asio.hpp>

#include <iostream>
#include <string>

#include "proxy/http_parse.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace vigil::proxy;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string g_name = "backend";
unsigned g_conns = 0;
unsigned long g_requests = 0;

asio::awaitable<void> serve(tcp::socket sock, unsigned conn_no) {
    std::string buf;
    buf.reserve(65536);
    std::array<char, 65536> tmp;
    RequestHead req;
    for (;;) {
        ParseResult pr;
        while ((pr = validate_request(buf, 64 * 1024, req)) == ParseResult::incomplete) {
            auto [ec, n] = co_await sock.async_read_some(asio::buffer(tmp), use_tuple);
            if (ec) co_return;
            buf.append(tmp.data(), n);
        }
        if (pr != ParseResult::ok) co_return;
        ++g_requests;
        const std::string head = buf.substr(0, req.head_size);
        const std::string target(req.target);
        const bool keep = req.keep_alive;
        const bool is_head = req.method == "HEAD";
        buf.erase(0, req.head_size);

        if (target == "/early-reset") {
            // Answers before reading the body (as a server refusing an upload
            // does), then closes with the body unread: a reset.
            const std::string out = "HTTP/1.1 401 X\r\nX-Backend: " + g_name +
                                    "\r\nContent-Length: 6\r\nConnection: close\r\n\r\nearly\n";
            auto [ec, n] = co_await asio::async_write(sock, asio::buffer(out), use_tuple);
            sock.set_option(asio::socket_base::linger(true, 0));
            sock.close();
            std::cout << "EARLY " << target << std::endl;  // an event tests can wait on
            co_return;
        }

        std::uint64_t body = 0;
        if (req.body == BodyKind::length) {
            std::uint64_t need = req.content_length;
            for (;;) {
                std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(need, buf.size()));
                buf.erase(0, take);
                need -= take;
                body += take;
                if (need == 0) break;
                auto [ec, n] = co_await sock.async_read_some(asio::buffer(tmp), use_tuple);
                if (ec) co_return;
                buf.append(tmp.data(), n);
            }
        } else if (req.body == BodyKind::chunked) {
            ChunkedScanner sc;
            for (;;) {
                std::size_t used = 0;
                auto st = sc.feed(buf.data(), buf.size(), used);
                buf.erase(0, used);
                if (st == ChunkedScanner::Status::done) break;
                if (st != ChunkedScanner::Status::more) co_return;
                auto [ec, n] = co_await sock.async_read_some(asio::buffer(tmp), use_tuple);
                if (ec) co_return;
                buf.append(tmp.data(), n);
            }
            body = sc.body_bytes();
        }

        int status = 200;
        std::string payload = g_name + " " + target + "\n";
        bool chunked = false, close = !keep, drop = false;
        if (target.starts_with("/slow/")) {
            std::cout << "REQUEST " << target << std::endl;  // an event tests can wait on
            asio::steady_timer t(sock.get_executor(), std::chrono::milliseconds(std::stoi(target.substr(6))));
            co_await t.async_wait(use_tuple);
        } else if (target.starts_with("/status/")) {
            status = std::stoi(target.substr(8));
        } else if (target.starts_with("/big/")) {
            payload.assign(std::stoul(target.substr(5)), 'x');
            chunked = true;
        } else if (target == "/echo") {
            payload = head;
        } else if (target == "/reset") {
            sock.set_option(asio::socket_base::linger(true, 0));
            co_return;
        } else if (target == "/close") {
            close = true;
        } else if (target == "/drop") {
            drop = true;
        }

        std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nX-Backend: " + g_name +
                          "\r\nX-Conn: " + std::to_string(conn_no) + "\r\nX-Body-Bytes: " + std::to_string(body) +
                          "\r\nX-Requests: " + std::to_string(g_requests) + "\r\n";
        if (close) out += "Connection: close\r\n";
        if (chunked) {
            out += "Transfer-Encoding: chunked\r\n\r\n";
            if (!is_head) {
                for (std::size_t off = 0; off < payload.size(); off += 8192) {
                    std::size_t n = std::min<std::size_t>(8192, payload.size() - off);
                    char hex[32];
                    std::snprintf(hex, sizeof hex, "%zx\r\n", n);
                    out += hex;
                    out.append(payload, off, n);
                    out += "\r\n";
                }
                out += "0\r\n\r\n";
            }
        } else {
            out += "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n";
            if (!is_head) out += payload;
        }
        auto [ec, n] = co_await asio::async_write(sock, asio::buffer(out), use_tuple);
        if (drop) {
            sock.close();
            std::cout << "DROPPED " << target << std::endl;  // the FIN is on its way: an event tests wait on
            co_return;
        }
        if (ec || close) co_return;
    }
}

asio::awaitable<void> echo(tcp::socket sock, unsigned conn_no) {
    std::cout << "CONN " << conn_no << std::endl;
    const std::string hello = "HELLO " + g_name + "\n";
    auto [hec, hn] = co_await asio::async_write(sock, asio::buffer(hello), use_tuple);
    std::array<char, 65536> tmp;
    bool eof = false;
    while (!hec) {
        auto [ec, n] = co_await sock.async_read_some(asio::buffer(tmp), use_tuple);
        if (ec) {
            eof = ec == asio::error::eof;
            break;
        }
        auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(tmp.data(), n), use_tuple);
        if (wec) break;
    }
    if (eof) {
        std::cout << "EOF " << conn_no << std::endl;
        boost::system::error_code ignored;
        sock.shutdown(tcp::socket::shutdown_send, ignored);
    }
    std::cout << "CLOSED " << conn_no << std::endl;
}

bool g_echo = false;

asio::awaitable<void> listen(tcp::acceptor& acc) {
    for (;;) {
        auto [ec, sock] = co_await acc.async_accept(use_tuple);
        if (ec) continue;
        sock.set_option(tcp::no_delay(true));
        if (g_echo) asio::co_spawn(acc.get_executor(), echo(std::move(sock), ++g_conns), asio::detached);
        else asio::co_spawn(acc.get_executor(), serve(std::move(sock), ++g_conns), asio::detached);
    }
}

int main(int argc, char** argv) {
    unsigned short port = 0;
    for (int i = 1; i < argc; ++i) {
        std::string f = argv[i];
        if (f == "--echo") {
            g_echo = true;
            continue;
        }
        if (i + 1 >= argc) break;
        if (f == "--port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
        else if (f == "--name") g_name = argv[i + 1];
        ++i;
    }
    asio::io_context io(1);
    tcp::acceptor acc(io);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acc.open(ep.protocol());
    acc.set_option(asio::socket_base::reuse_address(true));
    acc.bind(ep);
    acc.listen(1024);
    std::cout << "PORT " << acc.local_endpoint().port() << std::endl;
    asio::co_spawn(io, listen(acc), asio::detached);
    io.run();
}
